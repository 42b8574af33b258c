//! `rewind spec ns2d-periodic|shallow-water|acoustic`: the benchmark problems of
//! `docs/specs/`, computed with rewind's own gradient and Hessian-vector
//! product, printed as one JSON object.

use anyhow::{Context, Result, bail};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_ns2d::spec::{self, Size};
use serde_json::json;

use crate::memory::Need;
use rewind_models::ModelName;

/// Arguments of `rewind spec`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The problem: `ns2d-periodic`, `shallow-water` or `acoustic`.
    #[arg(default_value = "ns2d-periodic")]
    problem: String,
    /// ns2d-periodic's size: S (32², 100 steps; the default), M (128², 1000
    /// steps) or L (256², 10 000 steps).
    #[arg(long)]
    size: Option<String>,
    /// shallow-water's grid: N² points (default 128), dt = 2.56/N;
    /// acoustic's: N³ points (default 64).
    #[arg(long)]
    n: Option<usize>,
    /// Steps instead of the size's own (same grid and time step), e.g.
    /// `--size L --steps 1000` to time the 256² grid without the full run;
    /// shallow-water's run length (default 100), acoustic's (default 1000).
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
    /// Also time K Gauss–Newton products at ω_A after a gradient that keeps
    /// the point's first forward sweep (`Problem::linearise`), and one
    /// product at a point not kept: the figures go under "gauss_newton"
    /// (acoustic: K products in a smooth change of m at its point).
    #[arg(long, value_name = "K", default_value_t = 0)]
    gauss_newton: usize,
    /// Instead of the spec's figures: an ensemble of K independent HVPs at
    /// ω_A (directions v rolled by whole rows), spread over the ranks of
    /// `mpirun` (one rank without it), and summed in member order; prints
    /// the wall time, each product's time and the sum's bits.
    #[arg(long, value_name = "K", default_value_t = 0)]
    hvp_ensemble: usize,
    /// acoustic: write the receiver traces to FILE (raw little-endian f64,
    /// `[t][receiver]`, t = 1..K), for a peer to compare with.
    #[arg(long, value_name = "FILE")]
    traces: Option<std::path::PathBuf>,
    /// acoustic: write ∂J/∂m to FILE (raw little-endian f64, the grid's
    /// order).
    #[arg(long, value_name = "FILE")]
    gradient: Option<std::path::PathBuf>,
    /// Make member `M` of --hvp-ensemble fail (for tests of the faults):
    /// `M:blowup` starts its run from 10⁴ ω_A (the flow blows up), `M:nan`
    /// puts a NaN in its direction, `M:panic` panics.
    #[arg(long, hide = true, value_name = "M:KIND")]
    fault: Option<String>,
}

