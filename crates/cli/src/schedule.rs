//! `rewind schedule`: a schedule's counts, checked symbolically, and the
//! comparison table of the strategies against the closed-form optimum.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use rewind_checkpoint::{Counts, Strategy, check, optimal_forward_steps};
use serde::Serialize;

/// Which strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Binomial (Revolve): the fewest forward steps for the snapshots.
    Binomial,
    /// Every k-th state (`--every`, default ⌈√n⌉), store-all inside.
    Periodic,
    /// Online thinning, for runs of unknown length.
    Online,
    /// Keep every state.
    StoreAll,
    /// RAM snapshots plus `--disk` disk snapshots with I/O costs.
    Multilevel,
}

/// Arguments of `rewind schedule`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Number of time steps n.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Snapshots s in RAM (the one holding x0 included).
    #[arg(long, default_value_t = 10)]
    snapshots: usize,
    /// Strategy.
    #[arg(long, value_enum, default_value_t = Kind::Binomial)]
    kind: Kind,
    /// Period of the periodic strategy (default: ⌈√n⌉).
    #[arg(long)]
    every: Option<usize>,
    /// Disk snapshots of the multilevel strategy.
    #[arg(long, default_value_t = 0)]
    disk: usize,
    /// Cost of a disk write, in units of one step.
    #[arg(long, default_value_t = 10.0)]
    write_cost: f64,
    /// Cost of a disk read, in units of one step.
    #[arg(long, default_value_t = 10.0)]
    read_cost: f64,
    /// Print the actions too (one per line).
    #[arg(long)]
    actions: bool,
    /// Print the comparison table (n = 10², …, 10⁵; s = 4, 10, 32, 100)
    /// instead of one schedule.
    #[arg(long)]
    table: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Draw the schedule (PNG): x is work in step evaluations, y the state.
    #[arg(long, value_name = "FILE", default_value = "rewind-out/schedule.png")]
    plot: std::path::PathBuf,
    /// Do not draw the schedule.
    #[arg(long)]
    no_plot: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    strategy: String,
    steps: usize,
    budget_ram: usize,
    budget_disk: usize,
    forward_steps: u64,
    recomputed_steps: u64,
    recomputation_factor: f64,
    optimal_forward_steps: u64,
    ratio_to_optimum: f64,
    peak_snapshots: usize,
    peak_snapshots_disk: usize,
    writes_ram: u64,
    writes_disk: u64,
    reads_ram: u64,
    reads_disk: u64,
    modelled_cost: f64,
    actions: usize,
    generate_ms: f64,
}

fn strategy(a: &Args) -> Result<Strategy> {
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    Ok(match a.kind {
        Kind::Binomial => Strategy::Binomial { snapshots: a.snapshots },
        Kind::Online => Strategy::Online { snapshots: a.snapshots },
        Kind::StoreAll => Strategy::StoreAll,
        Kind::Periodic => Strategy::Periodic { every: a.every.unwrap_or((a.steps as f64).sqrt().ceil() as usize) },
        Kind::Multilevel => {
            Strategy::MultiLevel { ram: a.snapshots, disk: a.disk, write_cost: a.write_cost, read_cost: a.read_cost }
        }
    })
}

/// Generates and checks a schedule; the generation time is the best of a
/// few repetitions (at least 20 ms in all).
fn measure(st: Strategy, n: usize, w: f64, r: f64) -> Result<(Report, Vec<rewind_checkpoint::Action>)> {
    let t0 = Instant::now();
    let sched = st.schedule(n).with_context(|| format!("cannot build the {st} schedule for {n} steps"))?;
    let mut best = t0.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut reps = 0;
    while reps < 3 || (start.elapsed().as_secs_f64() < 0.02 && reps < 1000) {
        let t = Instant::now();
        let again = st.schedule(n)?;
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(again);
        reps += 1;
    }
    let budget = st.budget(n);
    let c: Counts = check(&sched, budget).with_context(|| format!("the {st} schedule failed its check"))?;
    let total_snaps = (budget[0] + budget[1]).max(1);
    let opt = optimal_forward_steps(n, total_snaps.min(n));
    let report = Report {
        strategy: st.to_string(),
        steps: n,
        budget_ram: budget[0],
        budget_disk: budget[1],
        forward_steps: c.forward_steps,
        recomputed_steps: c.recomputed_steps,
        recomputation_factor: c.recomputation_factor(),
        optimal_forward_steps: opt,
        ratio_to_optimum: c.forward_steps as f64 / opt as f64,
        peak_snapshots: c.peak_snapshots[0],
        peak_snapshots_disk: c.peak_snapshots[1],
        writes_ram: c.writes[0],
        writes_disk: c.writes[1],
        reads_ram: c.reads[0],
        reads_disk: c.reads[1],
        modelled_cost: c.cost(w, r),
        actions: c.actions,
        generate_ms: best * 1e3,
    };
    Ok((report, sched.actions))
}

