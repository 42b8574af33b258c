//! `rewind grad` and `rewind hvp`: the gradient, or the gradient and a
//! Hessian-vector product, of the ns2d-periodic objective
//! `J(ω₀) = ½ h² Σ (Φ(ω₀) − Φ(ω_B))²` at `ω₀ = ω_A` under a chosen
//! checkpoint schedule, with what it cost; `--check` compares with central
//! finite differences along the spec's direction `v`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_checkpoint::{
    Counts, Observed, Outcome, RamStore, SnapshotStore, StoreError, Strategy, check, optimal_forward_steps, run,
};
use rewind_checkpoint::{DiskScalar, DiskStore};
use rewind_field::Components;
use rewind_io::Output;
use rewind_ns2d::TerminalMisfit;
use rewind_ns2d::spec::{self, advance};
use rewind_tape::Dual;
use serde_json::{Value, json};

use crate::common::{self, Common, dot, norm};
use crate::config::Config;

/// Arguments of `rewind grad` and `rewind hvp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Compare with central finite differences along the direction v
    /// (the directional derivative for grad, H v for hvp); fails if they
    /// disagree.
    #[arg(long)]
    pub(crate) check: bool,
    /// Corrupt the disk snapshot of this state right after it is written
    /// (exercises the checksum path end to end).
    #[arg(long, hide = true)]
    pub(crate) corrupt_snapshot: Option<usize>,
}

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

/// The problem: flow, target, point and direction.
pub(crate) struct Problem {
    pub(crate) config: Config,
    pub(crate) strategy: Strategy,
    pub(crate) x0: Vec<f64>,
    pub(crate) v: Vec<f64>,
    pub(crate) objective: TerminalMisfit,
    pub(crate) primal_s: f64,
}

impl Problem {
    pub(crate) fn new(c: &Config) -> Result<Self> {
        let n = c.simulation.n;
        let steps = c.simulation.steps;
        let mut primal = common::ns2d::<f64>(c)?;
        let target = advance(&mut primal, &spec::field_b(n), steps).context("the target run (from field B) failed")?;
        let x0 = spec::field_a(n);
        let t0 = Instant::now();
        let end = advance(&mut primal, &x0, steps).context("the primal run (from field A) failed")?;
        let primal_s = t0.elapsed().as_secs_f64();
        std::hint::black_box(end);
        let area = common::grid(c).dx * common::grid(c).dy;
        Ok(Problem {
            config: c.clone(),
            strategy: common::strategy(c)?,
            x0,
            v: spec::direction_v(n),
            objective: TerminalMisfit { target, area },
            primal_s,
        })
    }

    /// The finite-difference step `ε` (relative to `‖x₀‖ / ‖v‖`) and the
    /// points `x₀ ± ε v`.
    fn shifted(&self) -> (f64, Vec<f64>, Vec<f64>) {
        let eps = self.config.gradient.fd_step * norm(&self.x0) / norm(&self.v);
        let at = |sign: f64| self.x0.iter().zip(&self.v).map(|(x, v)| x + sign * eps * v).collect();
        (eps, at(1.0), at(-1.0))
    }

