//! What the subcommands share: the configuration flags, the ns2d problem
//! they run, progress bars, the stepper wrapper that drives a bar, and
//! peak memory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_ns2d::spec::Size;

use crate::config::Config;

/// Flags every simulation subcommand takes; they override the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Common {
    /// TOML configuration (every key documented in configs/default.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Size preset of the ns2d-periodic spec: S (32², 100 steps), M (128²,
    /// 1000 steps) or L (256², 10 000 steps); sets n, steps and dt.
    #[arg(long)]
    pub(crate) size: Option<String>,
    /// Grid points per side (overrides the file and --size).
    #[arg(long)]
    pub(crate) n: Option<usize>,
    /// Time steps.
    #[arg(long)]
    pub(crate) steps: Option<usize>,
    /// Checkpoint schedule: store-all, periodic:K, binomial:S, online:S,
    /// multilevel:RAM,DISK[,WRITE,READ].
    #[arg(long)]
    pub(crate) schedule: Option<String>,
    /// A RAM budget (e.g. 2GiB, 500MB): pick the fastest schedule that fits
    /// it instead of --schedule.
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// Threads for the field kernels (0: all cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// The model (see `rewind sims`); ns2d by default. The models other
    /// than ns2d run their built-in default problem (a twin experiment).
    #[arg(long, value_enum, value_name = "NAME")]
    pub(crate) sim: Option<rewind_models::ModelName>,
    /// Print the figures as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Write no files (HDF5, plots): figures only.
    #[arg(long)]
    pub(crate) no_files: bool,
}

impl Common {
    /// The configuration: defaults, then the file, then --size, then flags.
    pub(crate) fn config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        // --size, --n and --steps set ns2d's configuration; the other
        // models take --n and --steps themselves (`models::size_and_steps`)
        let ns2d = self.sim.is_none_or(|s| s == rewind_models::ModelName::Ns2d);
        if let Some(s) = self.size.as_ref().filter(|_| ns2d) {
            let size: Size = s.parse().map_err(anyhow::Error::msg)?;
            let (n, steps, dt) = size.table();
            c.simulation.n = n;
            c.simulation.steps = steps;
            c.simulation.dt = dt;
            // keep the observation times inside the run, spread the same way
            let last = c.observations.times.last().copied().unwrap_or(1);
            c.observations.times = spread_times(&c.observations.times, last, steps);
        }
        if let Some(n) = self.n.filter(|_| ns2d) {
            c.simulation.n = n;
        }
        if let Some(steps) = self.steps.filter(|_| ns2d) {
            let old = c.simulation.steps;
            c.simulation.steps = steps;
            // (0 steps is refused by validate below, with the key and value)
            if steps > 0 && c.observations.times.iter().any(|&t| t > steps) {
                c.observations.times = spread_times(&c.observations.times, old, steps);
            }
        }
        if let Some(s) = &self.schedule {
            c.gradient.schedule = s.clone();
        }
        if let Some(t) = self.threads {
            c.simulation.threads = t;
        }
        if let Some(m) = &self.memory {
            c.gradient.memory = Some(m.clone());
        }
        if let Some(o) = &self.out {
            c.output.dir = o.clone();
        }
        c.validate("command line").map_err(|e| anyhow::anyhow!("{e}"))?;
        // the output directory is checked before any work, not after
        if !self.no_files {
            writable_dir(&c.output.dir)?;
        }
        // what killed runs left behind: disk snapshots, half-written files
        let snapshots = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
        rewind_checkpoint::leftovers::sweep(&snapshots, "rewind-snapshots-");
        rewind_checkpoint::leftovers::sweep_temporaries(&c.output.dir);
        Ok(c)
    }

    /// A progress bar of `len` items, hidden with --quiet or --json.
    pub(crate) fn bar(&self, len: u64, what: &str) -> ProgressBar {
        progress_bar(len, what, self.quiet || self.json)
    }
}