pub(crate) fn main(a: &Args, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    match a.problem.as_str() {
        "ns2d-periodic" => {}
        "shallow-water" => return shallow_water(a, ensemble),
        "acoustic" => return acoustic(a, ensemble),
        other => bail!("unknown problem {other:?}: the benchmark problems are: ns2d-periodic, shallow-water, acoustic"),
    }
    if a.traces.is_some() || a.gradient.is_some() {
        bail!("--traces and --gradient are acoustic's");
    }
    if a.n.is_some() {
        bail!("--n is shallow-water's; ns2d-periodic's grid is set by --size S|M|L");
    }
    let size: Size = a.size.as_deref().unwrap_or("S").parse().map_err(anyhow::Error::msg)?;
    let case = match a.steps {
        Some(0) => bail!("--steps must be at least 1"),
        Some(steps) => spec::Case { size, steps },
        None => spec::Case::from(size),
    };
    let strategy: Strategy = a.schedule.parse().with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let threads = threads(a)?;
    // refused before anything is allocated: the HVP's dual snapshots and
    // taped step are the largest; an ensemble keeps every member's product
    let n = size.table().0;
    let f = crate::models::footprint(ModelName::Ns2d, &Default::default(), n, case.steps, strategy)?;
    crate::memory::check_footprint(&f, Need::Hvp)?;
    let kept = (a.hvp_ensemble as u64).saturating_mul(f.points.saturating_mul(8).saturating_add(64));
    if let Some(available) = rewind_models::memory::available_memory_bytes()
        && kept > available / 2
    {
        bail!(
            "--hvp-ensemble {}: the ensemble keeps every member's product, {} each, about {} in all, \
             but {} of memory are available",
            a.hvp_ensemble,
            rewind_models::units::bytes(f.points * 8),
            rewind_models::units::bytes(kept),
            rewind_models::units::bytes(available)
        );
    }
    if a.hvp_ensemble > 0 {
        // the kernels in the global pool, the exchanges on the main thread
        crate::common::global_pool(threads)?;
        let fault = match a.fault.as_deref().map(|f| f.split_once(':')) {
            None => None,
            Some(Some((m, kind))) if ["blowup", "nan", "panic"].contains(&kind) => {
                Some((m.parse::<usize>().context("--fault M:KIND: M is a member index")?, kind.to_string()))
            }
            Some(_) => bail!("--fault takes M:blowup, M:nan or M:panic"),
        };
        let report = hvp_ensemble(case, strategy, a.hvp_ensemble, ensemble, a.quiet, fault)?;
        if ensemble.is_root() {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        return Ok(());
    }
    if !ensemble.is_root() {
        // the spec's own figures are one run: rank 0's
        return Ok(());
    }
    let pool = rayon_pool(threads)?;
    // one bar over every step evaluation: target, primal, gradient, HVP
    let total = spec::evaluations(case, strategy).with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let mut phase = spec::Phase::Target;
    let bar = crate::common::progress_bar(total, phase.label(), a.quiet);
    let r = pool
        .install(|| {
            spec::run_observed(case, strategy, Par::Pool, |p| {
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
    let gauss_newton = match a.gauss_newton {
        0 => serde_json::Value::Null,
        k => pool
            .install(|| gauss_newton_figures(case, strategy, k, r.grad_s))
            .context("Gauss–Newton products failed")?,
    };
    let report = json!({
        "grid": [r.n, r.n],
        "steps": r.steps,
        "dt": r.dt,
        "objective": r.jloss,
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
        "gauss_newton": gauss_newton,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `--threads`, checked, or the cores of this rank.
fn threads(a: &Args) -> Result<usize> {
    threads_of(a.threads)
}

/// `--threads`, checked against the machine; all cores of this rank's
/// share without it.
pub(crate) fn threads_of(threads: Option<usize>) -> Result<usize> {
    let (cores, most) = crate::config::thread_limit();
    Ok(match threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > most => bail!("--threads {t}: this machine has {cores} core(s); at most {most} threads"),
        Some(t) => t,
        None => crate::ranks::cores_per_rank(),
    })
}

/// `rewind spec shallow-water`: the figures of `docs/specs/shallow-water.md`.
fn shallow_water(a: &Args, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    use rewind_shallow_water::spec as sw;
    if a.size.is_some() {
        bail!("--size is ns2d-periodic's; shallow-water takes --n N (grid) and --steps K");
    }
    if a.gauss_newton > 0 || a.hvp_ensemble > 0 {
        bail!(
            "--gauss-newton is ns2d-periodic's and acoustic's, --hvp-ensemble ns2d-periodic's; shallow-water has neither"
        );
    }
    if a.traces.is_some() || a.gradient.is_some() {
        bail!("--traces and --gradient are acoustic's");
    }
    let case = sw::Case { n: a.n.unwrap_or(128), steps: a.steps.unwrap_or(100) };
    if case.n < 4 {
        bail!("--n {}: shallow-water needs at least 4 points per direction", case.n);
    }
    if case.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let strategy: Strategy = a.schedule.parse().with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let total = sw::evaluations(case, strategy).with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    // refused before anything is allocated: the HVP's dual snapshots and
    // taped step are the largest
    let f = crate::models::footprint(ModelName::ShallowWater, &Default::default(), case.n, case.steps, strategy)?;
    crate::memory::check_footprint(&f, Need::Hvp)?;
    let threads = threads(a)?;
    if !ensemble.is_root() {
        return Ok(());
    }
    let pool = rayon_pool(threads)?;
    let r = with_phases(&pool, total, rewind_sim::Phase::Target, a.quiet, |tick| {
        sw::run_observed(case, strategy, Par::Pool, tick)
    })
    .context("shallow-water run failed")?;
    let report = json!({
        "problem": "shallow-water",
        "grid": [r.n, r.n],
        "steps": r.steps,
        "dt": r.dt,
        "g": 1.0,
        "f": 1.0,
        "objective": r.jloss,
        "grad_norm": r.grad_norm,
        "grad_g": r.grad_g,
        "grad_f": r.grad_f,
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
        "threads": pool.current_num_threads(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `rewind spec acoustic`: the figures of `docs/specs/acoustic.md`.
fn acoustic(a: &Args, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    use rewind_acoustic::spec as ac;
    if a.size.is_some() {
        bail!("--size is ns2d-periodic's; acoustic takes --n N (grid) and --steps K");
    }
    if a.hvp_ensemble > 0 {
        bail!("--hvp-ensemble is ns2d-periodic's");
    }
    let case = ac::Case { n: a.n.unwrap_or(64), steps: a.steps.unwrap_or(1000) };
    if case.n < ac::MIN_N {
        bail!(
            "--n {}: acoustic needs at least {} points per axis (source and receivers outside the sponge)",
            case.n,
            ac::MIN_N
        );
    }
    if case.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let strategy: Strategy = a.schedule.parse().with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    if matches!(strategy, Strategy::MultiLevel { .. }) {
        bail!(
            "--schedule {strategy}: acoustic keeps its snapshots in memory (binomial, online, periodic or store-all)"
        );
    }
    rewind_checkpoint::Plan { steps: case.steps, strategy }
        .validate()
        .with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    // refused before anything is allocated (the schedule's actions
    // included): its snapshots and a taped step
    let points = (case.n as u64).saturating_pow(3);
    let f = acoustic_footprint(points, case.steps, strategy)?;
    crate::memory::check_footprint(&f, Need::Gradient)?;
    if a.gauss_newton > 0 {
        // the products keep the linearisation's first sweep (at most the
        // schedule's snapshots again) and the tangent run's seeds: one
        // (index, value) per receiver and step
        let receivers = ((case.n - 2 * ac::SPONGE) as u64).saturating_pow(2);
        let kept = (strategy.budget(case.steps)[0] as u64).saturating_mul(points).saturating_mul(16);
        let seeds = (case.steps as u64).saturating_mul(receivers).saturating_mul(16);
        let need = f.bytes(Need::Gradient).saturating_add(kept).saturating_add(seeds);
        if let Some(available) = rewind_models::memory::available_memory_bytes()
            && need > available
        {
            bail!(
                "--gauss-newton keeps the linearisation's snapshots ({}) and the tangent seeds of {} receivers over {} steps ({}): \
                 with the gradient's {} that is {}, but {} of memory are available; fewer --steps or a smaller --n",
                rewind_models::units::bytes(kept),
                receivers,
                case.steps,
                rewind_models::units::bytes(seeds),
                rewind_models::units::bytes(f.bytes(Need::Gradient)),
                rewind_models::units::bytes(need),
                rewind_models::units::bytes(available)
            );
        }
    }
    let total = ac::evaluations(case, strategy).with_context(|| format!("bad --schedule {:?}", a.schedule))?;
    let threads = threads(a)?;
    if !ensemble.is_root() {
        return Ok(());
    }
    let pool = rayon_pool(threads)?;
    let r =
        with_phases(&pool, total, rewind_sim::Phase::Primal, a.quiet, |tick| ac::run(case, strategy, Par::Pool, tick))
            .context("acoustic run failed")?;
    let gauss_newton = match a.gauss_newton {
        0 => serde_json::Value::Null,
        k => {
            let g = pool
                .install(|| ac::gauss_newton(case, strategy, Par::Pool, k))
                .context("acoustic Gauss–Newton products failed")?;
            let mean = g.product_s.iter().sum::<f64>() / k as f64;
            json!({
                "linearise_s": g.linearise_s,
                "product_s": g.product_s,
                "tangent_s": g.tangent_s,
                "product_over_grad": mean / r.grad_s,
                "reused_steps": g.reused_steps,
                "forward_steps": g.forward_steps,
                "curvature": g.curvature,
            })
        }
    };
    let raw = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for (path, data) in [(&a.traces, &r.traces), (&a.gradient, &r.gradient)] {
        if let Some(path) = path {
            rewind_io::atomic::write_atomic(path, &raw(data))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let work = points as f64 * case.steps as f64;
    // (read before the copies below allocate their two fields)
    let peak_rss = crate::common::peak_rss_bytes();
    let copy = pool.install(|| copy_bandwidth(points as usize, case.n * case.n));
    let report = json!({
        "problem": "acoustic",
        "grid": [case.n, case.n, case.n],
        "steps": case.steps,
        "dt": 0.002,
        "order": 8,
        "sponge": ac::SPONGE,
        "objective": r.objective,
        "grad_norm": r.grad_norm,
        "primal_s": r.primal_s,
        "grad_s": r.grad_s,
        "grad_over_primal": r.grad_s / r.primal_s,
        "points_steps_per_s": work / r.primal_s,
        "copy_bytes_per_s": copy,
        "step_bytes_per_point": STEP_BYTES,
        "copy_bandwidth_fraction": STEP_BYTES * work / r.primal_s / copy,
        "peak_rss_bytes": peak_rss,
        "peak_snapshot_bytes": r.peak_snapshot_bytes,
        "store_all_bytes": 16.0 * work,
        "schedule": strategy.to_string(),
        "forward_steps": r.forward_steps,
        "threads": pool.current_num_threads(),
        "gauss_newton": gauss_newton,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Bytes an acoustic step moves per point at least: its six arrays read or
/// written once each (`u`, `u_prev`, `m` and the sponge read, the new `u`
/// and `u_prev` written). `copy_bandwidth_fraction` is these bytes per
/// second in the primal over [`copy_bandwidth`]'s.
const STEP_BYTES: f64 = 48.0;

/// The copy bandwidth on the current thread pool, in bytes read and
/// written per second: the best of five copies between two arrays of
/// `len` values (a field; in rows of `row` values, as the kernels split
/// it), after one that faults them in.
fn copy_bandwidth(len: usize, row: usize) -> f64 {
    use std::time::Instant;
    let src = vec![1.0f64; len];
    let mut dst = vec![0.0f64; len];
    let mut best = f64::INFINITY;
    for k in 0..6 {
        let t0 = Instant::now();
        rewind_field::par::copy(Par::Pool, &mut dst, &src, row);
        let t = t0.elapsed().as_secs_f64();
        if k > 0 {
            best = best.min(t);
        }
    }
    std::hint::black_box(&dst);
    16.0 * len as f64 / best.max(1e-9)
}

/// What an acoustic run of `points` points over `steps` steps under
/// `strategy` holds: the schedule's snapshots and a taped step, its arena
/// measured on the model at two small sizes.
pub(crate) fn acoustic_footprint(points: u64, steps: usize, strategy: Strategy) -> Result<crate::memory::Footprint> {
    use rewind_acoustic::spec as ac;
    let measure = |n: usize| -> Result<(u64, u64)> {
        let m = ac::model(ac::Case { n, steps: 1 })?;
        let x0 = m.at_rest();
        Ok(rewind_models::step_arena_bytes(m, &x0)?)
    };
    let f =
        rewind_models::memory::footprint_from(points, 2, steps, strategy, measure(ac::MIN_N)?, measure(ac::MIN_N + 8)?);
    Ok(crate::memory::Footprint { dims: 3, ..f })
}

/// `k` Gauss–Newton products of the spec's objective at ω_A in the
/// directions `v` rolled by whole rows, timed one by one after a gradient
/// that keeps the point (`Problem::linearise`); then one product at a
/// point not kept. Ratios are to `grad_s`, the spec's gradient of the same
/// run.
fn gauss_newton_figures(case: spec::Case, strategy: Strategy, k: usize, grad_s: f64) -> Result<serde_json::Value> {
    use std::time::Instant;
    let n = case.size.table().0;
    let mut problem = spec_problem(case, strategy)?;
    let (wa, v) = (spec::field_a(n), spec::direction_v(n));
    let no_p = vec![0.0; problem.param_set().len()];
    let t0 = Instant::now();
    problem.linearise(&wa)?;
    let linearise_s = t0.elapsed().as_secs_f64();
    let (mut times, mut tangent, mut last) = (Vec::new(), Vec::new(), None);
    for j in 0..k {
        let mut dir = v.clone();
        dir.rotate_left((j * n) % v.len());
        let t0 = Instant::now();
        let g = problem.gauss_newton(&wa, &dir, &no_p)?;
        times.push(t0.elapsed().as_secs_f64());
        tangent.push(g.tangent_seconds);
        last = Some(g);
    }
    let last = last.context("no product")?;
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    problem.forget_linearisation();
    let t0 = Instant::now();
    let cold = problem.gauss_newton(&wa, &v, &no_p)?;
    let cold_s = t0.elapsed().as_secs_f64();
    Ok(json!({
        "linearise_s": linearise_s,
        "linearise_over_grad": linearise_s / grad_s,
        "product_s": times,
        "product_over_grad": mean / grad_s,
        "tangent_steps": last.tangent_steps,
        "tangent_s": tangent,
        "forward_steps": last.counters.forward_steps,
        "reused_steps": last.counters.reused_steps,
        "kept_bytes": last.counters.kept_bytes,
        "peak_snapshot_bytes": last.counters.peak_snapshot_bytes,
        "cold_product_s": cold_s,
        "cold_over_grad": cold_s / grad_s,
        "cold_forward_steps": cold.counters.forward_steps,
    }))
}

/// The spec's objective (the misfit to the state reached from ω_B) as a
/// [`rewind_sim::Problem`].
type SpecProblem = rewind_sim::Problem<rewind_ns2d::Ns2d, rewind_sim::Terminal>;

fn spec_problem(case: spec::Case, strategy: Strategy) -> Result<SpecProblem> {
    let n = case.size.table().0;
    let p = spec::params(case.size);
    let mut st = rewind_ns2d::stepper::<f64>(p.clone(), Par::Pool)?;
    let target = spec::advance(&mut st, &spec::field_b(n), case.steps)?;
    let area = (2.0 * std::f64::consts::PI / n as f64).powi(2);
    let loss = rewind_sim::Terminal::state(target).weight(area);
    Ok(rewind_sim::Problem::new(rewind_ns2d::Ns2d::new(p)?, loss, strategy, case.steps, Par::Pool)?)
}

/// `k` HVPs of the spec's objective at ω_A, member `j` in the direction `v`
/// rolled by `j` rows, spread over `ensemble` and summed in member order.
fn hvp_ensemble(
    case: spec::Case,
    strategy: Strategy,
    k: usize,
    ensemble: &rewind_sim::Ensemble,
    quiet: bool,
    fault: Option<(usize, String)>,
) -> Result<serde_json::Value> {
    use std::time::Instant;
    let t_all = Instant::now();
    let n = case.size.table().0;
    // every rank makes the target itself (one primal run)
    let t0 = Instant::now();
    let mut problem = ensemble.everywhere(|| spec_problem(case, strategy).map_err(|e| format!("{e:#}")))?;
    let setup_s = t0.elapsed().as_secs_f64();
    let (wa, v) = (spec::field_a(n), spec::direction_v(n));
    let no_p = vec![0.0; problem.param_set().len()];
    let bar = crate::common::progress_bar(k as u64, "HVPs", quiet || !ensemble.is_root());
    let t0 = Instant::now();
    let members = ensemble.map(
        k,
        |j| -> Result<(Vec<f64>, Vec<f64>), rewind_sim::SimError> {
            let mut dir = v.clone();
            dir.rotate_left((j * n) % v.len());
            let mut at = std::borrow::Cow::Borrowed(&wa);
            match fault.as_ref().filter(|(m, _)| *m == j).map(|(_, k)| k.as_str()) {
                Some("blowup") => at = std::borrow::Cow::Owned(wa.iter().map(|w| w * 1e4).collect()),
                Some("nan") => dir[n + 1] = f64::NAN,
                Some("panic") => panic!("fault injected into member {j} (--fault)"),
                _ => {}
            }
            let t = Instant::now();
            let h = problem.hvp(&at, &dir, &no_p)?;
            Ok((vec![t.elapsed().as_secs_f64(), h.gradient.counters.forward_steps as f64], h.x0))
        },
        |d, _| bar.set_position(d as u64),
    );
    bar.finish_and_clear();
    let members = members.context("the HVP ensemble failed")?;
    let products_s = t0.elapsed().as_secs_f64();
    let mut sum = vec![0.0; wa.len()];
    for (_, h) in &members {
        sum.iter_mut().zip(h).for_each(|(s, x)| *s += x);
    }
    let member_s: Vec<f64> = members.iter().map(|(t, _)| t[0]).collect();
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    Ok(json!({
        "grid": [n, n],
        "steps": case.steps,
        "schedule": strategy.to_string(),
        "members": k,
        "ranks": ensemble.size(),
        "threads": rayon::current_num_threads(),
        "setup_s": setup_s,
        "products_s": products_s,
        "wall_s": t_all.elapsed().as_secs_f64(),
        "member_s": member_s,
        "member_forward_steps": members.iter().map(|(t, _)| t[1]).collect::<Vec<_>>(),
        "exchange_s_rank0": ensemble.exchange_seconds(),
        "hvp_norms": members.iter().map(|(_, h)| norm(h)).collect::<Vec<_>>(),
        "sum_norm": norm(&sum),
        "sum_bits": crate::common::bits(&sum),
        "peak_rss_bytes_rank0": crate::common::peak_rss_bytes(),
    }))
}

/// `run` on `pool` with a progress bar of `total` step evaluations that
/// `run`'s tick advances and labels with the phase it names.
fn with_phases<R, E>(
    pool: &rayon::ThreadPool,
    total: u64,
    first: rewind_sim::Phase,
    quiet: bool,
    run: impl FnOnce(&mut dyn FnMut(rewind_sim::Phase)) -> Result<R, E> + Send,
) -> Result<R, E>
where
    R: Send,
    E: Send,
{
    let mut phase = first;
    let bar = crate::common::progress_bar(total, phase.label(), quiet);
    let r = pool.install(|| {
        run(&mut |p| {
            if p != phase {
                phase = p;
                bar.set_message(p.label());
            }
            bar.inc(1);
        })
    });
    bar.finish_and_clear();
    r
}

fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")
}
