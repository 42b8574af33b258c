//! `rewind spec ns2d-periodic`: the benchmark problem of
//! `docs/specs/ns2d-periodic.md`, computed with rewind's own gradient
//! and Hessian-vector product, printed as one JSON object.

use anyhow::{Context, Result, bail};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_ns2d::spec::{self, Size};
use serde_json::json;

/// Arguments of `rewind spec`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The problem (only `ns2d-periodic` so far).
    #[arg(default_value = "ns2d-periodic")]
    problem: String,
    /// Size: S (32², 100 steps), M (128², 1000 steps) or L (256², 10 000 steps).
    #[arg(long, default_value = "S")]
    size: String,
    /// Steps instead of the size's own (same grid and time step), e.g.
    /// `--size L --steps 1000` to time the 256² grid without the full run.
    #[arg(long)]
    steps: Option<usize>,
    /// Checkpoint schedule: store-all, periodic:K, binomial:S, online:S or multilevel:RAM,DISK.
    #[arg(long, default_value = "binomial:10")]
    schedule: String,
    /// Threads for the field kernels (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn main(a: &Args) -> Result<()> {
    if a.problem != "ns2d-periodic" {
        bail!("unknown problem {:?}: the benchmark problems are: ns2d-periodic", a.problem);
    }
    let size: Size = a.size.parse().map_err(anyhow::Error::msg)?;
    let case = match a.steps {
        Some(0) => bail!("--steps must be at least 1"),
        Some(steps) => spec::Case { size, steps },
        None => spec::Case::from(size),
    };
    let strategy: Strategy = a.schedule.parse().with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let (cores, most) = crate::config::thread_limit();
    let pool = match a.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > most => bail!("--threads {t}: this machine has {cores} core(s); at most {most} threads"),
        Some(t) => rayon_pool(t)?,
        None => rayon_pool(cores)?,
    };
    // one bar over every step evaluation: target, primal, gradient, HVP
    let total = spec::evaluations(case, strategy).with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let mut phase = spec::Phase::Target;
    let bar = crate::common::progress_bar(total, phase.label(), a.quiet);
    let r = pool
        .install(|| {
            spec::run_observed(case, strategy, Par::Rayon, |p| {
                if p != phase {
                    phase = p;
                    bar.set_message(p.label());
                }
                bar.inc(1);
            })
        })
        .context("ns2d-periodic run failed");
    bar.finish_and_clear();
    let r = r?;
    let report = json!({
        "N": r.n,
        "steps": r.steps,
        "dt": r.dt,
        "Jloss": r.jloss,
        "grad_norm": r.grad_norm,
        "grad_dot_v": r.grad_dot_v,
        "hvp_norm": r.hvp_norm,
        "v_dot_hvp": r.v_dot_hvp,
        "primal_s": r.primal_s,
        "grad_s": r.grad_s,
        "hvp_s": r.hvp_s,
        "grad_over_primal": r.grad_s / r.primal_s,
        "hvp_over_grad": r.hvp_s / r.grad_s,
        "peak_rss_bytes": crate::common::peak_rss_bytes(),
        "peak_snapshot_bytes": r.peak_snapshot_bytes,
        "schedule": r.schedule,
        "forward_steps": r.forward_steps,
        "optimal_forward_steps": match strategy {
            Strategy::Binomial { snapshots } => Some(rewind_checkpoint::optimal_forward_steps(r.steps, snapshots)),
            _ => None,
        },
        "threads": pool.current_num_threads(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")
}
