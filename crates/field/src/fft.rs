//! The periodic Poisson problem, solved exactly by FFT.
//!
//! `ψ` is the zero-mean solution of `L ψ = −(ω − mean ω)` for the discrete
//! 5-point Laplacian `L` on a periodic grid: in Fourier space
//! `ψ̂(k) = −ω̂(k)/λ(k)` for `k ≠ 0` and `ψ̂(0) = 0`, with `λ(k)` the
//! symbol of `L`, `(2cos(kₓdx) − 2)/dx² + (2cos(k_y dy) − 2)/dy²`. The map
//! `P: ω ↦ ψ` is linear and symmetric, so its adjoint is itself; it acts
//! on every `f64` component of a dual number separately
//! ([`Components`]), which differentiates it in forward mode too.
//!
//! Two complex 2D FFTs per solve (rows, a transpose, columns); plans are
//! made once. For walls (Dirichlet conditions) use a sparse solve instead.

use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::components::Components;
use crate::par::{PAR_THRESHOLD, Par};
use crate::{FieldError, Grid};

type C64 = Complex<f64>;

/// Rows per parallel FFT task (fixed, so results never depend on the
/// number of threads).
const ROWS_PER_TASK: usize = 16;

/// An FFT Poisson solver for one periodic grid.
pub struct PoissonFft {
    grid: Grid,
    fwd_y: Arc<dyn Fft<f64>>,
    inv_y: Arc<dyn Fft<f64>>,
    fwd_x: Arc<dyn Fft<f64>>,
    inv_x: Arc<dyn Fft<f64>>,
    /// `−1/(λ n)` in transposed order (`[l][m]`), 0 at the mean.
    factor: Vec<f64>,
    scratch_per_task: usize,
}

impl std::fmt::Debug for PoissonFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoissonFft").field("grid", &self.grid).finish()
    }
}

impl PoissonFft {
    /// Plans the FFTs for `grid`. (`λ(k) < 0` for every `k ≠ 0`, so the
    /// solve is always defined.)
    pub fn new(grid: Grid) -> Self {
        let (nx, ny) = (grid.nx, grid.ny);
        let mut planner = FftPlanner::<f64>::new();
        let (fwd_y, inv_y) = (planner.plan_fft_forward(ny), planner.plan_fft_inverse(ny));
        let (fwd_x, inv_x) = (planner.plan_fft_forward(nx), planner.plan_fft_inverse(nx));
        let n = (nx * ny) as f64;
        let mut factor = vec![0.0; nx * ny];
        for l in 0..ny {
            let ly = (2.0 * (2.0 * std::f64::consts::PI * l as f64 / ny as f64).cos() - 2.0) / (grid.dy * grid.dy);
            for m in 0..nx {
                let lx = (2.0 * (2.0 * std::f64::consts::PI * m as f64 / nx as f64).cos() - 2.0) / (grid.dx * grid.dx);
                let lam = lx + ly;
                factor[l * nx + m] = if m == 0 && l == 0 { 0.0 } else { -1.0 / (lam * n) };
            }
        }
        let scratch_per_task =
            [&fwd_y, &inv_y, &fwd_x, &inv_x].iter().map(|f| f.get_inplace_scratch_len()).max().unwrap_or(0);
        PoissonFft { grid, fwd_y, inv_y, fwd_x, inv_x, factor, scratch_per_task }
    }

    /// The grid it solves on.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Length of the complex work buffer [`solve`](Self::solve) needs.
    pub fn work_len(&self) -> usize {
        let n = self.grid.len();
        let tasks = self.grid.nx.max(self.grid.ny).div_ceil(ROWS_PER_TASK);
        2 * n + tasks * self.scratch_per_task
    }

    /// `out = P a` for any [`Components`] scalar; `work` must have
    /// [`work_len`](Self::work_len) entries.
    pub fn solve<T: Components>(&self, a: &[T], out: &mut [T], work: &mut [C64], par: Par) -> Result<(), FieldError> {
        self.grid.check("Poisson right-hand side", a.len())?;
        self.grid.check("Poisson solution", out.len())?;
        if work.len() < self.work_len() {
            return Err(FieldError::Length { what: "Poisson work buffer", expected: self.work_len(), got: work.len() });
        }
        self.solve_checked(a, out, work, par);
        Ok(())
    }

    /// [`solve`](Self::solve) with the lengths already checked.
    pub(crate) fn solve_checked<T: Components>(&self, a: &[T], out: &mut [T], work: &mut [C64], par: Par) {
        let n = self.grid.len();
        let (buf, rest) = work.split_at_mut(n);
        let (tbuf, scratch) = rest.split_at_mut(n);
        for k in 0..T::PARTS {
            for (b, x) in buf.iter_mut().zip(a) {
                *b = C64::new(x.part(k), 0.0);
            }
            self.solve_c(buf, tbuf, scratch, par);
            for (o, b) in out.iter_mut().zip(buf.iter()) {
                o.set_part(k, b.re);
            }
        }
    }

    fn ffts(&self, fft: &dyn Fft<f64>, data: &mut [C64], len: usize, scratch: &mut [C64], par: Par) {
        let per = self.scratch_per_task;
        let parallel = par == Par::Rayon && data.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1;
        if parallel && per == 0 {
            data.par_chunks_mut(len * ROWS_PER_TASK).for_each(|d| fft.process_with_scratch(d, &mut []));
        } else if parallel {
            data.par_chunks_mut(len * ROWS_PER_TASK).zip(scratch.par_chunks_mut(per)).for_each(|(d, s)| {
                fft.process_with_scratch(d, s);
            });
        } else {
            fft.process_with_scratch(data, &mut scratch[..per]);
        }
    }

    /// In place on `buf` (row-major `nx × ny`), using `tbuf` for the transpose.
    fn solve_c(&self, buf: &mut [C64], tbuf: &mut [C64], scratch: &mut [C64], par: Par) {
        let (nx, ny) = (self.grid.nx, self.grid.ny);
        self.ffts(&*self.fwd_y, buf, ny, scratch, par);
        transpose(buf, tbuf, nx, ny);
        self.ffts(&*self.fwd_x, tbuf, nx, scratch, par);
        for (t, f) in tbuf.iter_mut().zip(&self.factor) {
            *t *= *f;
        }
        self.ffts(&*self.inv_x, tbuf, nx, scratch, par);
        transpose(tbuf, buf, ny, nx);
        self.ffts(&*self.inv_y, buf, ny, scratch, par);
    }
}

/// `dst[j][i] = src[i][j]` for `src` of `rows × cols`.
fn transpose(src: &[C64], dst: &mut [C64], rows: usize, cols: usize) {
    const B: usize = 32;
    for i0 in (0..rows).step_by(B) {
        for j0 in (0..cols).step_by(B) {
            for i in i0..(i0 + B).min(rows) {
                for j in j0..(j0 + B).min(cols) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}
