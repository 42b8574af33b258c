//! Sources and receivers: positions between grid points, read and written
//! by n-linear interpolation.
//!
//! A [`Points`] holds, for each position, the `2^d` grid points of the
//! cell around it (`d` the grid's dimension, periodic wrap across the
//! last cell) and their weights — products of `1 − t` and `t` per axis,
//! `t` the position's fraction of the cell. [`Field::interpolate`] reads a
//! field there (a receiver: `yₚ = Σ_c w_{pc} a[i_{pc}]`);
//! [`Ctx::inject`] writes amplitudes there (a source: `a[i] = Σ_{p,c :
//! i_{pc} = i} w_{pc} sₚ`). The two are each other's adjoints — `⟨I a,
//! s⟩ = ⟨a, Iᵀ s⟩` with `Iᵀ` the injection — and that is how the sweep
//! differentiates them: the adjoint of a recording is an injection of the
//! residuals, the adjoint of a source a recording of the adjoint field.
//! The scatter adds in the order of the positions and of their corners,
//! on one thread: the same bits every run.
//!
//! [`Field::interpolate`]: crate::Field::interpolate
//! [`Ctx::inject`]: crate::Ctx::inject

use rewind_tape::Real;

use crate::{FieldError, Grid};

/// Positions on a grid with their interpolation weights (see the
/// [module](self) docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    grid: Grid,
    /// `2^d` grid indices per position.
    idx: Vec<usize>,
    /// Their weights.
    w: Vec<f64>,
}

impl Points {
    /// The positions `(x, y, z)` (physical coordinates, the grid point
    /// `(i, j, k)` at `(i dx, j dy, k dz)`) on `grid`; the coordinates of
    /// axes the grid does not have must be 0. A position outside `[0, nₐ
    /// hₐ)` along an axis, or not finite, is
    /// [`FieldError::Position`].
    pub fn new(grid: &Grid, positions: &[[f64; 3]]) -> Result<Self, FieldError> {
        let n = [grid.nx, grid.ny, grid.nz];
        let h = [grid.dx, grid.dy, grid.dz];
        let axes = grid.dims();
        let corners = 1 << axes;
        let (mut idx, mut w) =
            (Vec::with_capacity(corners * positions.len()), Vec::with_capacity(corners * positions.len()));
        for (p, pos) in positions.iter().enumerate() {
            let mut base = [0usize; 3];
            let mut frac = [0.0f64; 3];
            for a in 0..3 {
                let s = pos[a] / h[a];
                let bad =
                    !pos[a].is_finite() || if a < axes { !(0.0..n[a] as f64).contains(&s) } else { pos[a] != 0.0 };
                if bad {
                    return Err(FieldError::Position { index: p, position: *pos });
                }
                if a < axes {
                    base[a] = (s.floor() as usize).min(n[a] - 1);
                    frac[a] = s - base[a] as f64;
                }
            }
            for c in 0..corners {
                let mut at = [0usize; 3];
                let mut weight = 1.0;
                for a in 0..axes {
                    let up = (c >> a) & 1 == 1;
                    at[a] = if up { (base[a] + 1) % n[a] } else { base[a] };
                    weight *= if up { frac[a] } else { 1.0 - frac[a] };
                }
                idx.push(grid.idx3(at[0], at[1], at[2]));
                w.push(weight);
            }
        }
        Ok(Points { grid: *grid, idx, w })
    }

    /// The number of positions.
    pub fn len(&self) -> usize {
        self.w.len().checked_div(self.corners()).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }

    /// The values of the grid function `a` (in the grid's layout) at the
    /// positions: what [`Field::interpolate`](crate::Field::interpolate)
    /// records, on plain numbers (to make observations of a state).
    pub fn read(&self, a: &[f64]) -> Result<Vec<f64>, FieldError> {
        self.grid.check("interpolated values", a.len())?;
        Ok(self.values(a).collect())
    }

    /// The interpolated values of `a` (of the grid's length), position by
    /// position: each the sum over its corners in order — the one formula
    /// of [`Points::read`] and the recorded interpolation.
    pub(crate) fn values<'a, T: Real>(&'a self, a: &'a [T]) -> impl ExactSizeIterator<Item = T> + 'a {
        let k = self.corners();
        self.idx
            .chunks_exact(k)
            .zip(self.w.chunks_exact(k))
            .map(move |(i, w)| i.iter().zip(w).fold(T::zero(), |s, (&i, &w)| s + a[i] * T::from_f64(w)))
    }

    /// The grid they are on.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Grid points per position, `2^d`.
    pub(crate) fn corners(&self) -> usize {
        1 << self.grid.dims()
    }

    /// The grid indices, `corners()` per position.
    pub(crate) fn indices(&self) -> &[usize] {
        &self.idx
    }

    /// Their weights.
    pub(crate) fn weights(&self) -> &[f64] {
        &self.w
    }
}
