//! Small test problems shared by the examples and the benches, each written
//! once, generically over [`Real`].

#![forbid(unsafe_code)]

use rewind_tape::Real;

/// The extended Rosenbrock function (Moré, Garbow & Hillstrom):
/// `Σᵢ 100 (x₂ᵢ₊₁ − x₂ᵢ²)² + (1 − x₂ᵢ)²` over consecutive pairs; `x.len()`
/// must be even (a trailing odd entry is ignored). Minimum 0 at all ones.
pub fn rosenbrock<T: Real>(x: &[T]) -> T {
    x.chunks_exact(2).map(|p| (p[1] - p[0] * p[0]).powi(2) * 100.0 + (T::one() - p[0]).powi(2)).sum()
}

/// The classic starting point of the extended Rosenbrock problem:
/// `(−1.2, 1, −1.2, 1, …)`.
pub fn rosenbrock_start(n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect()
}

/// A function dominated by transcendental operations, for comparison with
/// the arithmetic-only Rosenbrock: `Σᵢ sin(xᵢ) exp(xᵢ₊₁ / 4) / (1 + xᵢ²) +
/// ln(1 + xᵢ²)` over consecutive entries.
pub fn transcendental<T: Real>(x: &[T]) -> T {
    x.windows(2)
        .map(|w| {
            let s = w[0] * w[0] + 1.0;
            w[0].sin() * (w[1] * 0.25).exp() / s + s.ln()
        })
        .sum()
}

/// The toy logistic-regression data set of the autograd tutorial: four
/// samples with three features and boolean targets.
pub mod logistic {
    use rewind_tape::Real;

    /// Inputs, one row per sample.
    pub const INPUTS: [[f64; 3]; 4] =
        [[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]];
    /// Targets.
    pub const TARGETS: [bool; 4] = [true, true, false, true];

    /// Predicted probabilities `σ(w·x)` for each sample.
    pub fn predictions<T: Real>(w: &[T]) -> Vec<T> {
        INPUTS
            .iter()
            .map(|x| {
                let z = w.iter().zip(x).map(|(&wi, &xi)| wi * xi).sum::<T>();
                (T::one() + (-z).exp()).recip()
            })
            .collect()
    }

    /// Negative log-likelihood of the targets (`4 ln 2` at `w = 0`).
    pub fn loss<T: Real>(w: &[T]) -> T {
        predictions(w).into_iter().zip(TARGETS).map(|(p, t)| -(if t { p } else { T::one() - p }).ln()).sum()
    }
}

