//! What the subcommands share: the configuration flags, the ns2d problem
//! they run, progress bars, the stepper wrapper that drives a bar, and
//! peak memory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rewind_checkpoint::Strategy;
use rewind_field::{Components, Grid, Par};
use rewind_io::GridInfo;
use rewind_ns2d::spec::{self, Size};
use rewind_ns2d::{Ns2d, Params, stepper};

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
        if let Some(s) = &self.size {
            let size: Size = s.parse().map_err(anyhow::Error::msg)?;
            let (n, steps, dt) = size.table();
            c.simulation.n = n;
            c.simulation.steps = steps;
            c.simulation.dt = dt;
            // keep the observation times inside the run, spread the same way
            let old = c.observations.times.last().copied().unwrap_or(1).max(1);
            let mut times: Vec<usize> =
                c.observations.times.iter().map(|&t| (t * steps / old).clamp(1, steps)).collect();
            times.dedup();
            c.observations.times = times;
        }
        if let Some(n) = self.n {
            c.simulation.n = n;
        }
        if let Some(steps) = self.steps {
            let old = c.simulation.steps;
            c.simulation.steps = steps;
            // (0 steps is refused by validate below, with the key and value)
            if steps > 0 && c.observations.times.iter().any(|&t| t > steps) {
                let mut times: Vec<usize> =
                    c.observations.times.iter().map(|&t| (t * steps / old.max(1)).clamp(1, steps)).collect();
                times.dedup();
                c.observations.times = times;
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

/// What a command computes, for [`check_fits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Forward steps only.
    Primal,
    /// Gradients: a taped step and the schedule's snapshots.
    Gradient,
    /// Hessian-vector products: the same over dual numbers (twice the bytes).
    Hvp,
}

/// Bytes a taped ns2d step holds in its arena per grid point, f64
/// (measured: 256–264, `field_figures`); dual numbers take twice as many.
const ARENA_BYTES_PER_POINT: u64 = 272;

/// With a memory budget (`gradient.memory`, `--memory`), replaces the
/// schedule by the fastest that fits it; then refuses, before anything is
/// allocated, a run whose grid or schedule cannot fit in the memory this
/// machine has available, with the numbers and a schedule that fits.
pub(crate) fn check_fits(c: &mut Config, need: Need) -> Result<()> {
    if need != Need::Primal
        && let Some(m) = c.gradient.memory.clone()
    {
        let budget = parse_bytes(&m).map_err(anyhow::Error::msg)?;
        let (chosen, cost) = schedule_for_budget(c, need, budget)?;
        eprintln!(
            "rewind: memory budget {}: schedule {chosen} (about {cost:.0} step evaluations; the fastest that fits)",
            bytes(budget)
        );
        c.gradient.schedule = chosen.to_string();
    }
    let Some(available) = available_memory_bytes() else { return Ok(()) };
    check_fits_in(c, need, available)
}

/// Bytes of one state and of a taped step's arena, for `need`.
fn state_and_step_bytes(c: &Config, need: Need) -> (u64, u64) {
    let k: u64 = if need == Need::Hvp { 2 } else { 1 };
    let points = (c.simulation.n as u64).saturating_mul(c.simulation.n as u64);
    (points.saturating_mul(8 * k), points.saturating_mul(ARENA_BYTES_PER_POINT * k))
}

/// Runs longer than this are planned without generating the candidate
/// schedules (binomial only).
const MAX_STEPS_TO_COMPARE: usize = 200_000;

/// The fastest schedule whose RAM fits in `budget` bytes, by the schedule
/// cost model (a step evaluation costs 1, a disk write or read 10 — the
/// multilevel default), and its cost: store-all if it fits; otherwise the
/// best of binomial with every snapshot the budget allows and multilevel
/// schedules keeping as many in RAM and 1, 4, 16, 64 or 256 times as many
/// on disk (the disk is not limited here; its files go to
/// `gradient.snapshot_dir`).
fn schedule_for_budget(c: &Config, need: Need, budget: u64) -> Result<(Strategy, f64)> {
    let n = c.simulation.steps;
    let (state, step) = state_and_step_bytes(c, need);
    let actions = rewind_checkpoint::Plan { steps: n, strategy: Strategy::StoreAll }.ram_bytes(0);
    let room = budget.saturating_sub(step).saturating_sub(actions);
    let s = (room / state.max(1)).min(n as u64) as usize;
    if s == 0 {
        anyhow::bail!(
            "memory budget {} is too small: a step works in about {} and one snapshot is {}",
            bytes(budget),
            bytes(step),
            bytes(state)
        );
    }
    let cost = |st: Strategy| -> Result<f64> {
        let sched = st.schedule(n)?;
        let k = rewind_checkpoint::check(&sched, st.budget(n))?;
        Ok(k.forward_steps as f64 + 10.0 * (k.writes[1] + k.reads[1]) as f64)
    };
    if s >= Strategy::StoreAll.budget(n)[0] {
        return Ok((Strategy::StoreAll, (2 * n - 1) as f64));
    }
    let binomial = Strategy::Binomial { snapshots: s };
    if n > MAX_STEPS_TO_COMPARE {
        return Ok((binomial, rewind_checkpoint::optimal_forward_steps(n, s) as f64));
    }
    let mut best = (binomial, cost(binomial)?);
    for d in [s, 4 * s, 16 * s, 64 * s, 256 * s] {
        if s + d >= n {
            break;
        }
        let ml = Strategy::MultiLevel { ram: s, disk: d, write_cost: 10.0, read_cost: 10.0 };
        let c = cost(ml)?;
        if c < best.1 {
            best = (ml, c);
        }
    }
    Ok(best)
}

/// Bytes from a size as people write it: `2GiB`, `500 MB`, `64KiB`, `1e9`.
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|ch: char| ch.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let value: f64 = num.parse().map_err(|_| format!("cannot read {text:?} as a size (e.g. 2GiB, 500MB)"))?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
    };
    let b = value * scale;
    if !(b.is_finite() && b >= 1.0) {
        return Err(format!("{text:?} is not a positive size"));
    }
    Ok(b as u64)
}

