//! The periodic Poisson problem, solved exactly by FFT.
//!
//! `ψ` is the zero-mean solution of `L ψ = −(ω − mean ω)` for the discrete
//! 5-point Laplacian `L` (7-point in 3D) on a periodic grid: in Fourier
//! space `ψ̂(k) = −ω̂(k)/λ(k)` for `k ≠ 0` and `ψ̂(0) = 0`, with `λ(k)`
//! the symbol of `L`, `(2cos(kₓdx) − 2)/dx² + (2cos(k_y dy) − 2)/dy²` (+
//! the same in z). The map
//! `P: ω ↦ ψ` is linear and symmetric, so its adjoint is itself; it acts
//! on every `f64` component of a dual number separately
//! ([`Components`]), which differentiates it in forward mode too.
//!
//! **The transform.** The data are real, so the rows (the contiguous
//! lines: along y in 1D and 2D, along z in 3D) go through a
//! real-to-complex FFT ([`realfft`]): `n/2 + 1` coefficients per row
//! instead of `n`, half the butterflies and half the data of a complex
//! transform. The columns (the other axes: x, and y in 3D) are
//! transformed in tiles of [`TILE`] columns: a tile is gathered into
//! contiguous rows, transformed forward (in 3D along y, then along x),
//! scaled by `−1/λ`, transformed back, and left in a column-major buffer
//! from which the inverse row transforms gather their input. There is no
//! full-size transpose: each value is moved twice, in cache-sized blocks,
//! between the three stages. Plans are made once.
//!
//! **Threads.** Each stage splits its work into fixed blocks (rows, tiles)
//! whose arithmetic does not depend on which thread runs them, so the
//! result is bit-for-bit the same for any thread count. For walls
//! (Dirichlet conditions) use a sparse solve instead.

use std::sync::Arc;

use rewind_team::ChunksMut;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::components::Components;
use crate::par::{Par, weight};
use crate::{FieldError, Grid};

pub(crate) type C64 = Complex<f64>;

/// Rows per task of the row transforms.
const ROWS_PER_TASK: usize = 16;

/// Columns per tile of the column transforms (a tile of 8 columns of 256
/// complex values is 32 KiB: it stays in L1/L2 through its round trip).
pub(crate) const TILE: usize = 8;

/// The signed wavenumbers `[kₓ, k_y, k_z]` (radians per unit length) of
/// the Fourier coefficient `(i, j, k)` of a periodic grid.
pub(crate) fn wavenumber(g: &Grid, [i, j, k]: [usize; 3]) -> [f64; 3] {
    let signed = |k: usize, n: usize| if 2 * k > n { k as f64 - n as f64 } else { k as f64 };
    let tau = 2.0 * std::f64::consts::PI;
    [
        tau * signed(i, g.nx) / (g.nx as f64 * g.dx),
        tau * signed(j, g.ny) / (g.ny as f64 * g.dy),
        tau * signed(k, g.nz) / (g.nz as f64 * g.dz),
    ]
}

/// An FFT Poisson solver for one periodic grid.
pub struct PoissonFft {
    pub(crate) grid: Grid,
    /// Row transforms (length `n` of a line, real ↔ `n/2 + 1` complex).
    pub(crate) r2c: Arc<dyn RealToComplex<f64>>,
    pub(crate) c2r: Arc<dyn ComplexToReal<f64>>,
    /// Column transforms along x (length `nx`, complex).
    fwd_x: Arc<dyn Fft<f64>>,
    inv_x: Arc<dyn Fft<f64>>,
    /// Column transforms along y in 3D (length `ny`; unused in 1D and 2D).
    fwd_y: Arc<dyn Fft<f64>>,
    inv_y: Arc<dyn Fft<f64>>,
    /// `−1/(λ n)` in column-major order (`[j][i][l]`: `j < n/2 + 1` the row
    /// coefficient, `i` along x, `l` along y in 3D), 0 at the mean.
    pub(crate) factor: Vec<f64>,
}

/// The work space of one [`PoissonFft`] (made by [`PoissonFft::work`],
/// reused across solves: a solve then allocates nothing).
pub struct PoissonWork {
    pub(crate) grid: Grid,
    /// Row transforms, row-major `rows × (n/2 + 1)`.
    rows: Vec<C64>,
    /// Column transforms, column-major `(n/2 + 1) × rows`, by tiles.
    cols: Vec<C64>,
    tasks: Vec<TaskWork>,
}

