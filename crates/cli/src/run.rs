//! `rewind run`: a forward simulation of the ns2d periodic flow, with the
//! vorticity written every `output.every` steps to `run.h5` (and its XDMF
//! sidecar for ParaView) and the first and last fields plotted.

use std::time::Instant;

use anyhow::{Context, Result};
use rewind_checkpoint::Stepper;
use rewind_io::Output;
use rewind_ns2d::spec;
use serde_json::json;

use crate::common::{self, Common, norm};
use crate::config::Initial;

/// Arguments of `rewind run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `rewind run`.
pub(crate) fn main(a: &Args) -> Result<()> {
    if crate::models::chosen(&a.common) != crate::models::SimName::Ns2d {
        return crate::models::run(&a.common);
    }
    let mut c = a.common.config()?;
    crate::memory::check_fits(&mut c, crate::memory::Need::Primal)?;
    let pool = common::pool(&c)?;
    pool.install(|| {
        let s = &c.simulation;
        let mut sim = common::ns2d::<f64>(&c)?;
        let w0 = match s.initial {
            Initial::A => spec::field_a(s.n),
            Initial::B => spec::field_b(s.n),
        };
        let files = !a.common.no_files;
        let dir = if files { Some(common::out_dir(&c)?) } else { None };
        let mut out = match &dir {
            Some(d) => {
                let o = Output::create(d.join("run.h5"), common::grid_info(&c))?;
                common::metadata(&o, &c, "run")?;
                Some(o)
            }
            None => None,
        };
        let frame = |out: &mut Option<Output>, step: usize, w: &[f64]| -> Result<()> {
            if let Some(o) = out {
                o.append("vorticity", step, step as f64 * s.dt, w)?;
            }
            Ok(())
        };
        frame(&mut out, 0, &w0)?;
        let bar = a.common.bar(s.steps as u64, "steps");
        let mut w = w0.clone();
        let mut next = vec![0.0; w.len()];
        let mut frames = 1;
        let t0 = Instant::now();
        let mut stepping = 0.0;
        for t in 0..s.steps {
            let ts = Instant::now();
            sim.step(t, &w, &mut next).with_context(|| format!("step {t} failed"))?;
            stepping += ts.elapsed().as_secs_f64();
            if let Some(i) = next.iter().position(|v| !v.is_finite()) {
                anyhow::bail!("the simulation blew up at step {t}: non-finite vorticity at grid index {i}");
            }
            std::mem::swap(&mut w, &mut next);
            if (t + 1) % c.output.every == 0 || t + 1 == s.steps {
                frame(&mut out, t + 1, &w)?;
                frames += 1;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let wall = t0.elapsed().as_secs_f64();
        let h2 = common::grid(&c).dx * common::grid(&c).dy;
        let mut files_written = Vec::new();
        if let (Some(o), Some(d)) = (out, &dir) {
            let p = o.finish()?;
            files_written.push(p.display().to_string());
            files_written.push(p.with_extension("xmf").display().to_string());
            if c.output.plots {
                let png = d.join("run.png");
                rewind_io::plot::fields(&png, s.n, s.n, &[("initial vorticity", &w0), ("final vorticity", &w)], true)?;
                files_written.push(png.display().to_string());
            }
        }
        let report = json!({
            "N": s.n,
            "steps": s.steps,
            "dt": s.dt,
            "initial": format!("{:?}", s.initial),
            "enstrophy_initial": 0.5 * h2 * norm(&w0).powi(2),
            "enstrophy_final": 0.5 * h2 * norm(&w).powi(2),
            "max_abs_vorticity_final": w.iter().fold(0.0f64, |m, v| m.max(v.abs())),
            "step_s": stepping,
            "wall_s": wall,
            "frames": if files { frames } else { 0 },
            "files": files_written,
            "peak_rss_bytes": common::peak_rss_bytes(),
        });
        if a.common.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "ran {} steps of the {}x{} periodic flow in {:.3} s ({:.3} s stepping)",
                s.steps, s.n, s.n, wall, stepping
            );
            println!(
                "  enstrophy   {:.6e} -> {:.6e}",
                report["enstrophy_initial"].as_f64().unwrap_or(f64::NAN),
                report["enstrophy_final"].as_f64().unwrap_or(f64::NAN)
            );
            for f in report["files"].as_array().into_iter().flatten() {
                println!("  wrote       {}", f.as_str().unwrap_or(""));
            }
        }
        Ok(())
    })
}