/// A progress bar of `len` units labelled `what` (hidden if `hidden`, and
/// by indicatif when stderr is not a terminal).
pub(crate) fn progress_bar(len: u64, what: &str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:36}] {pos}/{len} {elapsed_precise} (eta {eta})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The schedule of the configuration.
pub(crate) fn strategy(c: &Config) -> Result<Strategy> {
    c.gradient.schedule.parse().with_context(|| format!("bad schedule {:?}", c.gradient.schedule))
}

pub(crate) fn par(c: &Config) -> Par {
    if threads(c) == 1 { Par::Seq } else { Par::Pool }
}

/// Threads of the configuration: `simulation.threads`, or with 0 one per
/// core of this rank's share of the machine ([`crate::ranks`]).
pub(crate) fn threads(c: &Config) -> usize {
    match c.simulation.threads {
        0 => crate::ranks::cores_per_rank(),
        t => t,
    }
}

/// Sizes rayon's global pool to `threads`, for work that must stay on the
/// main thread while its kernels run in parallel: an ensemble's exchanges
/// (MPI is called from the main thread only, never from inside
/// `ThreadPool::install`). Once per process.
pub(crate) fn global_pool(threads: usize) -> Result<()> {
    if rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().is_err()
        && rayon::current_num_threads() != threads
    {
        anyhow::bail!("the thread pool was already started with {} threads", rayon::current_num_threads());
    }
    Ok(())
}

/// The thread pool of the configuration.
pub(crate) fn pool(c: &Config) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads(c)).build().context("cannot start the thread pool")
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A fingerprint of the exact bits of `v` (to compare results across runs,
/// rank counts and thread counts without printing every value).
pub(crate) fn bits(v: &[f64]) -> String {
    // FNV-1a over the little-endian bytes
    let h = v
        .iter()
        .flat_map(|x| x.to_bits().to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

pub(crate) use rewind_optim::vector::{dot, norm};

/// Observation times out of a run of `of` steps, spread the same way over
/// a run of `steps` (each at least 1 and at most `steps`, no step twice).
pub(crate) fn spread_times(times: &[usize], of: usize, steps: usize) -> Vec<usize> {
    let mut t: Vec<usize> = times.iter().map(|&t| (t * steps / of.max(1)).clamp(1, steps)).collect();
    t.dedup();
    t
}

/// The output directory of the configuration, created.
pub(crate) fn out_dir(c: &Config) -> Result<PathBuf> {
    let d = &c.output.dir;
    writable_dir(d)?;
    std::fs::create_dir_all(d)
        .map_err(|e| anyhow::anyhow!("cannot create the output directory {}: {e}", d.display()))?;
    Ok(d.clone())
}

/// Checks, before any work and without creating anything, that files can
/// be written into `dir`: it is a directory that takes a file, or it does
/// not exist yet and its nearest existing ancestor is one.
pub(crate) fn writable_dir(dir: &std::path::Path) -> Result<()> {
    let shown = dir.display();
    let mut at = dir;
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if at == dir => anyhow::bail!("the output directory {shown} is a file"),
            Ok(_) => anyhow::bail!("the output directory {shown} cannot be made: {} is a file", at.display()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                let part = if at == dir { String::new() } else { format!("{}: ", at.display()) };
                anyhow::bail!("cannot use the output directory {shown}: {part}{e}")
            }
            Err(_) => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p,
                _ => {
                    at = std::path::Path::new(".");
                    break;
                }
            },
        }
    }
    let probe = at.join(format!(".rewind-probe-{}", std::process::id()));
    let fail = |e: std::io::Error| anyhow::anyhow!("cannot write into the output directory {shown}: {e}");
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)?;
    Ok(())
}