pub(crate) fn main(a: &Args) -> Result<()> {
    if a.table {
        return table(a.json);
    }
    let st = strategy(a)?;
    // the action list is generated twice at once (to time it), before
    // anything: refused if it cannot fit
    let need = rewind_checkpoint::Plan { steps: a.steps, strategy: st }.ram_bytes(0).saturating_mul(2);
    if let Some(available) = rewind_models::memory::available_memory_bytes()
        && need > available / 2
    {
        bail!(
            "the {st} schedule over {} steps is a list of about {} of actions (held twice, to time its \
             generation), but {} of memory are available",
            a.steps,
            rewind_models::units::bytes(need / 2),
            rewind_models::units::bytes(available)
        );
    }
    let (rep, actions) = measure(st, a.steps, a.write_cost, a.read_cost)?;
    let plot = if a.no_plot {
        None
    } else {
        let title = format!("{} schedule, {} steps: {} forward steps", rep.strategy, rep.steps, rep.forward_steps);
        Some(rewind_io::plot::schedule(&a.plot, &title, a.steps, &actions)?)
    };
    if a.json {
        let mut v = serde_json::to_value(&rep)?;
        v["plot"] = serde_json::json!(plot.as_ref().map(|p| p.display().to_string()));
        if a.actions {
            v["action_list"] = actions.iter().map(|x| x.to_string()).collect();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "schedule {} for {} steps (checked: every step reversed once, in order, within budget)",
        rep.strategy, rep.steps
    );
    println!("  snapshot budget       {} RAM, {} disk", rep.budget_ram, rep.budget_disk);
    println!("  forward steps         {} ({:.3} per step)", rep.forward_steps, rep.recomputation_factor);
    println!("  recomputed steps      {} (beyond store-all's 2n - 1)", rep.recomputed_steps);
    println!(
        "  binomial optimum      {} with {} snapshots ({:.4}x)",
        rep.optimal_forward_steps,
        rep.budget_ram + rep.budget_disk,
        rep.ratio_to_optimum
    );
    println!("  peak snapshots        {} RAM, {} disk", rep.peak_snapshots, rep.peak_snapshots_disk);
    println!(
        "  snapshot writes/reads RAM {}/{}, disk {}/{}",
        rep.writes_ram, rep.reads_ram, rep.writes_disk, rep.reads_disk
    );
    if rep.budget_disk > 0 {
        println!(
            "  modelled cost         {:.1} steps (disk write {}, read {})",
            rep.modelled_cost, a.write_cost, a.read_cost
        );
    }
    println!("  actions               {} (generated in {:.3} ms)", rep.actions, rep.generate_ms);
    if let Some(p) = &plot {
        println!("  diagram               {}", p.display());
    }
    if a.actions {
        for x in &actions {
            println!("    {x}");
        }
    }
    Ok(())
}

/// The smallest forward-step count of a periodic schedule whose peak fits
/// `s` snapshots, with its period; `None` if no period fits.
fn best_periodic(n: usize, s: usize) -> Option<(usize, u64)> {
    (1..=n)
        .filter(|&k| Strategy::Periodic { every: k }.budget(n)[0] <= s)
        .map(|k| {
            let nseg = n.div_ceil(k);
            (k, ((nseg - 1) * k + (n - nseg) + n) as u64)
        })
        .min_by_key(|&(_, f)| f)
}

#[derive(Debug, Serialize)]
struct Row {
    steps: usize,
    snapshots: usize,
    optimum: u64,
    binomial: u64,
    binomial_factor: f64,
    binomial_generate_ms: f64,
    online: u64,
    online_ratio: f64,
    periodic: Option<u64>,
    periodic_every: Option<usize>,
}

fn table(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for n in [100, 1_000, 10_000, 100_000] {
        for s in [4, 10, 32, 100] {
            let (b, _) = measure(Strategy::Binomial { snapshots: s }, n, 0.0, 0.0)?;
            let (o, _) = measure(Strategy::Online { snapshots: s }, n, 0.0, 0.0)?;
            let opt = optimal_forward_steps(n, s);
            if b.forward_steps != opt {
                bail!("binomial schedule for n = {n}, s = {s} is not optimal: {} vs {opt}", b.forward_steps);
            }
            let p = best_periodic(n, s);
            rows.push(Row {
                steps: n,
                snapshots: s,
                optimum: opt,
                binomial: b.forward_steps,
                binomial_factor: b.recomputation_factor,
                binomial_generate_ms: b.generate_ms,
                online: o.forward_steps,
                online_ratio: o.forward_steps as f64 / opt as f64,
                periodic: p.map(|x| x.1),
                periodic_every: p.map(|x| x.0),
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))?);
        return Ok(());
    }
    println!("forward steps (factor = forward steps / n); periodic: best period whose peak fits s, '-' if none");
    println!(
        "{:>7} {:>4} {:>10} {:>10} {:>7} {:>9} {:>10} {:>7} {:>12} {:>6}",
        "n", "s", "optimum", "binomial", "factor", "gen (ms)", "online", "ratio", "periodic", "k"
    );
    for r in &rows {
        println!(
            "{:>7} {:>4} {:>10} {:>10} {:>7.2} {:>9.3} {:>10} {:>7.3} {:>12} {:>6}",
            r.steps,
            r.snapshots,
            r.optimum,
            r.binomial,
            r.binomial_factor,
            r.binomial_generate_ms,
            r.online,
            r.online_ratio,
            r.periodic.map_or("-".to_string(), |v| v.to_string()),
            r.periodic_every.map_or("-".to_string(), |v| v.to_string()),
        );
    }
    Ok(())
}
