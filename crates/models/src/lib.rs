//! # rewind-models: every model by name, with its default problem
//!
//! The command line (`rewind grad --sim shallow-water`) and the Python
//! package (`rewind.Problem("shallow-water")`) build the same problems from
//! a model's name: this crate is where the names live. A problem is a twin
//! experiment: the objective is the terminal misfit `½ w ‖xₙ − x̂ₙ‖²` to the
//! state `x̂ₙ` reached from a "truth" `x̂₀`, at a default initial state `x₀`,
//! with a direction `v = (v_x, v_p)` of the initial state and the
//! parameters for HVPs and derivative checks. For ns2d it is the spec's
//! problem (`docs/specs/ns2d-periodic.md`: from field A, the target reached
//! from field B, the spec's direction); for the others the truth is `x₀`
//! plus a smooth shift of 5 % and the direction moves every value and every
//! parameter by about 1 %. The 3D acoustic model starts at rest and its
//! truth differs in the velocity instead: a sphere 10 % faster than the
//! background below the source, so that the gradient's part in `m = 1/c²`
//! is the sensitivity of the final wavefield to the medium.
//!
//! [`split`] makes the same problem split over the ranks of a
//! communicator (slabs of x-planes, `rewind-decompose`), for `rewind
//! run|grad|hvp --decompose`; [`reach`] says beforehand whether a model can
//! be split and how wide its ghost layers are.
//!
//! A grid size `n` sets every model's grid (each model's time step follows
//! its own stability bound at that size); ns2d also takes its physics
//! ([`Ns2dPhysics`]).
//!
//! ```
//! use rewind_models::{ModelName, Ns2dPhysics, build};
//! use rewind_checkpoint::Strategy;
//! use rewind_field::Par;
//!
//! let name: ModelName = "burgers".parse().unwrap();
//! let (n, _) = name.defaults();
//! let dir = std::env::temp_dir();
//! let mut p = build(name, &Ns2dPhysics::default(), n, 20, Strategy::Binomial { snapshots: 4 }, Par::Seq, &dir).unwrap();
//! let x0 = p.x0().to_vec();
//! let g = p.gradient(&x0).unwrap();
//! assert!(g.objective > 0.0 && g.x0.len() == x0.len());
//! ```

pub mod memory;
mod problem;
mod split;
mod twin;
pub mod units;

