//! HDF5 output: fields over time, single fields, tables and metadata.
//!
//! Layout of a file written by [`Output`]:
//!
//! * root attributes: the grid as numbers (`nx`, `ny` integers, `dx`,
//!   `dy` floats, and `nz`, `dz` on a volume, and `layout` saying how a field is stored), and run
//!   metadata as strings (`config` holds the configuration as TOML,
//!   `rewind_version`, …);
//! * `/<name>`: a series of fields, shape `(frames, ny, nx)` (a volume's:
//!   `(frames, nz, ny, nx)`), extended one frame at a time, with
//!   `/<name>_time` (the simulated time of each frame) and `/<name>_step`
//!   (integers);
//! * on any dataset, the string attributes `description` and `units`
//!   ([`Output::describe`]);
//! * `/<name>` written by [`Output::field`]: one field, shape `(ny, nx)`
//!   (a volume's: `(nz, ny, nx)`);
//! * `/<group>/<column>`: 1D tables (an optimisation history: `iter`, `f`,
//!   `grad_norm`, …).
//!
//! Fields are stored in the image convention — row `j` (y), column `i`
//! (x), x fastest — which is what h5py/NumPy users and ParaView expect;
//! rewind's own layout (`i * ny + j`) is restored by [`Input`]. Every
//! dataset is chunked (one frame per chunk), shuffled, deflated and
//! Fletcher-32 checksummed, so HDF5 itself reports a corrupted chunk on
//! read. The file is written under a temporary name and renamed into place
//! by [`Output::finish`], which also writes the XDMF sidecar.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, File};
use ndarray::{ArrayViewD, IxDyn};

use crate::{AtomicFile, IoError, xdmf};

/// Deflate level: 4 is most of the gain of 9 at a fraction of the time.
const DEFLATE: u8 = 4;

/// The grid the fields live on: a plane (`nz = 1`) or a volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridInfo {
    /// Points along x.
    pub nx: usize,
    /// Points along y.
    pub ny: usize,
    /// Points along z (1 on a plane).
    pub nz: usize,
    /// Spacing along x.
    pub dx: f64,
    /// Spacing along y.
    pub dy: f64,
    /// Spacing along z.
    pub dz: f64,
}

impl GridInfo {
    /// A plane of `nx × ny` points.
    pub fn plane(nx: usize, ny: usize, dx: f64, dy: f64) -> Self {
        GridInfo { nx, ny, nz: 1, dx, dy, dz: 1.0 }
    }

    /// A volume of `nx × ny × nz` points.
    pub fn volume([nx, ny, nz]: [usize; 3], [dx, dy, dz]: [f64; 3]) -> Self {
        GridInfo { nx, ny, nz, dx, dy, dz }
    }

    fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    /// `nx x ny`, or `nx x ny x nz` for a volume.
    fn size(&self) -> String {
        if self.is_volume() {
            format!("{} x {} x {}", self.nx, self.ny, self.nz)
        } else {
            format!("{} x {}", self.nx, self.ny)
        }
    }

    /// Whether it is a volume.
    pub fn is_volume(&self) -> bool {
        self.nz > 1
    }

    /// A field's shape in the file: `(ny, nx)`, or `(nz, ny, nx)`.
    fn dims(&self) -> Vec<usize> {
        if self.is_volume() { vec![self.nz, self.ny, self.nx] } else { vec![self.ny, self.nx] }
    }