fn check_fits_in(c: &Config, need: Need, available: u64) -> Result<()> {
    let s = &c.simulation;
    let (state, step) = state_and_step_bytes(c, need);
    if step > available {
        anyhow::bail!(
            "a {n}² grid does not fit: one state is {} and a step works in about {}, but {} of memory are available",
            bytes(state),
            bytes(step),
            bytes(available),
            n = s.n
        );
    }
    if need == Need::Primal {
        return Ok(());
    }
    let strategy = strategy(c)?;
    let plan = rewind_checkpoint::Plan { steps: s.steps, strategy };
    let needed = step.saturating_add(plan.ram_bytes(state as usize));
    if needed <= available {
        return Ok(());
    }
    // the most RAM snapshots that fit beside the step and the action list
    let room = available.saturating_sub(step).saturating_sub(plan.ram_bytes(0)) / 10 * 9;
    let most = (room / state.max(1)).min(s.steps as u64);
    let advice = if most >= 1 {
        format!(
            "a schedule that fits: binomial:{most} (or fewer snapshots; multilevel:RAM,DISK keeps the rest on disk)"
        )
    } else {
        "no schedule fits: take fewer steps or a smaller grid".into()
    };
    anyhow::bail!(
        "schedule {strategy} over {} steps does not fit: it needs about {} ({} RAM snapshots of {} each, a step's \
         {} and the schedule's actions), but {} of memory are available; {advice}",
        s.steps,
        bytes(needed),
        strategy.budget(s.steps)[0],
        bytes(state),
        bytes(step),
        bytes(available),
    )
}

/// `MemAvailable` of `/proc/meminfo` (None where it cannot be read).
fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Bytes as a person writes them: `512 B`, `8.0 KiB`, `74.5 GiB`.
pub(crate) fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// The schedule of the configuration.
pub(crate) fn strategy(c: &Config) -> Result<Strategy> {
    c.gradient.schedule.parse().with_context(|| format!("bad schedule {:?}", c.gradient.schedule))
}

/// The ns2d parameters of the configuration.
pub(crate) fn params(c: &Config) -> Params {
    let s = &c.simulation;
    let g = grid(c);
    Params {
        n: s.n,
        dt: s.dt,
        nu: s.nu,
        alpha: s.alpha,
        forcing: g.sample(|_, y| s.forcing * (4.0 * y).sin()),
        max_cfl: spec::params(Size::S).max_cfl,
    }
}

/// The periodic grid of the configuration.
pub(crate) fn grid(c: &Config) -> Grid {
    let h = 2.0 * std::f64::consts::PI / c.simulation.n as f64;
    Grid { nx: c.simulation.n, ny: c.simulation.n, dx: h, dy: h }
}

/// The grid for the HDF5 writer.
pub(crate) fn grid_info(c: &Config) -> GridInfo {
    let g = grid(c);
    GridInfo { nx: g.nx, ny: g.ny, dx: g.dx, dy: g.dy }
}

