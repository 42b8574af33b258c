//! `rewind run`: a forward simulation of a model (ns2d by default) from its
//! default initial state, with every field of the state written every
//! `output.every` steps to `run.h5` (and its XDMF sidecar for ParaView) and
//! the first and last states plotted. One path for every model.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use rewind_io::Output;
use serde_json::{Value, json};

use crate::common::{self, Common, norm};
use crate::config::{Config, Initial};
use crate::memory::Need;
use crate::models::AnyProblem;
use rewind_models::ModelName;

/// Arguments of `rewind run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Split the one simulation over the MPI ranks (`mpirun -n K rewind
    /// run --decompose`): each rank steps its slab of x-planes; rank 0
    /// gathers the states it writes. Without MPI: one rank.
    #[arg(long)]
    pub(crate) decompose: bool,
}

/// `rewind run` (with `--decompose`, on the ranks of `ensemble`).
pub(crate) fn main(a: &Args, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    if a.decompose {
        let (mut p, c, split) = crate::models::split_from_args(&a.common, Need::Primal, ensemble)?;
        return simulate(a, &c, p.as_mut(), Some((ensemble, split)));
    }
    let (mut p, c) = crate::models::from_args(&a.common, Need::Primal)?;
    common::pool(&c)?.install(|| simulate(a, &c, p.as_mut(), None))
}

/// The run of `p`; a split run (`split`: its ranks and how it was split)
/// prints and writes files on rank 0 alone, the others only step.
fn simulate(a: &Args, c: &Config, p: &mut dyn AnyProblem, split: Option<(&rewind_sim::Ensemble, Value)>) -> Result<()> {
    let root = split.as_ref().is_none_or(|(e, _)| e.is_root());
    let name = crate::models::chosen(&a.common);
    let l = p.layout().clone();
    let g = *l.grid();
    let (steps, dt) = (p.steps(), p.dt());
    // ns2d starts from the spec's field A or B (`simulation.initial`)
    let x0 = match (name, c.simulation.initial) {
        (ModelName::Ns2d, Initial::B) => p.truth().to_vec(),
        _ => p.x0().to_vec(),
    };
    {
        let files = !a.common.no_files && root;
        // rank 0's file, made before the run: a split run's ranks agree on it
        let open = || -> Result<_> {
            let dir = if files { Some(common::out_dir(c)?) } else { None };
            let out = match &dir {
                Some(d) => {
                    let o = Output::create(d.join("run.h5"), common::grid_info(&g))?;
                    common::metadata(&o, c, "run", p.about())?;
                    o.attr("model", name.name())?;
                    Some(o)
                }
                None => None,
            };
            Ok((dir, out))
        };
        let (dir, mut out) = match &split {
            Some((e, _)) => crate::models::on_every_rank(e, open)?,
            None => open()?,
        };
        let bar = if root { a.common.bar(steps as u64, "steps") } else { indicatif::ProgressBar::hidden() };
        let mut frames = 0;
        let mut last = x0.clone();
        let every = c.output.every;
        let t0 = Instant::now();
        // the states written (a split run gathers those alone)
        let frame = |t: usize| t % every == 0 || t == steps;
        p.run_at(&x0, steps, &frame, &mut |t, x| {
            bar.set_position(t as u64);
            if let Some(o) = &mut out {
                for f in l.fields() {
                    o.append(f, t, t as f64 * dt, l.part(x, f)?)?;
                    if t == 0 {
                        o.describe(
                            f,
                            &format!("the state field {f}, one frame per row of {f}_time"),
                            &format!("model units of {f}"),
                        )?;
                        o.describe(&format!("{f}_time"), "the simulated time of each frame", "model time units")?;
                        o.describe(&format!("{f}_step"), "the step of each frame", "steps")?;
                    }
                }
            }
            frames += 1;
            if t == steps {
                last.copy_from_slice(x);
            }
            Ok(())
        })
        .with_context(|| format!("the {} run failed", name.name()))?;
        let wall = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let mut files_written = Vec::new();
        if let (Some(o), Some(d)) = (out, &dir) {
            let path = o.finish()?;
            files_written.push(path.display().to_string());
            files_written.push(path.with_extension("xmf").display().to_string());
            if c.output.plots {
                let titles: Vec<(String, String)> = l
                    .fields()
                    .iter()
                    .map(|f| (format!("{f} at t = 0"), format!("{f} at t = {:.3}", steps as f64 * dt)))
                    .collect();
                let mut panels: Vec<(&str, &[f64])> = Vec::new();
                for (f, (ti, tf)) in l.fields().iter().zip(&titles) {
                    panels.push((ti, l.part(&x0, f)?));
                    panels.push((tf, l.part(&last, f)?));
                }
                if let Some(png) = common::plot_fields(&d.join("run.png"), &g, &panels, false)? {
                    files_written.push(png.display().to_string());
                }
            }
        }
        let cell = common::cell(&g);
        let mut state = serde_json::Map::new();
        for f in l.fields() {
            let (a0, a1) = (l.part(&x0, f)?, l.part(&last, f)?);
            let max = a1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if !max.is_finite() {
                bail!("the {} run ended with a non-finite {f}", name.name());
            }
            state.insert(
                f.clone(),
                json!({
                    "half_square_integral_initial": 0.5 * cell * norm(a0).powi(2),
                    "half_square_integral_final": 0.5 * cell * norm(a1).powi(2),
                    "max_abs_final": max,
                }),
            );
        }
        let mut report = json!({
            "model": name.name(),
            "grid": common::grid_json(&g),
            "steps": steps,
            "dt": dt,
            "state": state,
            "wall_s": wall,
            "frames": if files { frames } else { 0 },
            "files": files_written,
            "final_bits": common::bits(&last),
            "peak_rss_bytes": common::peak_rss_bytes(),
        });
        if name == ModelName::Ns2d {
            report["initial"] = json!(format!("{:?}", c.simulation.initial));
        }
        if let Some((_, s)) = split {
            report["decompose"] = s;
        }
        if !root {
            return Ok(());
        }
        if a.common.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("ran {steps} steps of {} on {} in {wall:.3} s", name.name(), common::grid_text(&g));
            for (f, v) in &state {
                println!(
                    "  {f:<10} ½∫{f}²: {:.6e} -> {:.6e}, max |{f}| {:.6e}",
                    v["half_square_integral_initial"].as_f64().unwrap_or(f64::NAN),
                    v["half_square_integral_final"].as_f64().unwrap_or(f64::NAN),
                    v["max_abs_final"].as_f64().unwrap_or(f64::NAN)
                );
            }
            for f in &files_written {
                println!("  wrote {f}");
            }
        }
        Ok(())
    }
}
