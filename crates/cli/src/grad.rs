//! `rewind grad` and `rewind hvp`: the gradient, or the gradient and a
//! Hessian-vector product, of a model's default objective (see
//! [`crate::models`]; for ns2d the spec's `J(ω₀) = ½ h² Σ (Φ(ω₀) − Φ(ω_B))²`
//! at `ω₀ = ω_A`) under a chosen checkpoint schedule, with what it cost;
//! `--check` compares with central finite differences along the default
//! direction. One path for every model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_checkpoint::{Counters, Counts, DiskScalar, DiskStore, RamStore, SnapshotStore, StoreError, Strategy};
use rewind_checkpoint::{check, optimal_forward_steps};
use rewind_field::Dual;
use rewind_sim::{Gradient, ParamSet};
use serde_json::{Value, json};

use crate::common::{self, Common, dot, norm};
use crate::config::Config;
use crate::memory::Need;
use crate::models::AnyProblem;

/// Arguments of `rewind grad` and `rewind hvp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Compare with central finite differences along the direction v
    /// (the directional derivative and H v); fails if they disagree.
    #[arg(long)]
    pub(crate) check: bool,
    /// Corrupt the disk snapshot of this state right after it is written
    /// (exercises the checksum path end to end).
    #[arg(long, hide = true)]
    pub(crate) corrupt_snapshot: Option<usize>,
    /// Split the one simulation over the MPI ranks (`mpirun -n K rewind
    /// grad --decompose`): each rank steps, records and stores its slab of
    /// x-planes, the memory budget (--memory) is per rank, and the results
    /// are the same bits on any number of ranks. The parameters are held
    /// fixed (the field parameters' gradient is reported). Without MPI:
    /// one rank.
    #[arg(long)]
    pub(crate) decompose: bool,
}

/// `H v`: its initial-state part and its parameter part.
type HvParts = (Vec<f64>, Vec<f64>);

/// A disk store that can damage one of its files on purpose.
struct Faulty<T> {
    store: DiskStore<T>,
    corrupt: Option<usize>,
}

impl<T: DiskScalar> SnapshotStore<T> for Faulty<T> {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        self.store.put(step, state)?;
        if self.corrupt == Some(step) {
            let path = self.store.path(step);
            let mut bytes = std::fs::read(&path)?;
            let last = bytes.len() - 1;
            bytes[last] ^= 0x5a;
            std::fs::write(&path, bytes)?;
        }
        Ok(())
    }
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        self.store.get(step, out)
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        self.store.remove(step)
    }
    fn len(&self) -> usize {
        self.store.len()
    }
    fn bytes(&self) -> usize {
        self.store.bytes()
    }
}

/// The schedule's two levels: RAM, and a disk store (in
/// `gradient.snapshot_dir`) if the schedule has a disk level.
fn stores<T: DiskScalar + 'static>(
    c: &Config,
    strategy: Strategy,
    steps: usize,
    corrupt: Option<usize>,
) -> Result<(RamStore<T>, Box<dyn SnapshotStore<T>>)> {
    let disk: Box<dyn SnapshotStore<T>> = if strategy.budget(steps)[1] > 0 {
        let dir: PathBuf = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
        let store =
            DiskStore::new(&dir).with_context(|| format!("cannot create a snapshot directory in {}", dir.display()))?;
        Box::new(Faulty { store, corrupt })
    } else {
        Box::new(RamStore::new())
    };
    Ok((RamStore::new(), disk))
}

/// The schedule's planned counts.
fn planned(strategy: Strategy, steps: usize) -> Result<Counts> {
    let schedule = strategy.schedule(steps).with_context(|| format!("cannot build the {strategy} schedule"))?;
    check(&schedule, strategy.budget(steps)).context("the schedule failed its check")
}