/// A stepper of the configured flow over scalars `T`.
pub(crate) fn ns2d<T: Components>(c: &Config) -> Result<Ns2d<T>> {
    stepper::<T>(params(c), par(c)).context("cannot set up the ns2d simulation")
}

fn par(c: &Config) -> Par {
    if c.simulation.threads == 1 { Par::Seq } else { Par::Rayon }
}

/// The thread pool of the configuration.
pub(crate) fn pool(c: &Config) -> Result<rayon::ThreadPool> {
    let t = match c.simulation.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    rayon::ThreadPoolBuilder::new().num_threads(t).build().context("cannot start the thread pool")
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Refuses to overwrite nothing silently: the output directory is created.
pub(crate) fn out_dir(c: &Config) -> Result<PathBuf> {
    let d = c.output.dir.clone();
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create the output directory {}", d.display()))?;
    Ok(d)
}

/// Metadata stored in every HDF5 file.
pub(crate) fn metadata(out: &rewind_io::Output, c: &Config, command: &str) -> Result<()> {
    out.attr("config", &c.to_toml())?;
    out.attr("command", command)?;
    out.attr("rewind_version", env!("CARGO_PKG_VERSION"))?;
    out.attr("hdf5_version", &rewind_io::hdf5_library_version())?;
    out.attr("problem", "ns2d-periodic (docs/specs/ns2d-periodic.md)")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_cannot_fit_is_refused_with_a_schedule_that_does() {
        let gib = 1u64 << 30;
        let mut c = Config::default(); // 32², 8 KiB per state
        c.simulation.steps = 1_000_000;
        c.gradient.schedule = "store-all".into();
        let e = check_fits_in(&c, Need::Gradient, gib).unwrap_err().to_string();
        assert!(e.contains("store-all over 1000000 steps does not fit") && e.contains("1.0 GiB of memory"), "{e}");
        // the advice fits: 1 GiB less the step and the actions, 90 %, over 8 KiB
        let advice: usize = e.rsplit("binomial:").next().unwrap().split(' ').next().unwrap().parse().unwrap();
        c.gradient.schedule = format!("binomial:{advice}");
        check_fits_in(&c, Need::Gradient, gib).unwrap();
        assert!(check_fits_in(&c, Need::Hvp, gib).is_err(), "dual states take twice the bytes");
        c.gradient.schedule = "binomial:32".into();
        check_fits_in(&c, Need::Hvp, gib).unwrap();
        // a grid whose step alone cannot fit
        c.simulation.n = 4096;
        let e = check_fits_in(&c, Need::Primal, gib).unwrap_err().to_string();
        assert!(e.contains("4096² grid does not fit") && e.contains("one state is 128.0 MiB"), "{e}");
        assert_eq!([0, 512, 8192, 80_000_000_000].map(bytes), ["0 B", "512 B", "8.0 KiB", "74.5 GiB"]);
    }

    #[test]
    fn a_memory_budget_picks_the_fastest_schedule_that_fits() {
        let mut c = Config::default(); // 32²: 8 KiB per state, a step's arena 272 KiB
        c.simulation.steps = 1000;
        let (state, step) = state_and_step_bytes(&c, Need::Gradient);
        let actions = 1000 * 5 * std::mem::size_of::<rewind_checkpoint::Action>() as u64;
        let fits = |s: u64| step + actions + s * state;
        // room for every state: store-all, 1999 step evaluations
        let (st, cost) = schedule_for_budget(&c, Need::Gradient, fits(999)).unwrap();
        assert_eq!((st, cost), (Strategy::StoreAll, 1999.0));
        // room for 10: nothing slower than binomial:10 is chosen, and it fits
        let (st, cost) = schedule_for_budget(&c, Need::Gradient, fits(10) + 100).unwrap();
        assert_eq!(st.budget(1000)[0], 10, "{st}");
        assert!(cost <= rewind_checkpoint::optimal_forward_steps(1000, 10) as f64, "{st}: {cost}");
        // dual states: a step and a snapshot take twice the bytes, so the
        // room of 10 f64 states holds 5
        let (st, _) = schedule_for_budget(&c, Need::Hvp, fits(10) + step + 100).unwrap();
        assert_eq!(st.budget(1000)[0], 5, "{st}");
        // too small for one snapshot
        let e = schedule_for_budget(&c, Need::Gradient, step).unwrap_err().to_string();
        assert!(e.contains("too small"), "{e}");
        // sizes as people write them
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("500 MB"), Ok(500_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert!(parse_bytes("lots").is_err() && parse_bytes("3 parsecs").is_err() && parse_bytes("-1GB").is_err());
    }
}