    /// What a field is in the file, for its `layout` attribute.
    fn describe(&self) -> &'static str {
        if self.is_volume() {
            "a field is an (nz, ny, nx) array: element [k][j][i] is x = i dx, y = j dy, z = k dz; a series adds a first axis, one frame per row of <name>_time and <name>_step"
        } else {
            "a field is an (ny, nx) array: row j is y = j dy, column i is x = i dx; a series adds a first axis, one frame per row of <name>_time and <name>_step"
        }
    }

    /// rewind's layout (`(i * ny + j) * nz + k`) to the image layout
    /// (`(k * ny + j) * nx + i`).
    fn image_layout(self, data: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.len(), 0.0);
        let GridInfo { nx, ny, nz, .. } = self;
        for i in 0..nx {
            for j in 0..ny {
                for k in 0..nz {
                    out[(k * ny + j) * nx + i] = data[(i * ny + j) * nz + k];
                }
            }
        }
    }

    fn rewind_layout(self, data: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        let GridInfo { nx, ny, nz, .. } = self;
        for i in 0..nx {
            for j in 0..ny {
                for k in 0..nz {
                    out[(i * ny + j) * nz + k] = data[(k * ny + j) * nx + i];
                }
            }
        }
        out
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    /// Measurements.
    Float(&'a [f64]),
    /// Counts and indices.
    Int(&'a [u64]),
}

impl Column<'_> {
    fn len(&self) -> usize {
        match self {
            Column::Float(v) => v.len(),
            Column::Int(v) => v.len(),
        }
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
struct SeriesWriter {
    name: String,
    values: Dataset,
    time: Dataset,
    step: Dataset,
    times: Vec<f64>,
}

/// The version of the HDF5 C library the files are written with, e.g.
/// `"1.10.8"` (recorded in every file's metadata).
pub fn hdf5_library_version() -> String {
    let (major, minor, release) = hdf5::library_version();
    format!("{major}.{minor}.{release}")
}

/// An HDF5 file being written (see the module docs for its layout).
#[derive(Debug)]
pub struct Output {
    file: Option<File>,
    atomic: AtomicFile,
    grid: GridInfo,
    series: Vec<SeriesWriter>,
    fields: Vec<String>,
    scratch: Vec<f64>,
}

impl Output {
    /// Starts writing `path` (under a temporary name until
    /// [`Output::finish`]).
    pub fn create(path: impl AsRef<Path>, grid: GridInfo) -> Result<Self, IoError> {
        if grid.len() == 0 {
            return Err(IoError::Shape {
                what: "grid".into(),
                why: format!("{} x {} x {} points", grid.nx, grid.ny, grid.nz),
            });
        }
        let atomic = AtomicFile::new(path)?;
        let file = File::create(atomic.tmp_path()).map_err(|e| IoError::hdf5(atomic.target(), e))?;
        let out =
            Output { file: Some(file), atomic, grid, series: Vec::new(), fields: Vec::new(), scratch: Vec::new() };
        let f = out.file();
        let num = |key: &str, v: f64| f.new_attr::<f64>().create(key).and_then(|a| a.write_scalar(&v));
        let int = |key: &str, v: u64| f.new_attr::<u64>().create(key).and_then(|a| a.write_scalar(&v));
        int("nx", grid.nx as u64)
            .and_then(|_| int("ny", grid.ny as u64))
            .and_then(|_| num("dx", grid.dx))
            .and_then(|_| num("dy", grid.dy))
            .map_err(|e| out.err(e))?;
        if grid.is_volume() {
            int("nz", grid.nz as u64).and_then(|_| num("dz", grid.dz)).map_err(|e| out.err(e))?;
        }
        out.attr("layout", grid.describe())?;
        Ok(out)
    }

    fn err(&self, e: hdf5::Error) -> IoError {
        IoError::hdf5(self.atomic.target(), e)
    }

    fn file(&self) -> &File {
        // Set in `create`, taken only by `finish`, which consumes `self`.
        self.file.as_ref().expect("file open until finish")
    }

    fn check_len(&self, what: &str, data: &[f64]) -> Result<(), IoError> {
        if data.len() != self.grid.len() {
            return Err(IoError::Shape {
                what: what.into(),
                why: format!("{} values for a {} grid", data.len(), self.grid.size()),
            });
        }
        Ok(())
    }

    /// Says what the dataset `name` holds and in which units (two string
    /// attributes on it).
    pub fn describe(&self, name: &str, description: &str, units: &str) -> Result<(), IoError> {
        let ds = self.file().dataset(name).map_err(|e| self.err(e))?;
        for (key, value) in [("description", description), ("units", units)] {
            let v = VarLenUnicode::from_str(value)
                .map_err(|e| IoError::Shape { what: format!("attribute {key} of {name}"), why: e.to_string() })?;
            ds.new_attr::<VarLenUnicode>().create(key).and_then(|a| a.write_scalar(&v)).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// A string attribute of the file (metadata).
    pub fn attr(&self, key: &str, value: &str) -> Result<(), IoError> {
        let v = VarLenUnicode::from_str(value)
            .map_err(|e| IoError::Shape { what: format!("attribute {key}"), why: e.to_string() })?;
        self.file().new_attr::<VarLenUnicode>().create(key).and_then(|a| a.write_scalar(&v)).map_err(|e| self.err(e))
    }

    fn series_index(&mut self, name: &str) -> Result<usize, IoError> {
        if let Some(i) = self.series.iter().position(|s| s.name == name) {
            return Ok(i);
        }
        // a frame a chunk: (1, ny, nx), or (1, nz, ny, nx) on a volume
        let frame: Vec<usize> = std::iter::once(1).chain(self.grid.dims()).collect();
        let mut extents = vec![hdf5::Extent::resizable(0)];
        extents.extend(self.grid.dims().into_iter().map(hdf5::Extent::fixed));
        let f = self.file();
        let values = f
            .new_dataset::<f64>()
            .chunk(frame)
            .shuffle()
            .deflate(DEFLATE)
            .fletcher32()
            .shape(hdf5::SimpleExtents::from_vec(extents))
            .create(name)
            .map_err(|e| self.err(e))?;
        let time = f.new_dataset::<f64>().chunk(256).fletcher32().shape(0..).create(format!("{name}_time").as_str());
        let step = f.new_dataset::<u64>().chunk(256).fletcher32().shape(0..).create(format!("{name}_step").as_str());
        let (time, step) = (time.map_err(|e| self.err(e))?, step.map_err(|e| self.err(e))?);
        self.series.push(SeriesWriter { name: name.into(), values, time, step, times: Vec::new() });
        Ok(self.series.len() - 1)
    }

    /// Appends one frame (in rewind's layout) to the series `name`,
    /// created on first use: a plane's or a volume's.
    pub fn append(&mut self, name: &str, step: usize, time: f64, data: &[f64]) -> Result<(), IoError> {
        self.check_len(name, data)?;
        let i = self.series_index(name)?;
        let mut img = std::mem::take(&mut self.scratch);
        self.grid.image_layout(data, &mut img);
        let dims = self.grid.dims();
        let s = &mut self.series[i];
        let k = s.times.len();
        let write = || -> hdf5::Result<()> {
            let with = |first: usize| -> Vec<usize> { std::iter::once(first).chain(dims.iter().copied()).collect() };
            s.values.resize(with(k + 1))?;
            let view = ArrayViewD::from_shape(IxDyn(&with(1)), &img).map_err(|e| e.to_string())?;
            let mut at = vec![hdf5::SliceOrIndex::from(k..k + 1)];
            at.extend(dims.iter().map(|_| hdf5::SliceOrIndex::from(..)));
            s.values.write_slice(view, hdf5::Hyperslab::from(at))?;
            s.time.resize(k + 1)?;
            s.time.write_slice(&[time][..], k..k + 1)?;
            s.step.resize(k + 1)?;
            s.step.write_slice(&[step as u64][..], k..k + 1)?;
            Ok(())
        };
        let r = write();
        s.times.push(time);
        self.scratch = img;
        r.map_err(|e| self.err(e))
    }

    /// Writes one field (in rewind's layout) as the dataset `name`.
    pub fn field(&mut self, name: &str, data: &[f64]) -> Result<(), IoError> {
        self.check_len(name, data)?;
        let mut img = std::mem::take(&mut self.scratch);
        self.grid.image_layout(data, &mut img);
        let dims = self.grid.dims();
        let view = ArrayViewD::from_shape(IxDyn(&dims), &img);
        let r = view.map_err(|e| hdf5::Error::from(e.to_string())).and_then(|view| {
            self.file()
                .new_dataset_builder()
                .chunk(dims.clone())
                .shuffle()
                .deflate(DEFLATE)
                .fletcher32()
                .with_data(view)
                .create(name)
        });
        self.scratch = img;
        r.map_err(|e| self.err(e))?;
        self.fields.push(name.into());
        Ok(())
    }

    /// Writes a table: one 1D dataset per column under the group `group`
    /// (counts as integers, measurements as floats).
    pub fn table(&mut self, group: &str, columns: &[(&str, Column<'_>)]) -> Result<(), IoError> {
        let g = self.file().create_group(group).map_err(|e| self.err(e))?;
        for (name, data) in columns {
            let b = g.new_dataset_builder();
            let b = if data.is_empty() { b } else { b.chunk(data.len()).shuffle().deflate(DEFLATE).fletcher32() };
            match *data {
                Column::Float(v) => b.with_data(v).create(*name),
                Column::Int(v) => b.with_data(v).create(*name),
            }
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Closes the file, renames it into place and writes the XDMF sidecar
    /// (`<stem>.xmf`) next to it; returns the file's path.
    pub fn finish(mut self) -> Result<PathBuf, IoError> {
        if let Some(f) = self.file.take() {
            f.close().map_err(|e| self.err(e))?;
        }
        let h5_name = self
            .atomic
            .target()
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .unwrap_or_else(|| "out.h5".into());
        let series: Vec<(String, Vec<f64>)> = self.series.iter().map(|s| (s.name.clone(), s.times.clone())).collect();
        let xml = xdmf::document(&h5_name, self.grid, &series, &self.fields);
        let path = self.atomic.target().to_path_buf();
        let Output { atomic, .. } = self;
        atomic.commit()?;
        crate::write_atomic(path.with_extension("xmf"), xml.as_bytes())?;
        Ok(path)
    }
}

/// A series read back: the step and time of each frame, and the frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Step of each frame.
    pub steps: Vec<u64>,
    /// Simulated time of each frame.
    pub times: Vec<f64>,
    /// The frames, in rewind's layout.
    pub frames: Vec<Vec<f64>>,
}

/// An HDF5 file written by [`Output`], for reading back.
#[derive(Debug)]
pub struct Input {
    file: File,
    path: PathBuf,
    grid: GridInfo,
}

impl Input {
    /// Opens `path` read-only; `grid` gives the expected shape.
    pub fn open(path: impl AsRef<Path>, grid: GridInfo) -> Result<Self, IoError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| IoError::hdf5(&path, e))?;
        Ok(Input { file, path, grid })
    }

    fn err(&self, e: hdf5::Error) -> IoError {
        IoError::hdf5(&self.path, e)
    }

    /// A string attribute of the file.
    pub fn attr(&self, key: &str) -> Result<String, IoError> {
        let v: VarLenUnicode = self.file.attr(key).and_then(|a| a.read_scalar()).map_err(|e| self.err(e))?;
        Ok(v.as_str().to_owned())
    }

    fn frames(&self, name: &str, data: Vec<f64>, shape: &[usize]) -> Result<Vec<Vec<f64>>, IoError> {
        let dims = self.grid.dims();
        if shape.len() < dims.len() || shape[shape.len() - dims.len()..] != dims[..] {
            return Err(IoError::Format {
                path: self.path.clone(),
                why: format!("dataset {name} has shape {shape:?}, expected (…, {dims:?})"),
            });
        }
        Ok(data.chunks_exact(self.grid.len()).map(|c| self.grid.rewind_layout(c)).collect())
    }

    /// One field written by [`Output::field`], in rewind's layout.
    pub fn field(&self, name: &str) -> Result<Vec<f64>, IoError> {
        let ds = self.file.dataset(name).map_err(|e| self.err(e))?;
        let data = ds.read_raw::<f64>().map_err(|e| self.err(e))?;
        let shape = ds.shape();
        if shape != self.grid.dims() {
            return Err(IoError::Format {
                path: self.path.clone(),
                why: format!("dataset {name} has shape {shape:?}, expected a field of {:?}", self.grid.dims()),
            });
        }
        let mut f = self.frames(name, data, &shape)?;
        f.pop().ok_or_else(|| IoError::Format { path: self.path.clone(), why: format!("dataset {name} is empty") })
    }

    /// A series: its steps, times and frames (rewind's layout).
    pub fn series(&self, name: &str) -> Result<Series, IoError> {
        let ds = self.file.dataset(name).map_err(|e| self.err(e))?;
        let data = ds.read_raw::<f64>().map_err(|e| self.err(e))?;
        let frames = self.frames(name, data, &ds.shape())?;
        let column = |s: &str| -> Result<Vec<f64>, IoError> {
            self.file.dataset(&format!("{name}_{s}")).and_then(|d| d.read_raw::<f64>()).map_err(|e| self.err(e))
        };
        let steps =
            self.file.dataset(&format!("{name}_step")).and_then(|d| d.read_raw::<u64>()).map_err(|e| self.err(e))?;
        Ok(Series { steps, times: column("time")?, frames })
    }

    /// A float column of a table.
    pub fn column(&self, group: &str, name: &str) -> Result<Vec<f64>, IoError> {
        self.file.dataset(&format!("{group}/{name}")).and_then(|d| d.read_raw::<f64>()).map_err(|e| self.err(e))
    }

    /// An integer column of a table.
    pub fn int_column(&self, group: &str, name: &str) -> Result<Vec<u64>, IoError> {
        self.file.dataset(&format!("{group}/{name}")).and_then(|d| d.read_raw::<u64>()).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rewind-io-h5-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn field(grid: GridInfo, phase: f64) -> Vec<f64> {
        let mut v = Vec::new();
        for i in 0..grid.nx {
            for j in 0..grid.ny {
                v.push((i as f64 * grid.dx + phase).sin() * (2.0 * j as f64 * grid.dy).cos() + 1e-17 * i as f64);
            }
        }
        v
    }

    #[test]
    fn round_trip_of_series_fields_tables_and_metadata() {
        let dir = scratch("roundtrip");
        let grid = GridInfo::plane(12, 7, 0.5, 0.25);
        let path = dir.join("run.h5");
        let mut out = Output::create(&path, grid).unwrap();
        out.attr("config", "[simulation]\nn = 12\n").unwrap();
        let frames: Vec<Vec<f64>> = (0..5).map(|k| field(grid, k as f64 * 0.1)).collect();
        for (k, f) in frames.iter().enumerate() {
            out.append("vorticity", 10 * k, 0.2 * k as f64, f).unwrap();
        }
        out.field("truth", &frames[2]).unwrap();
        out.describe("truth", "the true vorticity", "1/s").unwrap();
        assert!(out.describe("nothing", "x", "y").is_err(), "only a dataset that exists");
        let columns =
            [("iter", Column::Int(&[0, 1, 2])), ("f", Column::Float(&[3.0, 2.0, 1.5])), ("empty", Column::Float(&[]))];
        out.table("history", &columns).unwrap();
        assert!(!path.exists(), "nothing under the final name before finish");
        assert_eq!(out.finish().unwrap(), path);

        let inp = Input::open(&path, grid).unwrap();
        assert_eq!(inp.attr("config").unwrap(), "[simulation]\nn = 12\n");
        let Series { steps, times, frames: got } = inp.series("vorticity").unwrap();
        assert_eq!(steps, vec![0, 10, 20, 30, 40]);
        assert_eq!(times, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8]);
        assert_eq!(got, frames, "bit-for-bit through shuffle + deflate");
        assert_eq!(inp.field("truth").unwrap(), frames[2]);
        assert_eq!(inp.column("history", "f").unwrap(), vec![3.0, 2.0, 1.5]);
        assert!(inp.column("history", "empty").unwrap().is_empty());
        assert_eq!(inp.int_column("history", "iter").unwrap(), vec![0, 1, 2]);
        // the grid as numbers, the steps as integers, what a dataset holds
        let f = File::open(&path).unwrap();
        let int = |k: &str| f.attr(k).unwrap().read_scalar::<u64>().unwrap();
        let num = |k: &str| f.attr(k).unwrap().read_scalar::<f64>().unwrap();
        assert_eq!((int("nx"), int("ny"), num("dx"), num("dy")), (12, 7, 0.5, 0.25));
        assert_eq!(f.dataset("vorticity_step").unwrap().dtype().unwrap().size(), 8);
        assert!(f.dataset("vorticity_step").unwrap().read_raw::<u64>().is_ok());
        let text = |k: &str| f.dataset("truth").unwrap().attr(k).unwrap().read_scalar::<VarLenUnicode>().unwrap();
        assert_eq!((text("description").as_str(), text("units").as_str()), ("the true vorticity", "1/s"));
        let xmf = std::fs::read_to_string(path.with_extension("xmf")).unwrap();
        assert!(xmf.contains("run.h5:/vorticity") && xmf.contains("run.h5:/truth"), "{xmf}");
        assert_eq!(xmf.matches("<Grid Name=\"frame").count(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_volume_round_trips_with_x_fastest_in_the_file_fields_and_series() {
        let dir = scratch("volume");
        let grid = GridInfo::volume([4, 3, 5], [1.0, 2.0, 0.5]);
        let path = dir.join("v.h5");
        let mut out = Output::create(&path, grid).unwrap();
        // rewind's layout: (i * ny + j) * nz + k
        let v: Vec<f64> = (0..60).map(|p| (p as f64).sqrt()).collect();
        out.field("c", &v).unwrap();
        // a series of volumes: two frames
        let w: Vec<f64> = v.iter().map(|x| -2.0 * x).collect();
        out.append("c_t", 0, 0.0, &v).unwrap();
        out.append("c_t", 3, 1.5, &w).unwrap();
        assert!(out.append("c_t", 4, 2.0, &v[..59]).is_err());
        assert!(out.field("short", &v[..59]).is_err());
        out.finish().unwrap();
        let f = File::open(&path).unwrap();
        let ds = f.dataset("c").unwrap();
        assert_eq!(ds.shape(), vec![5, 3, 4]);
        let raw = ds.read_raw::<f64>().unwrap();
        // element [k][j][i] of the file is point (i, j, k)
        let (i, j, k) = (3, 1, 4);
        assert_eq!(raw[(k * 3 + j) * 4 + i], v[(i * 3 + j) * 5 + k]);
        assert_eq!(Input::open(&path, grid).unwrap().field("c").unwrap(), v);
        assert_eq!(f.dataset("c_t").unwrap().shape(), vec![2, 5, 3, 4]);
        let s = Input::open(&path, grid).unwrap().series("c_t").unwrap();
        assert_eq!((s.steps, s.times, s.frames), (vec![0, 3], vec![0.0, 1.5], vec![v.clone(), w]));
        assert!(Input::open(&path, GridInfo::plane(4, 3, 1.0, 2.0)).unwrap().field("c").is_err());
        let xmf = std::fs::read_to_string(path.with_extension("xmf")).unwrap();
        assert!(
            xmf.contains("3DCoRectMesh\" Dimensions=\"5 3 4\"") && xmf.contains("Dimensions=\"5 3 4\">v.h5:/c"),
            "{xmf}"
        );
        // the second frame is the hyperslab from (1, 0, 0, 0), one 5 x 3 x 4 block
        assert!(
            xmf.contains(">1 0 0 0 1 1 1 1 1 5 3 4<") && xmf.contains("Dimensions=\"2 5 3 4\">v.h5:/c_t<"),
            "{xmf}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datasets_are_chunked_compressed_and_checksummed() {
        let dir = scratch("filters");
        let grid = GridInfo::plane(64, 64, 0.1, 0.1);
        let path = dir.join("f.h5");
        let mut out = Output::create(&path, grid).unwrap();
        out.append("w", 0, 0.0, &vec![0.5; 64 * 64]).unwrap();
        out.finish().unwrap();
        let f = File::open(&path).unwrap();
        let ds = f.dataset("w").unwrap();
        assert_eq!(ds.chunk(), Some(vec![1, 64, 64]));
        let filters = ds.filters();
        let names: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names[0].contains("Shuffle") && names[1].contains("Deflate") && names[2].contains("Fletcher"),
            "{names:?}"
        );
        assert!(ds.storage_size() < 64 * 64 * 8 / 10, "a constant field compresses: {} bytes", ds.storage_size());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let dir = scratch("shapes");
        let grid = GridInfo::plane(4, 3, 1.0, 1.0);
        let mut out = Output::create(dir.join("s.h5"), grid).unwrap();
        let e = out.append("w", 0, 0.0, &[1.0; 11]).unwrap_err();
        assert!(e.to_string().contains("11 values for a 4 x 3 grid"), "{e}");
        assert!(out.field("w", &[1.0; 13]).is_err());
        drop(out);
        assert!(!dir.join("s.h5").exists());
        let e = Input::open(dir.join("missing.h5"), grid).unwrap_err();
        assert!(e.to_string().contains("missing.h5"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupted_chunk_is_reported() {
        let dir = scratch("corrupt");
        let grid = GridInfo::plane(32, 32, 1.0, 1.0);
        let path = dir.join("c.h5");
        let mut out = Output::create(&path, grid).unwrap();
        let data: Vec<f64> = (0..1024).map(|i| (i as f64 * 0.731).sin()).collect();
        out.append("w", 0, 0.0, &data).unwrap();
        out.finish().unwrap();
        // flip a byte in the middle of the (compressed, checksummed) chunk
        let chunk = File::open(&path).unwrap().dataset("w").unwrap().chunk_info(0).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(chunk.addr + chunk.size / 2) as usize] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let r = Input::open(&path, grid).and_then(|i| i.series("w"));
        match r {
            Err(_) => {}
            Ok(s) => panic!("corruption went unnoticed: {}", s.frames[0] == data),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
