//! `rewind tradeoff`: the gradient of the ns2d objective under a range of
//! schedules and snapshot budgets, each run in a fresh process (this same
//! binary, `rewind grad --json`) so that its peak memory is its own; writes
//! `tradeoff.csv`, `tradeoff.json` and the memory-versus-time plot
//! `tradeoff.png` with the non-dominated frontier.
//!
//! Under `mpirun -n K` the schedules are spread over the ranks, one run
//! per rank at a time (each run's peak memory is still its own; its time
//! is measured while the other ranks' runs share the machine).

use anyhow::{Context, Result, bail};
use rewind_io::plot::{TradeoffPoint, frontier_of};
use serde_json::{Value, json};

use rewind_checkpoint::Strategy;

use crate::common::{self, Common};
use crate::memory::Need;
use rewind_models::ModelName;

/// Arguments of `rewind tradeoff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Schedules to compare, separated by `;` (multilevel budgets contain
    /// commas); default: store-all,
    /// periodic:⌈√n⌉, binomial:2,4,8,16,32, online:8,32, multilevel:4,16).
    #[arg(long, value_delimiter = ';')]
    pub(crate) schedules: Vec<String>,
    /// Corrupt the disk snapshot of state S in the run of schedule number M
    /// (`M:S`, for tests of the faults: that run must fail, and with it
    /// every rank).
    #[arg(long, hide = true, value_name = "M:S")]
    pub(crate) fault: Option<String>,
}

fn default_schedules(n: usize) -> Vec<String> {
    let mut s = vec!["store-all".to_string(), format!("periodic:{}", (n as f64).sqrt().ceil() as usize)];
    for k in [2, 4, 8, 16, 32] {
        if k < n {
            s.push(format!("binomial:{k}"));
        }
    }
    for k in [8, 32] {
        if k < n {
            s.push(format!("online:{k}"));
        }
    }
    s.push("multilevel:4,16".into());
    s
}