/// What one task of a stage needs for itself.
pub(crate) struct TaskWork {
    pub(crate) real: Vec<f64>,
    pub(crate) row: Vec<C64>,
    /// One column along x (3D).
    col: Vec<C64>,
    pub(crate) scratch: Vec<C64>,
}

impl std::fmt::Debug for PoissonFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoissonFft").field("grid", &self.grid).finish()
    }
}

impl std::fmt::Debug for PoissonWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoissonWork").field("grid", &self.grid).finish()
    }
}

impl PoissonFft {
    /// Plans the FFTs for `grid`. (`λ(k) < 0` for every `k ≠ 0`, so the
    /// solve is always defined.)
    pub fn new(grid: Grid) -> Self {
        let (nx, ny, nz) = (grid.nx, grid.ny, grid.nz);
        let n = (nx * ny * nz) as f64;
        let symbol = |k: usize, n: usize, h: f64| {
            (2.0 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos() - 2.0) / (h * h)
        };
        Self::with_factor(grid, |i, l, j| {
            if grid.nz > 1 {
                // (l along y, j along z)
                let lam = symbol(i, nx, grid.dx) + symbol(l, ny, grid.dy) + symbol(j, nz, grid.dz);
                if i == 0 && l == 0 && j == 0 { 0.0 } else { -1.0 / (lam * n) }
            } else {
                let ly = symbol(j, ny, grid.dy);
                let lx = symbol(i, nx, grid.dx);
                if i == 0 && j == 0 { 0.0 } else { -1.0 / ((lx + ly) * n) }
            }
        })
    }

    /// The same transform for another Fourier multiplier:
    /// [`solve`](Self::solve) computes `F⁻¹ (m([kₓ, k_y, k_z]) F a)`,
    /// where `kₓ, k_y, k_z` are the signed wavenumbers (radians per unit
    /// length) of each coefficient (0 along an axis of one point). `m` must
    /// be even (`m(−k) = m(k)`), which keeps the result real and the
    /// operator symmetric: its adjoint is itself. A spectral correlation
    /// model is one ([`crate::Correlation`]).
    pub fn multiplier(grid: Grid, m: impl Fn([f64; 3]) -> f64) -> Self {
        let n = (grid.nx * grid.ny * grid.nz) as f64;
        Self::with_factor(grid, |i, l, j| {
            let k = if grid.nz > 1 { wavenumber(&grid, [i, l, j]) } else { wavenumber(&grid, [i, j, 0]) };
            m(k) / n
        })
    }

    /// Plans the FFTs with the factor of coefficient `(i, l, j)` (`i < nx`
    /// along x, `l` along y in 3D (else 0), `j ≤ n/2` along the rows),
    /// normalisation included.
    fn with_factor(grid: Grid, f: impl Fn(usize, usize, usize) -> f64) -> Self {
        let ((m, n), nx) = (grid.lines(), grid.nx);
        let nh = n / 2 + 1;
        let mut real = RealFftPlanner::<f64>::new();
        let (r2c, c2r) = (real.plan_fft_forward(n), real.plan_fft_inverse(n));
        let mut planner = FftPlanner::<f64>::new();
        let (fwd_x, inv_x) = (planner.plan_fft_forward(nx), planner.plan_fft_inverse(nx));
        let (fwd_y, inv_y) = (planner.plan_fft_forward(m), planner.plan_fft_inverse(m));
        let mut factor = vec![0.0; nh * nx * m];
        for j in 0..nh {
            for i in 0..nx {
                for l in 0..m {
                    factor[(j * nx + i) * m + l] = f(i, l, j);
                }
            }
        }
        PoissonFft { grid, r2c, c2r, fwd_x, inv_x, fwd_y, inv_y, factor }
    }

    /// The grid it solves on.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// A work space for [`solve`](Self::solve).
    pub fn work(&self) -> PoissonWork {
        let ((m, n), nx) = (self.grid.lines(), self.grid.nx);
        let (nh, rows) = (n / 2 + 1, nx * m);
        let tasks = rows.div_ceil(ROWS_PER_TASK).max(nh.div_ceil(TILE));
        let zero = C64::new(0.0, 0.0);
        PoissonWork {
            grid: self.grid,
            rows: vec![zero; rows * nh],
            cols: vec![zero; nh * rows],
            tasks: (0..tasks).map(|_| self.task()).collect(),
        }
    }