fn cost_figures(strategy: Strategy, steps: usize, counts: &Counts, counters: &Counters) -> Result<Value> {
    let budget = strategy.budget(steps);
    let optimal = optimal_forward_steps(steps, (budget[0] + budget[1]).clamp(1, steps.max(1)));
    Ok(json!({
        "schedule": strategy.to_string(),
        "forward_steps": counters.forward_steps,
        "scheduled_forward_steps": counts.forward_steps,
        "optimal_forward_steps": optimal,
        "recomputation_factor": counters.forward_steps as f64 / steps.max(1) as f64,
        "snapshot_budget": budget,
        "peak_snapshots": counters.peak_snapshots,
        "snapshot_writes": counters.writes,
        "snapshot_reads": counters.reads,
        "peak_snapshot_bytes": counters.peak_snapshot_bytes,
    }))
}

/// Each parameter's part of `v`: its value if a scalar, its norm if a field.
fn by_param(set: &ParamSet, v: &[f64]) -> Value {
    let mut m = serde_json::Map::new();
    for (name, p) in set.entries() {
        let Ok(r) = set.range(name) else { continue };
        let part = &v[r];
        m.insert(name.clone(), if p.is_field() { json!({ "norm": norm(part) }) } else { json!(part.first()) });
    }
    Value::Object(m)
}

fn print(report: &Value, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    if let Value::Object(m) = report {
        for (k, v) in m {
            match v {
                Value::Object(inner) => {
                    println!("{k}:");
                    for (k2, v2) in inner {
                        println!("  {k2:<24} {v2}");
                    }
                }
                _ => println!("{k:<26} {v}"),
            }
        }
    }
    Ok(())
}

/// Writes `<name>.h5` — every state field of every vector in `vectors`,
/// as `<vector>_<field>`, and every field parameter's part of the vectors
/// in `by_params` (the gradient's and `H v`'s), as `<vector>_<parameter>` —
/// and `<name>.png` (2D fields; a 3D field's middle x–z section).
fn write_fields(
    p: &dyn AnyProblem,
    c: &Config,
    name: &str,
    vectors: &[(&str, &[f64])],
    by_params: &[(&str, &[f64])],
    report: &Value,
) -> Result<()> {
    let l = p.layout();
    let g = *l.grid();
    let dir = common::out_dir(c)?;
    let mut out = rewind_io::Output::create(dir.join(format!("{name}.h5")), common::grid_info(&g))?;
    common::metadata(&out, c, name, p.about())?;
    out.attr("report", &report.to_string())?;
    let mut panels: Vec<(String, &[f64])> = Vec::new();
    for &(what, v) in vectors {
        for f in l.fields() {
            let part = l.part(v, f)?;
            out.field(&format!("{what}_{f}"), part)?;
            let (description, units) = match what {
                "initial" => (format!("the initial state x₀, field {f}"), format!("model units of {f}")),
                "direction" => (format!("the direction v of the HVP, field {f}"), format!("model units of {f}")),
                "gradient" => {
                    (format!("∂J/∂x₀, field {f}; J: {}", p.about()), format!("units of J per model unit of {f}"))
                }
                _ => {
                    (format!("the Hessian-vector product H v, field {f}"), format!("units of J per model unit of {f}"))
                }
            };
            out.describe(&format!("{what}_{f}"), &description, &units)?;
            let words = match what {
                "initial" => "initial state",
                "direction" => "direction v",
                "gradient" => "gradient ∂J/∂x₀",
                "hvp" => "Hessian-vector product H v",
                other => other,
            };
            panels.push((format!("{words}: {f}"), part));
        }
    }
    let set = p.param_set();
    for &(what, v) in by_params {
        for (param, _) in set.entries().iter().filter(|(_, value)| value.is_field()) {
            let part = v.get(set.range(param)?).with_context(|| format!("{what} has no part in {param}"))?;
            out.field(&format!("{what}_{param}"), part)?;
            let (description, words) = match what {
                "gradient" => (format!("∂J/∂{param}; J: {}", p.about()), format!("gradient ∂J/∂{param}")),
                _ => (format!("the Hessian-vector product H v, its part in {param}"), format!("H v, part in {param}")),
            };
            out.describe(&format!("{what}_{param}"), &description, &format!("units of J per unit of {param}"))?;
            panels.push((words, part));
        }
    }
    out.finish()?;
    if c.output.plots {
        let panels: Vec<(&str, &[f64])> = panels.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        common::plot_fields(&dir.join(format!("{name}.png")), &g, &panels, false)?;
    }
    Ok(())
}

