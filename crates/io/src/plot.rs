//! PNG plots with plotters: fields side by side on one colour scale,
//! convergence curves, the schedule diagram and the memory-versus-time
//! frontier. Text uses DejaVu Sans, shipped in `assets/` (free licence in
//! `assets/DejaVuSans-LICENSE.txt`) and registered on first use, so no
//! system font library is needed. Each PNG is written atomically.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use rewind_checkpoint::{Action, Level};

use crate::{AtomicFile, IoError};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the shipped font as plotters' "sans-serif" (once; later calls
/// are free). Every plot of this module does it; call it yourself before
/// other plotters users in the same process draw text (criterion's charts:
/// with the `ab_glyph` feature plotters has no font until one is
/// registered).
pub fn register_font() -> Result<(), IoError> {
    font_ready().map_err(|why| IoError::Plot { path: PathBuf::from("(font)"), why })
}

fn font_ready() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "the shipped font DejaVuSans.ttf is not a valid font".to_string())
    })
    .clone()
}

/// Runs `draw` on a white `width × height` canvas written atomically to
/// `path`.
fn png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<PathBuf, IoError> {
    let fail = |why: String| IoError::Plot { path: path.to_path_buf(), why };
    font_ready().map_err(fail)?;
    let file = AtomicFile::new(path)?;
    // the file made first, so that a failure to write it is said plainly
    // (plotters reports it in its own debug form)
    fs::File::create(file.tmp_path()).map_err(|e| IoError::io(path, e))?;
    {
        let root = BitMapBackend::new(file.tmp_path(), (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    file.commit()
}

/// Diverging blue–white–red colour of `v ∈ [−1, 1]`.
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let (lo, hi) = if v < 0.0 { ((59.0, 76.0, 192.0), -v) } else { ((180.0, 4.0, 38.0), v) };
    let mix = |c: f64| (255.0 + (c - 255.0) * hi).round() as u8;
    RGBColor(mix(lo.0), mix(lo.1), mix(lo.2))
}

/// A colour bar's label: zero as `0` (not a rounding residue), three
/// significant figures.
fn tick(v: f64, span: f64) -> String {
    if v.abs() <= 1e-9 * span {
        "0".into()
    } else if (1e-2..1e4).contains(&v.abs()) {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// Sequential colour of `v ∈ [0, 1]` (viridis, from its five anchors).
fn sequential(v: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let x = v.clamp(0.0, 1.0) * 4.0;
    let k = (x.floor() as usize).min(3);
    let t = x - k as f64;
    let (a, b) = (ANCHORS[k], ANCHORS[k + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How values become colours: symmetric about zero on the blue–white–red
/// map for values of both signs, from least to largest on a sequential map
/// otherwise.
#[derive(Debug, Clone, Copy)]
enum Scale {
    Diverging(f64),
    Sequential(f64, f64),
}

impl Scale {
    /// The scale of some finite values (none: a unit diverging scale).
    fn of<'a>(data: impl Iterator<Item = &'a f64>) -> Scale {
        let (lo, hi) =
            data.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        if lo > hi {
            return Scale::Diverging(1.0);
        }
        let m = lo.abs().max(hi.abs());
        if lo < 0.0 && hi > 0.0 || m == 0.0 {
            Scale::Diverging(if m > 0.0 { m } else { 1.0 })
        } else {
            Scale::Sequential(lo, hi)
        }
    }
    fn color(self, v: f64) -> RGBColor {
        match self {
            _ if !v.is_finite() => RGBColor(200, 200, 200),
            Scale::Diverging(m) => diverging(v / m),
            Scale::Sequential(lo, hi) if hi > lo => sequential((v - lo) / (hi - lo)),
            Scale::Sequential(..) => sequential(0.5),
        }
    }
    /// The least and largest values of the bar.
    fn range(self) -> (f64, f64) {
        match self {
            Scale::Diverging(m) => (-m, m),
            Scale::Sequential(lo, hi) => (lo, hi),
        }
    }
}

/// What a picture's two axes are: the names of the grid's first axis
/// (drawn across) and its second (drawn up, or `down`: a depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axes<'a> {
    /// The first axis's name.
    pub across: &'a str,
    /// The second axis's name.
    pub second: &'a str,
    /// The second axis grows downwards.
    pub down: bool,
}

impl Axes<'static> {
    /// x across, y up.
    pub const XY: Axes<'static> = Axes { across: "x", second: "y", down: false };
}

/// Fields on a grid (rewind's layout, `i * ny + j`; drawn with the first
/// axis across and the second up or down as `axes` say, in the grid's
/// physical coordinates) side by side, each with
/// its title and a colour bar: on one colour scale (`shared`, to compare
/// fields of one kind) or one per panel. Values of both signs use a
/// blue–white–red scale symmetric about zero, others a sequential one from
/// their least to their largest; NaN marks a point without data (drawn
/// grey), e.g. the unobserved points of a field of observations.
pub fn fields(
    path: impl AsRef<Path>,
    grid: crate::GridInfo,
    axes: Axes<'_>,
    panels: &[(&str, &[f64])],
    shared: bool,
) -> Result<PathBuf, IoError> {
    let path = path.as_ref();
    if grid.is_volume() {
        return Err(IoError::Shape {
            what: "picture".into(),
            why: format!("a picture is of a plane, not of a {} x {} x {} volume", grid.nx, grid.ny, grid.nz),
        });
    }
    let crate::GridInfo { nx, ny, dx, dy, .. } = grid;
    for (title, data) in panels {
        if data.len() != nx * ny {
            return Err(IoError::Shape {
                what: format!("field {title:?}"),
                why: format!("{} values for a {nx} x {ny} grid", data.len()),
            });
        }
    }
    let all = Scale::of(panels.iter().flat_map(|(_, d)| d.iter()));
    let (width, height) = (440u32, 380u32);
    let (lx, ly) = (nx as f64 * dx, ny as f64 * dy);
    png(path, (width * panels.len().max(1) as u32, height + 24), |root| {
        let (body, footer) = root.split_vertically(height);
        let way = if axes.down { "down" } else { "up" };
        let legend = format!("{} across, {} {way}; grey: no data", axes.across, axes.second);
        footer.draw_text(&legend, &("sans-serif", 13).into_text_style(&footer), (10, 4))?;
        for (area, (title, data)) in body.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
            let scale = if shared { all } else { Scale::of(data.iter()) };
            let (map, bar) = area.split_horizontally(width - 90);
            let finite = || data.iter().copied().filter(|v| v.is_finite());
            let constant = finite().next().filter(|&v0| finite().all(|v| v == v0));
            let caption = match constant {
                Some(v) => format!("{title} (everywhere {v:.3e})"),
                None => title.to_string(),
            };
            let mut chart = ChartBuilder::on(&map)
                .caption(caption, ("sans-serif", 17))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(0.0..lx, if axes.down { ly..0.0 } else { 0.0..ly })?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(5)
                .y_labels(5)
                .x_desc(axes.across)
                .y_desc(axes.second)
                .x_label_formatter(&|v| format!("{v:.2}"))
                .y_label_formatter(&|v| format!("{v:.2}"))
                .draw()?;
            chart.draw_series((0..nx).flat_map(|i| (0..ny).map(move |j| (i, j))).map(|(i, j)| {
                let (x, y) = (i as f64 * dx, j as f64 * dy);
                Rectangle::new([(x, y), (x + dx, y + dy)], scale.color(data[i * ny + j]).filled())
            }))?;
            // the colour bar: 64 steps from the least value to the largest
            let (lo, hi) = scale.range();
            let c = ChartBuilder::on(&bar)
                .margin_top(34)
                .margin_bottom(38)
                .margin_left(4)
                .margin_right(72)
                .build_cartesian_2d(0.0..1.0, lo..hi.max(lo + f64::MIN_POSITIVE))?;
            let step = (hi - lo) / 64.0;
            for k in 0..64 {
                let v = lo + step * k as f64;
                let r = Rectangle::new([(0.0, v), (1.0, v + step)], scale.color(v + 0.5 * step).filled());
                c.plotting_area().draw(&r)?;
            }
            c.plotting_area().draw(&Rectangle::new([(0.0, lo), (1.0, hi)], BLACK.stroke_width(1)))?;
            // the ticks' labels right of the bar, each starting at its tick
            // (left-aligned text needs no width estimate: none is clipped)
            let span = (hi - lo).abs();
            let style = ("sans-serif", 12).into_text_style(root);
            for k in 0..5 {
                let v = lo + (hi - lo) * k as f64 / 4.0;
                let (x, y) = c.backend_coord(&(1.0, v));
                root.draw(&PathElement::new(vec![(x, y), (x + 3, y)], BLACK))?;
                root.draw_text(&tick(v, span), &style, (x + 5, y - 6))?;
            }
        }
        Ok(())
    })
}

/// One curve: a label and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend entry.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A log-y line chart of `curves` with their legend (non-positive values
/// are left out).
fn log_chart(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    x_label: &str,
    curves: &[Curve],
) -> Result<(), Box<dyn std::error::Error>> {
    let pts = || curves.iter().flat_map(|c| c.points.iter()).filter(|p| p.1 > 0.0 && p.1.is_finite());
    let xmax = pts().map(|p| p.0).fold(1.0f64, f64::max);
    let ymin = pts().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let ymax = pts().map(|p| p.1).fold(0.0f64, f64::max);
    let (ymin, ymax) = if ymin.is_finite() && ymax > ymin { (ymin / 1.5, ymax * 1.5) } else { (0.1, 10.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..xmax, (ymin..ymax).log_scale())?;
    chart.configure_mesh().x_desc(x_label).y_label_formatter(&|v| format!("{v:.0e}")).draw()?;
    for (k, c) in curves.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied().filter(|p| p.1 > 0.0 && p.1.is_finite()),
                color.stroke_width(2),
            ))?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    // decaying curves start top left: the legend goes top right
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Convergence of several runs: the objective and the gradient norm
/// against iterations, side by side, log scale.
pub fn convergence(path: impl AsRef<Path>, objective: &[Curve], grad_norm: &[Curve]) -> Result<PathBuf, IoError> {
    png(path.as_ref(), (1200, 480), |root| {
        let halves = root.split_evenly((1, 2));
        log_chart(&halves[0], "objective J", "iteration", objective)?;
        log_chart(&halves[1], "gradient norm |∇J|", "iteration", grad_norm)?;
        Ok(())
    })
}

/// Positive sequences (eigenvalues, say) against their index, log scale.
pub fn decay(path: impl AsRef<Path>, title: &str, x_label: &str, curves: &[Curve]) -> Result<PathBuf, IoError> {
    png(path.as_ref(), (640, 480), |root| {
        log_chart(root, title, x_label, curves)?;
        Ok(())
    })
}

/// The schedule diagram: x is work (step evaluations, forward and
/// reverse), y the state index. Advances are blue lines, reversed steps
/// red, snapshots dots (green: RAM, orange: disk).
pub fn schedule(path: impl AsRef<Path>, title: &str, steps: usize, actions: &[Action]) -> Result<PathBuf, IoError> {
    let mut t = 0usize;
    let mut adv = Vec::new();
    let mut rev = Vec::new();
    let mut stores = Vec::new();
    for a in actions {
        match *a {
            Action::Advance { from, to } => {
                adv.push([(t as f64, from as f64), ((t + to - from) as f64, to as f64)]);
                t += to - from;
            }
            Action::Reverse { step } => {
                rev.push([(t as f64, (step + 1) as f64), ((t + 1) as f64, step as f64)]);
                t += 1;
            }
            Action::Store { step, level } => stores.push((t as f64, step as f64, level)),
            Action::Restore { .. } | Action::Free { .. } => {}
        }
    }
    let work = t.max(1) as f64;
    png(path.as_ref(), (1000, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..work, 0.0..steps.max(1) as f64)?;
        chart.configure_mesh().x_desc("work (step evaluations)").y_desc("state").draw()?;
        let blue = RGBColor(31, 119, 180);
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(adv.iter().map(|s| PathElement::new(s.to_vec(), blue.stroke_width(1))))?
            .label("advance")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], blue.stroke_width(2)));
        chart
            .draw_series(rev.iter().map(|s| PathElement::new(s.to_vec(), red.stroke_width(2))))?
            .label("reverse step")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], red.stroke_width(2)));
        let ram = RGBColor(44, 160, 44);
        let disk = RGBColor(255, 127, 14);
        chart
            .draw_series(stores.iter().filter(|s| s.2 == Level::Ram).map(|s| Circle::new((s.0, s.1), 3, ram.filled())))?
            .label("store (RAM)")
            .legend(move |(x, y)| Circle::new((x + 9, y), 3, ram.filled()));
        if stores.iter().any(|s| s.2 == Level::Disk) {
            chart
                .draw_series(
                    stores.iter().filter(|s| s.2 == Level::Disk).map(|s| Circle::new((s.0, s.1), 3, disk.filled())),
                )?
                .label("store (disk)")
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, disk.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// One run of the memory-versus-time trade-off.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffPoint {
    /// The schedule.
    pub label: String,
    /// Wall time of the gradient, seconds.
    pub seconds: f64,
    /// Peak resident memory of the process, bytes.
    pub bytes: f64,
    /// Most bytes held in snapshots at once.
    pub snapshot_bytes: f64,
}

