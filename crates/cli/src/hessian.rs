//! `rewind hessian`: the dominant eigenpairs of the prior-preconditioned
//! Gauss–Newton Hessian of a model's twin experiment, by the randomized
//! eigensolver over Gauss–Newton products at a kept linearisation, and the
//! Laplace posterior's pointwise standard deviation (`rewind_sim::posterior`).

use anyhow::{Context, Result};

use crate::common::Common;

/// Arguments of `rewind hessian`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

/// What to compute.
#[derive(Debug, clap::Args)]
pub(crate) struct Settings {
    /// Eigenpairs kept.
    #[arg(long, default_value_t = 20)]
    pub(crate) k: usize,
    /// Extra random probes of the eigensolver (it makes 2 (k + oversample) products).
    #[arg(long, default_value_t = 10)]
    pub(crate) oversample: usize,
    /// Correlation length of the Gaussian background covariance, in grid cells.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) length_cells: f64,
    /// Background standard deviation, as a fraction of the largest |value| of the truth.
    #[arg(long, default_value_t = 0.1)]
    pub(crate) spread: f64,
    /// Seed of the random probes.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

impl Settings {
    /// Refuses what the eigensolver cannot do on `unknowns` unknowns.
    pub(crate) fn check(&self, unknowns: usize) -> anyhow::Result<()> {
        if self.k == 0 {
            anyhow::bail!("--k 0: ask for at least one eigenpair");
        }
        match self.k.checked_add(self.oversample) {
            Some(probes) if probes <= unknowns => Ok(()),
            _ => anyhow::bail!(
                "--k {} with --oversample {}: the eigensolver's k + oversample probes must not exceed the state's {unknowns} unknowns",
                self.k,
                self.oversample
            ),
        }
    }
}

/// `rewind hessian`: the dominant eigenpairs of the prior-preconditioned
/// Gauss–Newton Hessian of the model's twin experiment at its truth (the
/// minimiser), with a Gaussian background covariance of `length_cells`
/// cells and standard deviation `spread` × max|truth|, and the Laplace
/// posterior's pointwise standard deviation.
///
/// The eigensolver's blocks of products are spread over the ranks of
/// `ensemble`; every rank ends with the same figures, rank 0 reports them.
pub(crate) fn main(common: &crate::common::Common, a: &Settings, ensemble: &rewind_sim::Ensemble) -> Result<()> {
    let (mut p, c) = crate::models::from_args(common, crate::memory::Need::Hvp)?;
    let name = crate::models::chosen(common).name();
    let l = p.layout().clone();
    a.check(l.len())?;
    let g = *l.grid();
    let truth = p.truth().to_vec();
    let scale = truth.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let spread = a.spread * if scale > 0.0 { scale } else { 1.0 };
    let cell = if g.nx > 1 { g.dx } else { g.dy };
    let kind = rewind_field::CorrelationKind::Gaussian;
    let mut b = rewind_field::Correlation::new(g, kind, a.length_cells * cell, spread * spread)
        .context("cannot make the background covariance")?;
    let spectrum = rewind_sim::Spectrum { k: a.k, oversample: a.oversample, seed: a.seed };
    let root = ensemble.is_root();
    let total = 2 * (a.k + a.oversample).min(l.len()) as u64;
    let bar = crate::common::progress_bar(total, "products", common.quiet || common.json || !root);
    let t0 = std::time::Instant::now();
    crate::common::global_pool(crate::common::threads(&c))?;
    let post = p
        .posterior(&truth, &mut b, spectrum, ensemble, &mut |d, _| bar.set_position(d as u64))
        .with_context(|| format!("the {name} eigensolver failed"))?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if !root {
        return Ok(());
    }
    let mut std = serde_json::Map::new();
    for f in l.fields().iter().chain(l.scalars()) {
        let s = l.part(&post.std, f)?;
        std.insert(f.clone(), serde_json::json!(s.iter().sum::<f64>() / s.len().max(1) as f64));
    }
    let report = serde_json::json!({
        "model": name, "grid": crate::common::grid_json(&g), "steps": p.steps(), "k": a.k, "oversample": a.oversample, "seed": a.seed, "products": post.products,
        "wall_s": secs, "eigenvalues": post.eigenvalues, "background_std": spread,
        "length": a.length_cells * cell, "mean_posterior_std": std,
        "ranks": ensemble.size(), "threads": crate::common::threads(&c),
        "exchange_s": ensemble.exchange_seconds(),
        "eigenvalue_bits": crate::common::bits(&post.eigenvalues),
        "posterior_std_bits": crate::common::bits(&post.std),
    });
    if !common.no_files {
        let dir = crate::common::out_dir(&c)?;
        let path = dir.join(format!("hessian-{name}.h5"));
        let mut out = rewind_io::Output::create(&path, crate::common::grid_info(&g))?;
        crate::common::metadata(&out, &c, "hessian", p.about())?;
        out.attr("model", name)?;
        out.attr("report", &report.to_string())?;
        for f in l.fields() {
            let std = format!("posterior_std_{f}");
            out.field(&std, l.part(&post.std, f)?)?;
            out.describe(
                &std,
                &format!("pointwise standard deviation of the Laplace posterior, field {f}"),
                &format!("model units of {f}"),
            )?;
            for (j, u) in post.eigenvectors.iter().take(4).enumerate() {
                let v = format!("eigenvector_{j}_{f}");
                out.field(&v, l.part(u, f)?)?;
                out.describe(
                    &v,
                    &format!(
                        "eigenvector {j} (largest first) of the prior-preconditioned Gauss–Newton Hessian, field {f}"
                    ),
                    "unit vector",
                )?;
            }
        }
        let index: Vec<u64> = (0..post.eigenvalues.len() as u64).collect();
        use rewind_io::Column::{Float, Int};
        out.table("eigenvalues", &[("index", Int(&index)), ("value", Float(&post.eigenvalues))])?;
        out.finish()?;
        let curve = rewind_io::plot::Curve {
            label: format!("{name}, k = {}", a.k),
            points: post.eigenvalues.iter().enumerate().map(|(j, &v)| (j as f64, v)).collect(),
        };
        let title = "eigenvalues of the prior-preconditioned Gauss–Newton Hessian";
        rewind_io::plot::decay(dir.join(format!("hessian-{name}-eigenvalues.png")), title, "index", &[curve])?;
        let f = &l.fields()[0];
        let panels = [("truth", l.part(&truth, f)?), ("posterior std", l.part(&post.std, f)?)];
        crate::common::plot_fields(&dir.join(format!("hessian-{name}-std.png")), &g, &panels, false)?;
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{name}: {} eigenpairs from {} Gauss–Newton products in {secs:.2} s", a.k, post.products);
        let shown: Vec<String> = post.eigenvalues.iter().map(|v| format!("{v:.3e}")).collect();
        println!("  eigenvalues: {}", shown.join(" "));
        for (f, v) in &std {
            println!("  mean posterior std of {f}: {:.4e} (background {spread:.4e})", v.as_f64().unwrap_or(f64::NAN));
        }
    }
    Ok(())
}
