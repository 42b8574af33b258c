//! `rewind hessian`: the dominant eigenpairs of the prior-preconditioned
//! Gauss–Newton Hessian of a model's twin experiment, by the randomized
//! eigensolver over Gauss–Newton products at a kept linearisation, and the
//! Laplace posterior's pointwise standard deviation (`rewind_sim::posterior`).

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