/// Metadata stored in every HDF5 file.
pub(crate) fn metadata(out: &rewind_io::Output, c: &Config, command: &str, problem: &str) -> Result<()> {
    out.attr("config", &c.to_toml())?;
    out.attr("command", command)?;
    out.attr("rewind_version", env!("CARGO_PKG_VERSION"))?;
    out.attr("hdf5_version", &rewind_io::hdf5_library_version())?;
    out.attr("problem", problem)?;
    Ok(())
}

/// The grid as reports give it: `[nx, ny]`, or `[nx, ny, nz]` in 3D.
pub(crate) fn grid_json(g: &rewind_field::Grid) -> serde_json::Value {
    if g.nz > 1 { serde_json::json!([g.nx, g.ny, g.nz]) } else { serde_json::json!([g.nx, g.ny]) }
}

/// The grid in words: `NXxNY`, or `NXxNYxNZ` in 3D.
pub(crate) fn grid_text(g: &rewind_field::Grid) -> String {
    if g.nz > 1 { format!("{}x{}x{}", g.nx, g.ny, g.nz) } else { format!("{}x{}", g.nx, g.ny) }
}

/// A grid cell's area, or its volume in 3D (the weight of `½∫u²`).
pub(crate) fn cell(g: &rewind_field::Grid) -> f64 {
    g.dx * g.dy * if g.nz > 1 { g.dz } else { 1.0 }
}

/// The grid as the output files describe it: a plane or a volume.
pub(crate) fn grid_info(g: &rewind_field::Grid) -> rewind_io::GridInfo {
    if g.nz > 1 {
        rewind_io::GridInfo::volume([g.nx, g.ny, g.nz], [g.dx, g.dy, g.dz])
    } else {
        rewind_io::GridInfo::plane(g.nx, g.ny, g.dx, g.dy)
    }
}

/// The x–z section of a volume's field `v` through the middle y-plane
/// (`j = ny / 2`), as a plane of `nx × nz` points (`i * nz + k`).
pub(crate) fn middle_section(g: &rewind_field::Grid, v: &[f64]) -> Vec<f64> {
    let mid = g.ny / 2;
    (0..g.nx).flat_map(|i| (0..g.nz).map(move |k| v[g.idx3(i, mid, k)])).collect()
}

/// Fields of `g` drawn side by side, each with its title, into `path`
/// ([`rewind_io::plot::fields`]; `shared`: one colour scale): a plane as it
/// is, a volume as its x–z section through the middle y-plane (depth z
/// down). Nothing for a line (1D); the file written otherwise.
pub(crate) fn plot_fields(
    path: &std::path::Path,
    g: &rewind_field::Grid,
    panels: &[(&str, &[f64])],
    shared: bool,
) -> Result<Option<PathBuf>> {
    use rewind_io::plot::{Axes, fields};
    if g.nx < 2 || g.ny < 2 {
        return Ok(None);
    }
    if g.nz < 2 {
        let info = rewind_io::GridInfo::plane(g.nx, g.ny, g.dx, g.dy);
        return Ok(Some(fields(path, info, Axes::XY, panels, shared)?));
    }
    if let Some((t, v)) = panels.iter().find(|(_, v)| v.len() != g.len()) {
        anyhow::bail!("the picture {t:?} has {} values for a {} grid", v.len(), grid_text(g));
    }
    let sections: Vec<Vec<f64>> = panels.iter().map(|(_, v)| middle_section(g, v)).collect();
    // the plane's y to six significant digits, without trailing zeros
    let y = (g.ny / 2) as f64 * g.dy;
    let y: f64 = format!("{y:.5e}").parse().unwrap_or(y);
    let titles: Vec<String> = panels.iter().map(|(t, _)| format!("{t} (y = {y})")).collect();
    let panels: Vec<(&str, &[f64])> = titles.iter().map(|t| t.as_str()).zip(sections.iter().map(|s| &s[..])).collect();
    let info = rewind_io::GridInfo::plane(g.nx, g.nz, g.dx, g.dz);
    let axes = Axes { across: "x", second: "z", down: true };
    Ok(Some(fields(path, info, axes, &panels, shared)?))
}