    /// What one task of a stage needs for itself.
    pub(crate) fn task(&self) -> TaskWork {
        let ((m, n), nx) = (self.grid.lines(), self.grid.nx);
        let scratch = [
            self.r2c.get_scratch_len(),
            self.c2r.get_scratch_len(),
            self.fwd_x.get_inplace_scratch_len(),
            self.inv_x.get_inplace_scratch_len(),
            self.fwd_y.get_inplace_scratch_len(),
            self.inv_y.get_inplace_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let zero = C64::new(0.0, 0.0);
        let col = if m > 1 { nx } else { 0 };
        TaskWork { real: vec![0.0; n], row: vec![zero; n / 2 + 1], col: vec![zero; col], scratch: vec![zero; scratch] }
    }

    /// `out = P a` for any [`Components`] scalar, with a work space made by
    /// [`work`](Self::work) for this grid.
    pub fn solve<T: Components>(
        &self,
        a: &[T],
        out: &mut [T],
        work: &mut PoissonWork,
        par: Par,
    ) -> Result<(), FieldError> {
        self.grid.check("Poisson right-hand side", a.len())?;
        self.grid.check("Poisson solution", out.len())?;
        if work.grid != self.grid {
            return Err(FieldError::GridMismatch { what: "the Poisson work space" });
        }
        self.solve_checked(a, out, work, par);
        Ok(())
    }

    /// [`solve`](Self::solve) with the lengths already checked.
    pub(crate) fn solve_checked<T: Components>(&self, a: &[T], out: &mut [T], work: &mut PoissonWork, par: Par) {
        // each stage is its own parallel region, of one f64 component
        let threads = par.threads::<f64>(self.grid.len(), weight::FFT);
        for k in 0..T::PARTS {
            self.forward_rows(a, k, work, threads);
            self.columns(work, threads);
            self.inverse_rows(out, k, work, threads);
        }
    }

    /// Real-to-complex transforms of component `k` of the rows of `a`.
    fn forward_rows<T: Components>(&self, a: &[T], k: usize, w: &mut PoissonWork, threads: usize) {
        let ny = self.grid.lines().1;
        let nh = ny / 2 + 1;
        let block = |(src, dst): (&[T], &mut [C64]), t: &mut TaskWork| {
            for (s, d) in src.chunks_exact(ny).zip(dst.chunks_exact_mut(nh)) {
                for (r, x) in t.real.iter_mut().zip(s) {
                    *r = x.part(k);
                }
                let r = self.r2c.process_with_scratch(&mut t.real, d, &mut t.scratch);
                debug_assert!(r.is_ok(), "lengths fixed by the plan");
            }
        };
        if threads > 1 {
            let dst = ChunksMut::new(&mut w.rows, nh * ROWS_PER_TASK);
            let tasks = ChunksMut::new(&mut w.tasks, 1);
            rewind_team::run(threads, dst.count(), |b| {
                let src = &a[b * ny * ROWS_PER_TASK..((b + 1) * ny * ROWS_PER_TASK).min(a.len())];
                block((src, dst.take(b)), &mut tasks.take(b)[0]);
            });
        } else {
            let blocks = a.chunks(ny * ROWS_PER_TASK).zip(w.rows.chunks_mut(nh * ROWS_PER_TASK));
            blocks.for_each(|b| block(b, &mut w.tasks[0]));
        }
    }

    /// Per tile of columns: gather, forward transform (along y in 3D,
    /// then x), scale by `−1/(λ n)`, inverse transform, into `w.cols`.
    fn columns(&self, w: &mut PoissonWork, threads: usize) {
        let ((m, n), nx) = (self.grid.lines(), self.grid.nx);
        let (nh, len) = (n / 2 + 1, nx * m);
        let rows = &w.rows;
        let tile = |(ti, (dst, f)): (usize, (&mut [C64], &[f64])), t: &mut TaskWork| {
            let j0 = ti * TILE;
            let width = dst.len() / len;
            for r in 0..len {
                let src = &rows[r * nh + j0..r * nh + j0 + width];
                for (b, &v) in src.iter().enumerate() {
                    dst[b * len + r] = v;
                }
            }
            self.column_tile(dst, f, t);
        };
        if threads > 1 {
            let dst = ChunksMut::new(&mut w.cols, len * TILE);
            let tasks = ChunksMut::new(&mut w.tasks, 1);
            rewind_team::run(threads, dst.count(), |c| {
                let f = &self.factor[c * len * TILE..((c + 1) * len * TILE).min(self.factor.len())];
                tile((c, (dst.take(c), f)), &mut tasks.take(c)[0]);
            });
        } else {
            let tiles = w.cols.chunks_mut(len * TILE).zip(self.factor.chunks(len * TILE)).enumerate();
            tiles.for_each(|c| tile(c, &mut w.tasks[0]));
        }
    }

    /// Whole columns of row coefficients (`dst`: one after the other, each
    /// `nx × m`, y contiguous in 3D) transformed forward (along y in 3D,
    /// then x), scaled by their factors `f`, transformed back.
    pub(crate) fn column_tile(&self, dst: &mut [C64], f: &[f64], t: &mut TaskWork) {
        let (m, len) = (self.grid.lines().0, self.grid.nx * self.grid.lines().0);
        if m == 1 {
            self.fwd_x.process_with_scratch(dst, &mut t.scratch);
            for (d, &f) in dst.iter_mut().zip(f) {
                *d *= f;
            }
            self.inv_x.process_with_scratch(dst, &mut t.scratch);
            return;
        }
        // each column is an nx × ny block, y contiguous
        for (dst, f) in dst.chunks_exact_mut(len).zip(f.chunks_exact(len)) {
            self.fwd_y.process_with_scratch(dst, &mut t.scratch);
            for l in 0..m {
                for (i, c) in t.col.iter_mut().enumerate() {
                    *c = dst[i * m + l];
                }
                self.fwd_x.process_with_scratch(&mut t.col, &mut t.scratch);
                for (i, c) in t.col.iter_mut().enumerate() {
                    *c *= f[i * m + l];
                }
                self.inv_x.process_with_scratch(&mut t.col, &mut t.scratch);
                for (i, &c) in t.col.iter().enumerate() {
                    dst[i * m + l] = c;
                }
            }
            self.inv_y.process_with_scratch(dst, &mut t.scratch);
        }
    }

    /// The row whose coefficients are in `t.row`, transformed back into
    /// component `k` of `out`.
    pub(crate) fn row_back<T: Components>(&self, t: &mut TaskWork, out: &mut [T], k: usize) {
        // The spectrum of a real field: the mean and (n even) the Nyquist
        // coefficient are real up to round-off.
        let nh = t.row.len();
        t.row[0].im = 0.0;
        if out.len() % 2 == 0 {
            t.row[nh - 1].im = 0.0;
        }
        let r = self.c2r.process_with_scratch(&mut t.row, &mut t.real, &mut t.scratch);
        debug_assert!(r.is_ok(), "lengths fixed by the plan");
        out.iter_mut().zip(&t.real).for_each(|(o, &x)| o.set_part(k, x));
    }

    /// Complex-to-real transforms of the rows gathered from `w.cols`, stored
    /// into component `k` of `out`.
    fn inverse_rows<T: Components>(&self, out: &mut [T], k: usize, w: &mut PoissonWork, threads: usize) {
        let ((m, ny), nx) = (self.grid.lines(), self.grid.nx);
        let len = nx * m;
        let cols = &w.cols;
        let block = |(bi, dst): (usize, &mut [T]), t: &mut TaskWork| {
            for (r, d) in dst.chunks_exact_mut(ny).enumerate() {
                let i = bi * ROWS_PER_TASK + r;
                for (j, v) in t.row.iter_mut().enumerate() {
                    *v = cols[j * len + i];
                }
                self.row_back(t, d, k);
            }
        };
        if threads > 1 {
            let dst = ChunksMut::new(out, ny * ROWS_PER_TASK);
            let tasks = ChunksMut::new(&mut w.tasks, 1);
            rewind_team::run(threads, dst.count(), |b| block((b, dst.take(b)), &mut tasks.take(b)[0]));
        } else {
            out.chunks_mut(ny * ROWS_PER_TASK).enumerate().for_each(|b| block(b, &mut w.tasks[0]));
        }
    }
}