/// Wall-clock timing for the figure-printing examples (the criterion
/// benches in `benches/` are the careful measurement).
pub mod timing {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    /// Seconds per call of `f`: the best of several batches, each at least
    /// `budget / 5` long, so one noisy batch does not decide the figure.
    pub fn seconds_per_call<R>(budget: Duration, mut f: impl FnMut() -> R) -> f64 {
        black_box(f()); // warm up caches and the arena
        let start = Instant::now();
        black_box(f());
        let once = start.elapsed().max(Duration::from_nanos(1));
        let per_batch = ((budget.as_secs_f64() / 5.0) / once.as_secs_f64()).ceil().max(1.0) as u64;
        (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..per_batch {
                    black_box(f());
                }
                t.elapsed().as_secs_f64() / per_batch as f64
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// The field operations measured by `examples/field_figures.rs` and the
/// criterion suite `benches/benches/field.rs`, each reduced to a scalar
/// (a sum) so that every case is swept back the same way; and one taped
/// right-hand side of the vorticity equation for the thread scaling.
pub mod field_ops {
    use rewind_field::{Components, Field, FieldError, FieldTape, Par, Scalar, Unary};

    /// An operation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[allow(missing_docs)]
    pub enum Op {
        Add,
        Axpy,
        Tanh,
        Sum,
        Laplacian,
        Ddx,
        Arakawa,
        Upwind,
        SemiLagrangian,
        Poisson,
    }

    /// All of them, elementwise first.
    pub const OPS: [Op; 10] = [
        Op::Add,
        Op::Axpy,
        Op::Tanh,
        Op::Sum,
        Op::Laplacian,
        Op::Ddx,
        Op::Arakawa,
        Op::Upwind,
        Op::SemiLagrangian,
        Op::Poisson,
    ];

    /// `op(a, b)`, summed (`b` is the velocity of the advection cases).
    pub fn apply<'id, T: Components>(op: Op, a: Field<'id, T>, b: Field<'id, T>) -> Scalar<'id, T> {
        let f = match op {
            Op::Add => a + b,
            Op::Axpy => a * 0.5 + b,
            Op::Tanh => a.map(Unary::Tanh),
            Op::Sum => return a.sum(),
            Op::Laplacian => a.laplacian(),
            Op::Ddx => a.ddx(),
            Op::Arakawa => a.arakawa(b).expect("square grid"),
            Op::Upwind => a.upwind(b, b).expect("a 2D grid"),
            Op::SemiLagrangian => a.semi_lagrangian(b, b, 0.01).expect("a 2D grid"),
            Op::Poisson => a.poisson(),
        };
        f.sum()
    }

    /// One taped vorticity right-hand side from `w0` and its reverse sweep
    /// (the kernels run with [`Par::Pool`] in the current pool); returns one
    /// entry of the gradient.
    pub fn taped_rhs_step(tape: &mut FieldTape<f64>, w0: &[f64]) -> Result<f64, FieldError> {
        tape.record(Par::Pool, |c| {
            let w = c.input(w0)?;
            let psi = w.poisson();
            let rhs = psi.arakawa(w)? + w.laplacian() * 1e-3 - w * 0.1;
            let next = rhs * 0.01 + w;
            let j = next.sqnorm();
            c.gradient(j).map(|adj| adj.field(w)[0])
        })
    }
}

/// Passes over memory and time per time step of a model (the roofline view
/// of `examples/field_figures.rs` and the field bench): what a step reads
/// and writes, in whole fields, and how fast that is against a plain copy.
pub mod passes {
    use std::time::Duration;

    use rewind_checkpoint::{StepError, Stepper};
    use rewind_field::{Par, Passes};
    use rewind_sim::{Model, Sim};

    use crate::timing::seconds_per_call;

    /// One kind of step: its passes (per state-sized field of the grid) and
    /// seconds.
    #[derive(Debug, Clone, Copy)]
    pub struct Figure {
        /// Fields read and written.
        pub passes: Passes,
        /// Seconds per step.
        pub seconds: f64,
    }

    /// A model's step three ways: the primal (values only), the recorded
    /// step alone, and the recorded step with its reverse sweep.
    #[derive(Debug, Clone, Copy)]
    pub struct StepFigures {
        /// `Stepper::step`.
        pub primal: Figure,
        /// `Sim::step_recorded`.
        pub taped: Figure,
        /// `Stepper::step_vjp` (recording and sweep).
        pub taped_and_swept: Figure,
    }

    /// Measures one step of `model` from `x0` with the kernels' parallelism
    /// `par` (in the current rayon pool), each timing over `budget`.
    pub fn step_figures<M: Model>(model: M, x0: &[f64], par: Par, budget: Duration) -> Result<StepFigures, StepError> {
        let mut sim = Sim::<M, f64>::new(model, par).map_err(StepError::model)?;
        let (mut next, mut xbar, mut pbar) = (vec![0.0; x0.len()], vec![0.0; x0.len()], vec![0.0; sim.param_len()]);
        let mut seed = |y: &[f64], ybar: &mut [f64]| -> Result<(), StepError> {
            ybar.copy_from_slice(y);
            Ok(())
        };
        let mut once = |sim: &mut Sim<M, f64>, kind: usize| -> Result<Passes, StepError> {
            sim.reset_passes();
            match kind {
                0 => sim.step(0, x0, &mut next)?,
                1 => sim.step_recorded(0, x0, &mut next)?,
                _ => sim.step_vjp(0, x0, &mut next, &mut seed, &mut xbar, &mut pbar)?,
            }
            Ok(sim.passes())
        };
        let mut figure = |kind: usize| -> Result<Figure, StepError> {
            let passes = once(&mut sim, kind)?;
            let seconds = seconds_per_call(budget, || once(&mut sim, kind));
            Ok(Figure { passes, seconds })
        };
        Ok(StepFigures { primal: figure(0)?, taped: figure(1)?, taped_and_swept: figure(2)? })
    }
}