/// Indices of the points not beaten in both time and `memory`, by
/// increasing time.
pub fn frontier_of(points: &[TradeoffPoint], memory: impl Fn(&TradeoffPoint) -> f64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| points[a].seconds.total_cmp(&points[b].seconds));
    let mut best = f64::INFINITY;
    idx.into_iter()
        .filter(|&i| {
            let keep = memory(&points[i]) < best;
            if keep {
                best = memory(&points[i]);
            }
            keep
        })
        .collect()
}

fn tradeoff_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_label: &str,
    points: &[TradeoffPoint],
    memory: &dyn Fn(&TradeoffPoint) -> f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let xmax = points.iter().map(|p| p.seconds).fold(0.0f64, f64::max) * 1.2 + 1e-9;
    let ys = || points.iter().map(memory).filter(|v| *v > 0.0 && v.is_finite());
    let (ymin, ymax) = (ys().fold(f64::INFINITY, f64::min), ys().fold(0.0f64, f64::max));
    let (ymin, ymax) = if ymin.is_finite() && ymax > ymin { (ymin / 1.6, ymax * 1.6) } else { (0.1, 10.0) };
    // a log axis labels its ticks only around a power of ten: keep one in
    let ymin = ymin.min(10f64.powf(ymax.log10().floor()));
    let front = frontier_of(points, memory);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..xmax, (ymin..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("gradient wall time (s)")
        .y_desc(y_label)
        .y_label_formatter(&|v| megabytes(*v))
        .draw()?;
    let red = RGBColor(214, 39, 40);
    chart.draw_series(LineSeries::new(
        front.iter().map(|&i| (points[i].seconds, memory(&points[i]))),
        red.stroke_width(2),
    ))?;
    let blue = RGBColor(31, 119, 180);
    // Points are numbered (the list beside the panels names them); points
    // within a label's width of each other share one label, "3,4,7", so
    // that no two labels print on top of each other.
    let shown: Vec<usize> = (0..points.len()).filter(|&i| memory(&points[i]) > 0.0).collect();
    let pixel: Vec<(i32, i32)> =
        shown.iter().map(|&i| chart.backend_coord(&(points[i].seconds, memory(&points[i])))).collect();
    let mut labelled = vec![false; shown.len()];
    let mut labels = Vec::new();
    for a in 0..shown.len() {
        if labelled[a] {
            continue;
        }
        let mut group = Vec::new();
        for b in a..shown.len() {
            let (dx, dy) = (pixel[b].0 - pixel[a].0, pixel[b].1 - pixel[a].1);
            // a label reads rightwards: points that close share one
            if !labelled[b] && dx.abs() < 48 && dy.abs() < 18 {
                labelled[b] = true;
                group.push((shown[b] + 1).to_string());
            }
        }
        labels.push((shown[a], group.join(",")));
    }
    chart.draw_series(
        shown.iter().map(|&i| {
            EmptyElement::at((points[i].seconds, memory(&points[i]))) + Circle::new((0, 0), 4, blue.filled())
        }),
    )?;
    chart.draw_series(labels.into_iter().map(|(i, text)| {
        EmptyElement::at((points[i].seconds, memory(&points[i]))) + Text::new(text, (6, -16), ("sans-serif", 13))
    }))?;
    Ok(())
}