/// `rewind tradeoff`.
pub(crate) fn main(a: &Args, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    let common = a.common.clone();
    let sim = crate::models::chosen(&a.common);
    let defaulted = sim == ModelName::Ns2d
        && common.config.is_none()
        && common.size.is_none()
        && common.n.is_none()
        && common.steps.is_none();
    let mut c = common.config()?;
    if c.gradient.memory.is_some() {
        bail!(
            "a memory budget picks one schedule, and tradeoff compares the schedules of --schedules: \
             drop --memory (or gradient.memory), or run `rewind grad --memory SIZE`"
        );
    }
    if common.schedule.is_some() {
        bail!("tradeoff compares the schedules of --schedules, not --schedule");
    }
    if defaulted {
        // big enough that snapshots dominate memory, small enough for a minute
        c.simulation.n = 128;
        c.simulation.steps = 200;
        c.simulation.dt = 0.01;
    }
    let (n, steps) = crate::models::size_and_steps(sim, &c, &a.common)?;
    let schedules = if a.schedules.is_empty() { default_schedules(steps) } else { a.schedules.clone() };
    // every schedule checked, and checked to fit, before any run starts
    // (the model's footprint measured once; only the schedule changes)
    let f = crate::models::footprint(sim, &c, n, steps, Strategy::StoreAll)?;
    let state_bytes = f.points * f.fields * 8;
    for s in &schedules {
        let st: Strategy = s.parse().with_context(|| format!("bad schedule {s:?} in --schedules"))?;
        st.schedule(steps).with_context(|| format!("schedule {s} of --schedules"))?;
        let f = crate::memory::Footprint { strategy: st, ..f };
        crate::memory::check_footprint(&f, Need::Gradient).with_context(|| format!("schedule {s} of --schedules"))?;
    }
    let fault = match a.fault.as_deref().map(|f| f.split_once(':')) {
        None => None,
        Some(Some((m, st))) => Some((
            m.parse::<usize>().context("--fault M:S: M is a schedule's index")?,
            st.parse::<usize>().context("--fault M:S: S is a state")?,
        )),
        Some(None) => bail!("--fault takes M:S"),
    };
    let root = ensemble.is_root();
    // every rank writes the configuration its runs read (ranks may be on
    // different machines), under its own name
    let dir = common::out_dir(&c)?;
    let cfg_path = dir.join(format!(".tradeoff-config-{}.toml", ensemble.rank()));
    let mut table: toml::Table = c.to_toml().parse().context("cannot write the runs' configuration")?;
    if sim != ModelName::Ns2d {
        // [simulation] is ns2d's; the other models take --n and --steps
        table.remove("simulation");
    }
    rewind_io::write_atomic(&cfg_path, table.to_string().as_bytes())?;
    let exe = std::env::current_exe().context("cannot find the rewind executable")?;
    let threads = common::threads(&c).to_string();
    let bar = common::progress_bar(schedules.len() as u64, "schedules", a.common.quiet || a.common.json || !root);
    let run_one = |m: usize| -> Result<String> {
        let s = &schedules[m];
        if root {
            bar.set_message(s.clone());
        }
        let mut cmd = crate::ranks::child(&exe);
        cmd.args(["grad", "--json", "--quiet", "--no-files", "--threads", &threads, "--schedule", s, "--config"]);
        cmd.arg(&cfg_path);
        if let Some((_, state)) = fault.filter(|(fm, _)| *fm == m) {
            cmd.args(["--corrupt-snapshot", &state.to_string()]);
        }
        cmd.args(["--sim", sim.name(), "--n", &n.to_string(), "--steps", &steps.to_string()]);
        let out = cmd.output().with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            bail!("the gradient under {s} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let r: Value = serde_json::from_slice(&out.stdout).context("unreadable output of rewind grad")?;
        Ok(json!({
            "schedule": s,
            "grad_s": r["grad_s"],
            "primal_s": r["primal_s"],
            "grad_over_primal": r["grad_over_primal"],
            "forward_steps": r["cost"]["forward_steps"],
            "recomputation_factor": r["cost"]["recomputation_factor"],
            "peak_snapshots_ram": r["cost"]["peak_snapshots"][0],
            "peak_snapshots_disk": r["cost"]["peak_snapshots"][1],
            "peak_snapshot_bytes": r["cost"]["peak_snapshot_bytes"],
            "peak_rss_bytes": r["peak_rss_bytes"],
            "objective": r["objective"],
            "grad_norm": r["grad_norm"],
            "problem": r["problem"],
            "grid": r["grid"],
        })
        .to_string())
    };
    let rows =
        ensemble.map(schedules.len(), |m| run_one(m).map_err(|e| format!("{e:#}")), |d, _| bar.set_position(d as u64));
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&cfg_path);
    let rows: Vec<Value> =
        rows?.iter().map(|r| serde_json::from_str(r)).collect::<Result<_, _>>().context("unreadable row")?;
    if !root {
        return Ok(());
    }
    let problem = rows.first().and_then(|r| r["problem"].as_str()).unwrap_or("").to_string();
    let grid = rows.first().map(|r| r["grid"].clone()).unwrap_or(Value::Null);
    let grid_text = format!("{}x{}", grid[0], grid[1]);
    let same =
        rows.windows(2).all(|w| w[0]["grad_norm"] == w[1]["grad_norm"] && w[0]["objective"] == w[1]["objective"]);
    let points: Vec<TradeoffPoint> = rows
        .iter()
        .map(|r| TradeoffPoint {
            label: r["schedule"].as_str().unwrap_or("").to_string(),
            seconds: r["grad_s"].as_f64().unwrap_or(f64::NAN),
            bytes: r["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN),
            snapshot_bytes: r["peak_snapshot_bytes"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();
    let labels = |idx: Vec<usize>| -> Vec<String> { idx.into_iter().map(|i| points[i].label.clone()).collect() };
    let front = labels(frontier_of(&points, |p| p.bytes));
    let front_snap = labels(frontier_of(&points, |p| p.snapshot_bytes));
    let report = json!({
        "model": sim.name(),
        "problem": problem,
        "grid": grid,
        "steps": steps,
        "state_bytes": state_bytes,
        "gradients_identical": same,
        "ranks": ensemble.size(),
        "threads": common::threads(&c),
        "frontier_peak_rss": front,
        "frontier_snapshot_bytes": front_snap,
        "runs": rows,
    });
    let mut csv = String::from(
        "schedule,grad_s,grad_over_primal,forward_steps,recomputation_factor,peak_snapshots_ram,peak_snapshots_disk,peak_snapshot_bytes,peak_rss_bytes\n",
    );
    for r in &rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r["schedule"].as_str().unwrap_or(""),
            r["grad_s"],
            r["grad_over_primal"],
            r["forward_steps"],
            r["recomputation_factor"],
            r["peak_snapshots_ram"],
            r["peak_snapshots_disk"],
            r["peak_snapshot_bytes"],
            r["peak_rss_bytes"]
        ));
    }
    let mut files = Vec::new();
    if !a.common.no_files {
        files.push(rewind_io::write_atomic(dir.join("tradeoff.csv"), csv.as_bytes())?);
        files.push(rewind_io::write_atomic(
            dir.join("tradeoff.json"),
            serde_json::to_string_pretty(&report)?.as_bytes(),
        )?);
        if c.output.plots {
            let title = format!("gradient of {} on {}, {steps} steps: memory vs time", sim.name(), grid_text);
            files.push(rewind_io::plot::tradeoff(dir.join("tradeoff.png"), &title, &points)?);
        }
    }
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "gradient of {} on {grid_text}, {steps} steps, {} per state; each schedule in a fresh process",
        sim.name(),
        rewind_models::units::bytes(state_bytes)
    );
    println!("  objective: {problem}");
    println!(
        "{:>18} {:>9} {:>8} {:>9} {:>7} {:>9} {:>12} {:>10}",
        "schedule", "grad (s)", "/primal", "fwd steps", "factor", "snapshots", "snap bytes", "peak RSS"
    );
    for r in &rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>18} {:>9.3} {:>8.2} {:>9} {:>7.2} {:>9} {:>12} {:>10}",
            r["schedule"].as_str().unwrap_or(""),
            f("grad_s"),
            f("grad_over_primal"),
            r["forward_steps"],
            f("recomputation_factor"),
            format!("{}+{}", r["peak_snapshots_ram"], r["peak_snapshots_disk"]),
            rewind_models::units::bytes(f("peak_snapshot_bytes") as u64),
            rewind_models::units::bytes(f("peak_rss_bytes") as u64),
        );
    }
    println!("frontier in time and peak RSS (not beaten in both): {}", front.join(", "));
    println!("frontier in time and snapshot memory: {}", front_snap.join(", "));
    println!("gradients bit-for-bit identical under every schedule: {same}");
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
