//! A model that can fail on one rank in the middle of its step: two
//! Poisson solves per step and a check between them (of the state's values
//! on this rank's own planes). Shared by tests/threads.rs and
//! `decompose_check between` (tests/mpi.rs).

use rewind_field::Grid;
use rewind_sim::{Layout, Model, Number, SimError, State, StepAt};

/// The model on `grid`: `w ↦ w + 0.1 P(P(w) / 2 + w)`, failing where
/// `|w| > 1` on a rank's own planes, between the two solves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckBetweenSolves(pub(crate) Grid);

impl Model for CheckBetweenSolves {
    fn layout(&self) -> Layout {
        Layout::new(self.0).field("w")
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let w = x.fields()[0];
        let psi = w.poisson();
        let (own, plane) = (at.ctx().own_planes(), self.0.ny);
        let big = w.value()[own.start * plane..own.end * plane].iter().map(|v| v.value().abs()).fold(0.0, f64::max);
        rewind_sim::check_stability(at.t(), &[("|w|", big, 1.0)])?;
        let chi = (psi * 0.5 + w).poisson();
        Ok(State::new(&[w + chi * 0.1], &[]))
    }
}

/// A calm state, and the same with a narrow bump of 40 at x-plane `plane`
/// (beyond the bound there only).
pub(crate) fn calm_and_bump(grid: &Grid, plane: usize) -> (Vec<f64>, Vec<f64>) {
    let calm = grid.sample(|x, y| 0.01 * (x + y).sin());
    let at = plane as f64 * grid.dx;
    let bump = grid.sample(|x, y| 0.01 * (x + y).sin() + 40.0 * (-40.0 * ((x - at).powi(2) + (y - 3.0).powi(2))).exp());
    (calm, bump)
}