/// `rewind grad` (`second = false`) and `rewind hvp` (`second = true`):
/// prints the figures, then fails if `--check` found a disagreement.
/// With `--decompose`, on the ranks of `ensemble` (rank 0 prints).
pub(crate) fn main(a: &Args, second: bool, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    let report = if a.decompose { split_figures(a, second, ensemble)? } else { figures(a, second)? };
    if !ensemble.is_root() {
        return Ok(());
    }
    print(&report, a.common.json)?;
    if report["check"]["passed"] == Value::Bool(false) {
        let tol = report["check"]["tolerance"].as_f64().unwrap_or(f64::NAN);
        let failed: Vec<String> = report["check"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["relative_error"].as_f64().is_none_or(|e| e > tol))
            .map(|p| {
                format!(
                    "{} {:.3e}",
                    p["part"].as_str().unwrap_or("?"),
                    p["relative_error"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        bail!(
            "{} check failed: relative error > {tol:e} in {}",
            if second { "HVP" } else { "gradient" },
            failed.join(", ")
        );
    }
    Ok(())
}

/// The figures of `rewind grad` or `rewind hvp` (files written unless
/// `--no-files`).
pub(crate) fn figures(a: &Args, second: bool) -> Result<Value> {
    let (mut p, c) = crate::models::from_args(&a.common, if second { Need::Hvp } else { Need::Gradient })?;
    common::pool(&c)?.install(|| compute(a, &c, p.as_mut(), second, None))
}

/// The figures of `rewind grad --decompose` or `rewind hvp --decompose`,
/// the same on every rank (rank 0 alone writes files): the problem split
/// over the ranks, run on this thread (the one that calls MPI) with the
/// kernels' threads in the global pool.
fn split_figures(a: &Args, second: bool, ensemble: &rewind_sim::Ensemble) -> Result<Value> {
    let need = if second { Need::Hvp } else { Need::Gradient };
    let (mut p, c, split) = crate::models::split_from_args(&a.common, need, ensemble)?;
    let root = ensemble.is_root();
    let mine = Args {
        common: Common { quiet: a.common.quiet || !root, no_files: a.common.no_files || !root, ..a.common.clone() },
        check: a.check,
        corrupt_snapshot: a.corrupt_snapshot,
        decompose: true,
    };
    let mut report = compute(&mine, &c, p.as_mut(), second, Some(ensemble))?;
    report["decompose"] = split;
    Ok(report)
}

/// The figures of `p`; `together`: the ranks a split problem runs on
/// (what each rank makes alone, its snapshot stores, is agreed).
fn compute(
    a: &Args,
    c: &Config,
    p: &mut dyn AnyProblem,
    second: bool,
    together: Option<&rewind_sim::Ensemble>,
) -> Result<Value> {
    let model = crate::models::chosen(&a.common).name();
    let (steps, strategy) = (p.steps(), p.strategy());
    let x0 = p.x0().to_vec();
    let (v_x, v_p) = (p.direction().0.to_vec(), p.direction().1.to_vec());
    let t0 = Instant::now();
    // the primal: the objective by one forward run (a split problem's run
    // would gather every state on every rank; its value does not)
    p.value(&x0).with_context(|| format!("the {model} primal run failed"))?;
    let primal_s = t0.elapsed().as_secs_f64();
    let label = if second { "HVP" } else { "gradient" };
    let counts = planned(strategy, steps)?;
    let bar = a.common.bar(counts.forward_steps, label);
    let t0 = Instant::now();
    // the gradient, and H v's state and parameter parts
    let (g, hv): (Gradient, Option<HvParts>) = if second {
        let make = || stores::<Dual<f64>>(c, strategy, steps, a.corrupt_snapshot);
        let (mut ram, mut disk) = match together {
            Some(e) => crate::models::on_every_rank(e, make)?,
            None => make()?,
        };
        let h = p.hvp_on(&x0, &v_x, &v_p, [&mut ram, disk.as_mut()], &mut || bar.inc(1));
        let h = h.with_context(|| format!("the {model} HVP under {strategy} failed"))?;
        (h.gradient, Some((h.x0, h.params)))
    } else {
        let make = || stores::<f64>(c, strategy, steps, a.corrupt_snapshot);
        let (mut ram, mut disk) = match together {
            Some(e) => crate::models::on_every_rank(e, make)?,
            None => make()?,
        };
        let g = p.gradient_on(&x0, [&mut ram, disk.as_mut()], &mut || bar.inc(1));
        (g.with_context(|| format!("the {model} gradient under {strategy} failed"))?, None)
    };
    let secs = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let grid = p.layout().grid();
    let mut report = json!({
        "model": model,
        "problem": p.about(),
        "grid": common::grid_json(grid),
        "steps": steps,
        "objective": g.objective,
        "grad_norm": norm(&g.x0),
        "grad_bits": common::bits(&g.x0),
        "grad_params": by_param(p.param_set(), &g.params),
        "grad_dot_v": dot(&g.x0, &v_x) + dot(&g.params, &v_p),
        "primal_s": primal_s,
        if second { "hvp_s" } else { "grad_s" }: secs,
        if second { "hvp_over_primal" } else { "grad_over_primal" }: secs / primal_s,
        "cost": cost_figures(strategy, steps, &counts, &g.counters)?,
        "peak_rss_bytes": common::peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
    });
    if let Some((hx, hp)) = &hv {
        report["hvp_norm"] = json!(norm(hx));
        report["hvp_bits"] = json!(common::bits(hx));
        report["hvp_params"] = by_param(p.param_set(), hp);
        report["v_dot_hvp"] = json!(dot(hx, &v_x) + dot(hp, &v_p));
    }
    if a.check {
        let r = p.check(c.gradient.fd_step).with_context(|| format!("the {model} check failed to run"))?;
        let tolerance = if second { 1e-5 } else { 1e-6 };
        let parts: Vec<Value> = r
            .parts
            .iter()
            .map(|part| {
                let (error, eps) = if second { part.hvp_error() } else { part.gradient_error() };
                let fd = part.steps.iter().find(|s| s.eps == eps).map_or(f64::NAN, |s| s.directional_fd);
                let mut row = json!({"part": part.part, "scale": part.scale, "eps": eps, "relative_error": error});
                if !second {
                    row["adjoint"] = json!(part.directional);
                    row["finite_difference"] = json!(fd);
                }
                row
            })
            .collect();
        let worst = if second { r.hvp_error() } else { r.gradient_error() };
        let what = if second {
            "per part of v (scaled to the part's size), H v against (grad J(z + eps v) - grad J(z - eps v)) / (2 eps), largest difference over largest |H v|, best of eps = fd_step x {10, 1, 0.1}"
        } else {
            "per part of v (scaled to the part's size), <grad J, v> against (J(z + eps v) - J(z - eps v)) / (2 eps), best of eps = fd_step x {10, 1, 0.1}"
        };
        report["check"] = json!({
            "what": what, "parts": parts, "relative_error": worst, "tolerance": tolerance, "passed": worst <= tolerance,
        });
    }
    if let Some(e) = together {
        // every rank's peak memory, in rank order (the last collective:
        // rank 0 writes its files after it, alone)
        let rss = common::peak_rss_bytes().unwrap_or(0).to_le_bytes();
        let all = e.comm().all_gather(&rss)?;
        let per_rank: Vec<u64> =
            all.iter().map(|b| b.get(..8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes)).collect();
        report["peak_rss_bytes_per_rank"] = json!(per_rank);
    }
    if !a.common.no_files {
        let name = if second { "hvp" } else { "grad" };
        match &hv {
            Some((hx, hp)) => write_fields(
                p,
                c,
                name,
                &[("initial", &x0), ("direction", &v_x), ("gradient", &g.x0), ("hvp", hx)],
                &[("gradient", &g.params), ("hvp", hp)],
                &report,
            )?,
            None => {
                write_fields(p, c, name, &[("initial", &x0), ("gradient", &g.x0)], &[("gradient", &g.params)], &report)?
            }
        }
    }
    Ok(report)
}