pub use problem::{
    AnyProblem, BoxError, EachState, Method, Observe, build, observed_problem, step_arena_bytes, twin_problem,
};
pub use split::{reach, split};
pub use twin::{Twin, WithModel, with_model};

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// What can go wrong in naming or setting up a model.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// A name that is not a model's.
    #[error("no model is called {name:?}; the models are {}", ModelName::ALL.map(|m| m.name()).join(", "))]
    Unknown {
        /// The name given.
        name: String,
    },
    /// A grid too small for the model, or no steps.
    #[error("the {model} model: {why}")]
    Size {
        /// The model.
        model: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The model refused its configuration.
    #[error("cannot set up the {model} model: {source}")]
    Setup {
        /// The model.
        model: &'static str,
        /// Why.
        source: BoxError,
    },
    /// The simulation failed (a blow-up, a bad state, the schedule).
    #[error(transparent)]
    Sim(#[from] rewind_sim::SimError),
    /// The twin run that makes the target failed.
    #[error("the target run failed: {0}")]
    Target(#[source] rewind_checkpoint::DriverError),
    /// A name that is not an optimisation method's.
    #[error("no optimisation method is called {name:?}; the methods are lbfgs, newton-cg, gauss-newton")]
    Method {
        /// The name given.
        name: String,
    },
    /// The optimisation failed (the objective's error, or bad options).
    #[error(transparent)]
    Optim(#[from] rewind_optim::OptimError),
    /// A run that cannot fit in memory, or a memory budget too small.
    #[error("{0}")]
    Memory(String),
    /// What a caller's per-step function returned.
    #[error(transparent)]
    Caller(BoxError),
}

/// The models, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelName {
    /// 2D Navier–Stokes, vorticity form, periodic (the spec's problem).
    Ns2d,
    /// Viscous Burgers on a periodic line (a steepening shock).
    Burgers,
    /// The lid-driven cavity (walls, a sparse Cholesky solve).
    Cavity,
    /// Lorenz-96 on a ring of 40 (chaotic), on the field tape.
    Lorenz96,
    /// Rotating shallow water (h, u, v) on a periodic C-grid.
    ShallowWater,
    /// Gray–Scott reaction–diffusion (u, v) with a feed-rate field.
    GrayScott,
    /// The 3D acoustic wave equation (`u`, `u_prev`), slowness squared a
    /// field parameter, a Ricker source, absorbing sponges.
    Acoustic,
}

impl ModelName {
    /// Every model, in listing order.
    pub const ALL: [ModelName; 7] = [
        ModelName::Ns2d,
        ModelName::Burgers,
        ModelName::Cavity,
        ModelName::Lorenz96,
        ModelName::ShallowWater,
        ModelName::GrayScott,
        ModelName::Acoustic,
    ];

    /// The name (`--sim NAME`, `rewind.Problem(NAME)`).
    pub fn name(self) -> &'static str {
        match self {
            ModelName::Ns2d => "ns2d",
            ModelName::Burgers => "burgers",
            ModelName::Cavity => "cavity",
            ModelName::Lorenz96 => "lorenz96",
            ModelName::ShallowWater => "shallow-water",
            ModelName::GrayScott => "gray-scott",
            ModelName::Acoustic => "acoustic",
        }
    }

    /// One line on what it is.
    pub fn about(self) -> &'static str {
        match self {
            ModelName::Ns2d => {
                "2D Navier-Stokes, vorticity-streamfunction, periodic, RK4 (docs/specs/ns2d-periodic.md)"
            }
            ModelName::Burgers => "viscous Burgers on a periodic line, a steepening shock, RK4",
            ModelName::Cavity => "lid-driven cavity, walls, sparse Cholesky streamfunction, RK4",
            ModelName::Lorenz96 => "Lorenz-96 ring of 40 variables, F = 8 (chaotic), RK4 on the field tape",
            ModelName::ShallowWater => {
                "rotating shallow water (h, u, v), periodic C-grid, Sadourny energy-conserving, RK4"
            }
            ModelName::GrayScott => "Gray-Scott reaction-diffusion (u, v), feed-rate field parameter, SSP-RK3",
            ModelName::Acoustic => {
                "3D acoustic waves, m = 1/c^2 a field parameter, 8th-order leapfrog, Ricker source, sponges (n^3 points)"
            }
        }
    }

    /// Grid points per side (or values, in 1D) and steps when not given.
    pub fn defaults(self) -> (usize, usize) {
        match self {
            ModelName::Ns2d => (32, 100),
            ModelName::Burgers => (128, 150),
            ModelName::Cavity => (17, 40),
            ModelName::Lorenz96 => (40, 100),
            ModelName::ShallowWater => (32, 100),
            ModelName::GrayScott => (32, 100),
            ModelName::Acoustic => (32, 60),
        }
    }

    /// The fewest grid points per side the model takes.
    pub fn least_n(self) -> usize {
        match self {
            ModelName::Burgers | ModelName::Cavity => 8,
            // an 8th-order stencil, a sponge and the truth's sphere inside
            ModelName::Acoustic => 12,
            _ => 4,
        }
    }

    /// Checks a grid size and a number of steps for this model.
    pub fn check_size(self, n: usize, steps: usize) -> Result<(), ModelsError> {
        let least = self.least_n();
        if n < least {
            return Err(ModelsError::Size {
                model: self.name(),
                why: format!("n = {n}: needs at least {least} points per side"),
            });
        }
        if steps == 0 {
            return Err(ModelsError::Size { model: self.name(), why: "needs at least one step".into() });
        }
        Ok(())
    }

    /// The grid's dimensions: 1 (a line), 2 or 3.
    pub fn dims(self) -> u32 {
        match self {
            ModelName::Burgers | ModelName::Lorenz96 => 1,
            ModelName::Acoustic => 3,
            _ => 2,
        }
    }

    /// State fields and values per field at grid size `n`: `(fields,
    /// points)`.
    pub fn state_size(self, n: usize) -> (u64, u64) {
        let n2 = (n as u64).saturating_mul(n as u64);
        match self {
            ModelName::Acoustic => (2, n2.saturating_mul(n as u64)),
            ModelName::Ns2d | ModelName::Cavity => (1, n2),
            ModelName::Burgers | ModelName::Lorenz96 => (1, n as u64),
            ModelName::ShallowWater => (3, n2),
            ModelName::GrayScott => (2, n2),
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelName {
    type Err = ModelsError;
    fn from_str(s: &str) -> Result<Self, ModelsError> {
        ModelName::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| ModelsError::Unknown { name: s.into() })
    }
}

/// The physics of the ns2d model on the periodic square `[0, 2π)²` (its
/// grid size is `n`): the defaults are the spec's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ns2dPhysics {
    /// Time step.
    pub dt: f64,
    /// Viscosity ν.
    pub nu: f64,
    /// Linear drag α.
    pub alpha: f64,
    /// Amplitude of the forcing `f = A sin 4y`.
    pub forcing: f64,
}

impl Default for Ns2dPhysics {
    fn default() -> Self {
        Ns2dPhysics { dt: 0.02, nu: 1e-3, alpha: 0.1, forcing: 0.1 }
    }
}

impl Ns2dPhysics {
    /// The model's parameters at grid size `n`.
    pub fn params(&self, n: usize) -> rewind_ns2d::Params {
        let h = 2.0 * std::f64::consts::PI / n as f64;
        let g = rewind_field::Grid { nx: n, ny: n, nz: 1, dx: h, dy: h, dz: 1.0 };
        rewind_ns2d::Params {
            n,
            dt: self.dt,
            nu: self.nu,
            alpha: self.alpha,
            forcing: g.sample(|_, y| self.forcing * (4.0 * y).sin()),
            max_cfl: rewind_ns2d::spec::params(rewind_ns2d::spec::Size::S).max_cfl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_models() {
        for m in ModelName::ALL {
            assert_eq!(m.name().parse::<ModelName>().unwrap(), m);
        }
        let e = "swe".parse::<ModelName>().unwrap_err().to_string();
        assert!(e.contains("\"swe\"") && e.contains("shallow-water") && e.contains("ns2d"), "{e}");
    }

    #[test]
    fn sizes_are_checked() {
        assert!(ModelName::Cavity.check_size(7, 10).unwrap_err().to_string().contains("at least 8"));
        assert!(ModelName::Ns2d.check_size(32, 0).unwrap_err().to_string().contains("one step"));
        assert!(ModelName::Ns2d.check_size(32, 1).is_ok());
    }
}