    /// `J` at `x` by a primal run.
    fn value(&self, x: &[f64]) -> Result<f64> {
        let mut primal = common::ns2d::<f64>(&self.config)?;
        let end = advance(&mut primal, x, self.config.simulation.steps)?;
        Ok(0.5
            * self.objective.area
            * end.iter().zip(&self.objective.target).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
    }

    /// Runs the schedule over scalars `T` from `x0`.
    pub(crate) fn drive<T: Components + DiskScalar>(
        &mut self,
        x0: &[T],
        common: &Common,
        corrupt: Option<usize>,
        label: &str,
    ) -> Result<(Outcome<T>, Counts, f64)> {
        let c = &self.config;
        let n = c.simulation.steps;
        let schedule =
            self.strategy.schedule(n).with_context(|| format!("cannot build the {} schedule", self.strategy))?;
        let counts = check(&schedule, self.strategy.budget(n)).context("the schedule failed its check")?;
        let mut stepper = common::ns2d::<T>(c)?;
        let mut ram = RamStore::new();
        let mut disk: Box<dyn SnapshotStore<T>> = if self.strategy.budget(n)[1] > 0 {
            let dir: PathBuf = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
            let store = DiskStore::new(&dir)
                .with_context(|| format!("cannot create a snapshot directory in {}", dir.display()))?;
            Box::new(Faulty { store, corrupt })
        } else {
            Box::new(RamStore::new())
        };
        let bar = common.bar(counts.forward_steps, label);
        let t0 = Instant::now();
        let out = {
            let mut objective = stepper.objective(self.objective.clone());
            let mut prog = Observed { inner: &mut stepper, tick: || bar.inc(1) };
            run(&mut prog, &mut objective, &schedule, x0, [&mut ram, disk.as_mut()])
        };
        let secs = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let out = out.with_context(|| format!("the {label} run under {} failed", self.strategy))?;
        Ok((out, counts, secs))
    }

    fn gradient(&mut self, x: &[f64], common: &Common) -> Result<Vec<f64>> {
        Ok(self.drive(x, common, None, "gradient")?.0.grad_x0)
    }
}

fn cost_figures(p: &Problem, counts: &Counts, out_steps: usize, counters: &rewind_checkpoint::Counters) -> Value {
    let budget = p.strategy.budget(out_steps);
    let optimal = optimal_forward_steps(out_steps, (budget[0] + budget[1]).clamp(1, out_steps));
    json!({
        "schedule": p.strategy.to_string(),
        "forward_steps": counters.forward_steps,
        "scheduled_forward_steps": counts.forward_steps,
        "optimal_forward_steps": optimal,
        "recomputation_factor": counters.forward_steps as f64 / out_steps as f64,
        "snapshot_budget": budget,
        "peak_snapshots": counters.peak_snapshots,
        "snapshot_writes": counters.writes,
        "snapshot_reads": counters.reads,
        "peak_snapshot_bytes": counters.peak_snapshot_bytes,
    })
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

fn write_fields(p: &Problem, common: &Common, name: &str, fields: &[(&str, &[f64])], report: &Value) -> Result<()> {
    if common.no_files {
        return Ok(());
    }
    let c = &p.config;
    let dir = common::out_dir(c)?;
    let path = dir.join(format!("{name}.h5"));
    let mut out = Output::create(&path, common::grid_info(c))?;
    common::metadata(&out, c, name)?;
    out.attr("report", &report.to_string())?;
    for (k, f) in fields {
        out.field(k, f)?;
    }
    out.finish()?;
    if c.output.plots {
        rewind_io::plot::fields(dir.join(format!("{name}.png")), c.simulation.n, c.simulation.n, fields, false)?;
    }
    Ok(())
}

/// `rewind grad` (`second = false`) and `rewind hvp` (`second = true`):
/// prints the figures, then fails if `--check` found a disagreement.
pub(crate) fn main(a: &Args, second: bool) -> Result<()> {
    let report = figures(a, second)?;
    print(&report, a.common.json)?;
    if report["check"]["passed"] == Value::Bool(false) {
        bail!(
            "{} check failed: relative error {:.3e} > {:e}",
            if second { "HVP" } else { "gradient" },
            report["check"]["relative_error"].as_f64().unwrap_or(f64::NAN),
            report["check"]["tolerance"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// The figures of `rewind grad` or `rewind hvp` (files written unless
/// `--no-files`).
pub(crate) fn figures(a: &Args, second: bool) -> Result<Value> {
    if crate::models::chosen(&a.common) != crate::models::SimName::Ns2d {
        return crate::models::grad_figures(&a.common, second, a.check);
    }
    let mut c = a.common.config()?;
    crate::memory::check_fits(&mut c, if second { crate::memory::Need::Hvp } else { crate::memory::Need::Gradient })?;
    let pool = common::pool(&c)?;
    pool.install(|| if second { hvp(a, &c) } else { grad(a, &c) })
}

fn grad(a: &Args, c: &Config) -> Result<Value> {
    let mut p = Problem::new(c)?;
    let x0 = p.x0.clone();
    let (out, counts, secs) = p.drive(&x0, &a.common, a.corrupt_snapshot, "gradient")?;
    let g = out.grad_x0;
    let steps = c.simulation.steps;
    let mut report = json!({
        "problem": "ns2d-periodic objective at field A",
        "N": c.simulation.n,
        "steps": steps,
        "loss": out.objective,
        "grad_norm": norm(&g),
        "grad_dot_v": dot(&g, &p.v),
        "primal_s": p.primal_s,
        "grad_s": secs,
        "grad_over_primal": secs / p.primal_s,
        "cost": cost_figures(&p, &counts, steps, &out.counters),
        "peak_rss_bytes": common::peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
    });
    if a.check {
        let (eps, plus, minus) = p.shifted();
        let fd = (p.value(&plus)? - p.value(&minus)?) / (2.0 * eps);
        let ad = dot(&g, &p.v);
        let rel = (fd - ad).abs() / ad.abs().max(f64::MIN_POSITIVE);
        let tol = 1e-6;
        report["check"] = json!({
            "what": "<grad J, v> against (J(x + eps v) - J(x - eps v)) / (2 eps)",
            "eps": eps, "finite_difference": fd, "adjoint": ad, "relative_error": rel, "tolerance": tol,
            "passed": rel <= tol,
        });
    }
    write_fields(&p, &a.common, "grad", &[("omega_a", &p.x0), ("gradient", &g)], &report)?;
    Ok(report)
}

fn hvp(a: &Args, c: &Config) -> Result<Value> {
    let mut p = Problem::new(c)?;
    let xd: Vec<Dual<f64>> = p.x0.iter().zip(&p.v).map(|(&x, &v)| Dual::new(x, v)).collect();
    let (out, counts, secs) = p.drive(&xd, &a.common, a.corrupt_snapshot, "HVP")?;
    let g: Vec<f64> = out.grad_x0.iter().map(|d| d.re).collect();
    let hv: Vec<f64> = out.grad_x0.iter().map(|d| d.eps).collect();
    let steps = c.simulation.steps;
    let mut report = json!({
        "problem": "ns2d-periodic objective at field A, direction v = sin(x + 2y)",
        "N": c.simulation.n,
        "steps": steps,
        "loss": out.objective.re,
        "grad_norm": norm(&g),
        "grad_dot_v": dot(&g, &p.v),
        "hvp_norm": norm(&hv),
        "v_dot_hvp": dot(&p.v, &hv),
        "primal_s": p.primal_s,
        "hvp_s": secs,
        "hvp_over_primal": secs / p.primal_s,
        "cost": cost_figures(&p, &counts, steps, &out.counters),
        "peak_rss_bytes": common::peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
    });
    if a.check {
        let (eps, plus, minus) = p.shifted();
        let quiet = Common { quiet: true, ..a.common.clone() };
        let (gp, gm) = (p.gradient(&plus, &quiet)?, p.gradient(&minus, &quiet)?);
        let fd: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
        let diff: Vec<f64> = fd.iter().zip(&hv).map(|(a, b)| a - b).collect();
        let rel = norm(&diff) / norm(&hv).max(f64::MIN_POSITIVE);
        let tol = 1e-5;
        report["check"] = json!({
            "what": "H v against (grad J(x + eps v) - grad J(x - eps v)) / (2 eps)",
            "eps": eps, "relative_error": rel, "tolerance": tol, "passed": rel <= tol,
        });
    }
    write_fields(
        &p,
        &a.common,
        "hvp",
        &[("omega_a", &p.x0), ("direction_v", &p.v), ("gradient", &g), ("hvp", &hv)],
        &report,
    )?;
    Ok(report)
}