/// A memory tick in megabytes as a person writes it: `100 MB`, `2.5 MB`,
/// `300 kB`.
fn megabytes(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0} MB")
    } else if v >= 1.0 {
        format!("{} MB", trim(format!("{v:.1}")))
    } else {
        format!("{} kB", trim(format!("{:.1}", v * 1e3)))
    }
}

/// `2.0` → `2`, `2.5` → `2.5`.
fn trim(s: String) -> String {
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Memory against gradient time, two panels: the process's peak resident
/// memory and the bytes held in snapshots (log scales), each point
/// numbered (the schedules listed beside the panels; points within a few
/// pixels of each other share one label) and the non-dominated points joined.
pub fn tradeoff(path: impl AsRef<Path>, title: &str, points: &[TradeoffPoint]) -> Result<PathBuf, IoError> {
    png(path.as_ref(), (1600, 640), |root| {
        let (head, body) = root.split_vertically(34);
        head.draw_text(title, &("sans-serif", 20).into_text_style(&head), (12, 8))?;
        let (panels, list) = body.split_horizontally(1360);
        let halves = panels.split_evenly((1, 2));
        tradeoff_panel(&halves[0], "peak resident memory", "memory", points, &|p| p.bytes / 1e6)?;
        tradeoff_panel(&halves[1], "peak snapshot memory", "memory", points, &|p| p.snapshot_bytes / 1e6)?;
        let style = ("sans-serif", 14).into_text_style(&list);
        list.draw_text("schedules", &("sans-serif", 16).into_text_style(&list), (8, 40))?;
        for (k, p) in points.iter().enumerate() {
            list.draw_text(&format!("{:>2}  {}", k + 1, p.label), &style, (8, 66 + 20 * k as i32))?;
        }
        // the legend beside the panels, never over a point
        let below = 66 + 20 * points.len() as i32 + 16;
        list.draw(&PathElement::new([(8, below + 8), (30, below + 8)], RGBColor(214, 39, 40).stroke_width(2)))?;
        list.draw_text("frontier: no other", &style, (36, below))?;
        list.draw_text("schedule both faster", &style, (36, below + 18))?;
        list.draw_text("and smaller", &style, (36, below + 36))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rewind-io-plot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn is_png(p: &Path) -> bool {
        std::fs::read(p).map(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 1000).unwrap_or(false)
    }

    #[test]
    fn draws_every_kind_of_plot() {
        let d = scratch("all");
        let (nx, ny) = (16, 12);
        let a: Vec<f64> = (0..nx * ny).map(|k| ((k / ny) as f64 * 0.4).sin()).collect();
        let mut b = a.clone();
        b.iter_mut().step_by(3).for_each(|v| *v = f64::NAN);
        let g = crate::GridInfo::plane(nx, ny, 0.5, 0.25);
        assert!(is_png(&fields(d.join("f.png"), g, Axes::XY, &[("a", &a), ("b", &b)], true).unwrap()));
        // one-signed values on a sequential scale, a constant field
        let h: Vec<f64> = a.iter().map(|v| 1.0 + 0.1 * v).collect();
        assert!(is_png(
            &fields(
                d.join("g.png"),
                g,
                Axes { across: "x", second: "depth", down: true },
                &[("h", &h), ("zero", &vec![0.0; nx * ny])],
                false
            )
            .unwrap()
        ));
        let c = vec![Curve { label: "x".into(), points: vec![(0.0, 1.0), (1.0, 0.1), (2.0, 0.0), (3.0, 1e-3)] }];
        assert!(is_png(&convergence(d.join("c.png"), &c, &c).unwrap()));
        let s = rewind_checkpoint::Strategy::Binomial { snapshots: 3 }.schedule(20).unwrap();
        let actions: Vec<Action> = s.iter().copied().collect();
        assert!(is_png(&schedule(d.join("s.png"), "binomial", 20, &actions).unwrap()));
        let pts = vec![
            TradeoffPoint { label: "a".into(), seconds: 1.0, bytes: 5e6, snapshot_bytes: 4e6 },
            TradeoffPoint { label: "b".into(), seconds: 2.0, bytes: 6e6, snapshot_bytes: 1e6 },
            TradeoffPoint { label: "c".into(), seconds: 3.0, bytes: 1e6, snapshot_bytes: 2e6 },
        ];
        assert_eq!(frontier_of(&pts, |p| p.bytes), vec![0, 2]);
        assert_eq!(frontier_of(&pts, |p| p.snapshot_bytes), vec![0, 1]);
        assert!(is_png(&tradeoff(d.join("t.png"), "t", &pts).unwrap()));
        assert_eq!(
            [100.0, 10.0, 2.5, 2.0, 0.5, 0.0125].map(megabytes),
            ["100 MB", "10 MB", "2.5 MB", "2 MB", "500 kB", "12.5 kB"]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_field_of_the_wrong_size_is_an_error() {
        let g = crate::GridInfo::plane(4, 4, 1.0, 1.0);
        let e = fields(scratch("bad").join("x.png"), g, Axes::XY, &[("a", &[0.0; 15])], false).unwrap_err();
        assert!(e.to_string().contains("15 values for a 4 x 4 grid"), "{e}");
    }
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    #[test]
    fn signed_values_diverge_about_zero_and_one_signed_ones_run_from_least_to_largest() {
        assert!(matches!(Scale::of([-1.0, 3.0].iter()), Scale::Diverging(m) if m == 3.0));
        assert!(matches!(Scale::of([0.9, 1.1, f64::NAN].iter()), Scale::Sequential(lo, hi) if lo == 0.9 && hi == 1.1));
        assert!(matches!(Scale::of([0.0, 0.0].iter()), Scale::Diverging(m) if m == 1.0));
        let s = Scale::Sequential(0.9, 1.1);
        assert_eq!((s.color(0.9), s.color(1.1)), (sequential(0.0), sequential(1.0)));
        assert_eq!(s.color(f64::NAN), RGBColor(200, 200, 200));
        assert_eq!((sequential(0.0), sequential(1.0)), (RGBColor(68, 1, 84), RGBColor(253, 231, 37)));
        assert_eq!([tick(6.94e-18, 2.0), tick(-0.5, 2.0), tick(5e-5, 1e-4)], ["0", "-0.500", "5.00e-5"]);
    }
}
