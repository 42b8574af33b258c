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

/// Fields on an `nx × ny` grid (rewind's layout, `i * ny + j`) side by
/// side, each with its title, on one symmetric colour scale (`shared`, to
/// compare fields of one kind) or one per panel; NaN marks a point without
/// data (drawn grey), e.g. the unobserved points of a field of
/// observations.
pub fn fields(
    path: impl AsRef<Path>,
    nx: usize,
    ny: usize,
    panels: &[(&str, &[f64])],
    shared: bool,
) -> Result<PathBuf, IoError> {
    let path = path.as_ref();
    for (title, data) in panels {
        if data.len() != nx * ny {
            return Err(IoError::Shape {
                what: format!("field {title:?}"),
                why: format!("{} values for a {nx} x {ny} grid", data.len()),
            });
        }
    }
    let max_abs = |d: &[f64]| d.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    let positive = |m: f64| if m > 0.0 { m } else { 1.0 };
    let all = positive(panels.iter().map(|(_, d)| max_abs(d)).fold(0.0, f64::max));
    let side = 360u32;
    png(path, (side * panels.len().max(1) as u32, side + 40), |root| {
        let (body, footer) = root.split_vertically(side);
        let legend = if shared {
            format!("colour scale: ±{all:.3e} (blue negative, red positive, grey: no data)")
        } else {
            "colour scale per panel, ±max|value| (blue negative, red positive, grey: no data)".to_string()
        };
        footer.draw_text(&legend, &("sans-serif", 14).into_text_style(&footer), (10, 12))?;
        for (area, (title, data)) in body.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
            let scale = if shared { all } else { positive(max_abs(data)) };
            let caption = if shared { title.to_string() } else { format!("{title} (±{scale:.2e})") };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 18))
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(30)
                .build_cartesian_2d(0..nx, 0..ny)?;
            chart.configure_mesh().disable_mesh().x_labels(5).y_labels(5).draw()?;
            chart.draw_series((0..nx).flat_map(|i| (0..ny).map(move |j| (i, j))).map(|(i, j)| {
                let v = data[i * ny + j];
                let color = if v.is_finite() { diverging(v / scale) } else { RGBColor(200, 200, 200) };
                Rectangle::new([(i, j), (i + 1, j + 1)], color.filled())
            }))?;
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

/// A log-y line chart of `curves` (non-positive values are left out).
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
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
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
    chart
        .draw_series(LineSeries::new(
            front.iter().map(|&i| (points[i].seconds, memory(&points[i]))),
            red.stroke_width(2),
        ))?
        .label("frontier")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], red.stroke_width(2)));
    let blue = RGBColor(31, 119, 180);
    // Points are numbered (the list beside the panels names them); points
    // that lie within a few pixels of each other share one label, "3,4,7",
    // so that no two labels print on top of each other.
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
            if !labelled[b] && dx * dx + dy * dy < 18 * 18 {
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
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
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
        assert!(is_png(&fields(d.join("f.png"), nx, ny, &[("a", &a), ("b", &b)], true).unwrap()));
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
        let e = fields(scratch("bad").join("x.png"), 4, 4, &[("a", &[0.0; 15])], false).unwrap_err();
        assert!(e.to_string().contains("15 values for a 4 x 4 grid"), "{e}");
    }
}
