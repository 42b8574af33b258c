//! Grids and fields.
//!
//! A field on an `nx × ny × nz` grid is stored row-major,
//! `a[(i * ny + j) * nz + k] = a(xᵢ, yⱼ, z_k)`: x is the slowest index and
//! z the contiguous one. A 2D grid has `nz = 1` (then `a[i * ny + j]`,
//! rows contiguous in y: the layout of `docs/specs/ns2d-periodic.md`) and
//! a 1D one also `ny = 1`; the unused spacings are 1. The field engine
//! walks a field by **x-planes** of `ny · nz` values — the unit of tiles,
//! halos, threads and partial sums — and within a plane by **lines**, the
//! contiguous runs: `ny` lines of `nz` points in 3D, one line of `ny`
//! points in 1D and 2D (so a 2D field is swept exactly as a sequence of
//! rows).

use crate::FieldError;

/// A uniform rectilinear grid with spacings `dx`, `dy`, `dz`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Points along x (planes; the slowest index).
    pub nx: usize,
    /// Points along y.
    pub ny: usize,
    /// Points along z (the contiguous index; 1 in 1D and 2D).
    pub nz: usize,
    /// Spacing along x.
    pub dx: f64,
    /// Spacing along y.
    pub dy: f64,
    /// Spacing along z (1 in 1D and 2D).
    pub dz: f64,
}

impl Grid {
    /// A 2D grid (a 1D one with `ny = 1`); sizes must be at least 1 and
    /// spacings positive and finite.
    pub fn new(nx: usize, ny: usize, dx: f64, dy: f64) -> Result<Self, FieldError> {
        Self::new3(nx, ny, 1, dx, dy, 1.0)
    }

    /// A 3D grid; sizes must be at least 1 and spacings positive and
    /// finite.
    pub fn new3(nx: usize, ny: usize, nz: usize, dx: f64, dy: f64, dz: f64) -> Result<Self, FieldError> {
        if nx == 0 || ny == 0 || nz == 0 {
            return Err(FieldError::EmptyGrid { nx, ny, nz });
        }
        for (what, h) in [("dx", dx), ("dy", dy), ("dz", dz)] {
            if !(h.is_finite() && h > 0.0) {
                return Err(FieldError::BadSpacing { what, value: h });
            }
        }
        Ok(Grid { nx, ny, nz, dx, dy, dz })
    }

    /// The periodic square `[0, L)²` with `n × n` points.
    pub fn periodic_square(n: usize, length: f64) -> Result<Self, FieldError> {
        let h = length / n as f64;
        Self::new(n, n, h, h)
    }

    /// The periodic cube `[0, L)³` with `n × n × n` points.
    pub fn periodic_cube(n: usize, length: f64) -> Result<Self, FieldError> {
        let h = length / n as f64;
        Self::new3(n, n, n, h, h, h)
    }

    /// A 1D periodic grid of `n` points on `[0, L)`.
    pub fn line(n: usize, length: f64) -> Result<Self, FieldError> {
        Self::new(n, 1, length / n as f64, 1.0)
    }

    /// 3 if the grid has more than one point along z, else 2 if along y,
    /// else 1.
    pub fn dims(&self) -> usize {
        if self.nz > 1 {
            3
        } else if self.ny > 1 {
            2
        } else {
            1
        }
    }

    /// [`FieldError::Dims`] for `what` on a 3D grid: the operations that
    /// are built for 1D and 2D only say so instead of computing on a part
    /// of the field.
    pub(crate) fn planar(&self, what: &'static str) -> Result<(), FieldError> {
        if self.nz > 1 {
            return Err(FieldError::Dims { what, nx: self.nx, ny: self.ny, nz: self.nz });
        }
        Ok(())
    }

    /// Values per x-plane, `ny · nz`.
    #[inline]
    pub(crate) fn plane_len(&self) -> usize {
        self.ny * self.nz
    }

    /// The engine's view of a plane: `(lines, points per line)` — `(ny,
    /// nz)` in 3D, `(1, ny)` in 1D and 2D (module docs).
    #[inline]
    pub(crate) fn lines(&self) -> (usize, usize) {
        if self.nz > 1 { (self.ny, self.nz) } else { (1, self.ny) }
    }

    /// Number of points.
    #[inline]
    pub fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    /// Whether the grid has no points (never, for a grid built by `new`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Linear index of `(i, j)` (of `(i, j, 0)` on a 3D grid).
    #[inline]
    pub fn idx(&self, i: usize, j: usize) -> usize {
        self.idx3(i, j, 0)
    }

    /// Linear index of `(i, j, k)`.
    #[inline]
    pub fn idx3(&self, i: usize, j: usize, k: usize) -> usize {
        (i * self.ny + j) * self.nz + k
    }

    /// Linear index of `(i, j)` (`k = 0`) with both indices wrapped
    /// periodically.
    #[inline]
    pub fn wrap(&self, i: isize, j: isize) -> usize {
        let i = i.rem_euclid(self.nx as isize) as usize;
        let j = j.rem_euclid(self.ny as isize) as usize;
        self.idx(i, j)
    }

    /// Linear index of `(i, j)` (`k = 0`) if it lies inside the grid
    /// (non-periodic).
    #[inline]
    pub fn inside(&self, i: isize, j: isize) -> Option<usize> {
        (i >= 0 && j >= 0 && (i as usize) < self.nx && (j as usize) < self.ny).then(|| self.idx(i as usize, j as usize))
    }

    /// Samples `f(x, y)` at the grid points `(i dx, j dy)` (on a 3D grid,
    /// the same value at every `z`).
    pub fn sample(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        self.sample3(|x, y, _| f(x, y))
    }

    /// Samples `f(x, y, z)` at the grid points `(i dx, j dy, k dz)`.
    pub fn sample3(&self, f: impl Fn(f64, f64, f64) -> f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        for i in 0..self.nx {
            for j in 0..self.ny {
                for k in 0..self.nz {
                    out.push(f(i as f64 * self.dx, j as f64 * self.dy, k as f64 * self.dz));
                }
            }
        }
        out
    }

    /// The coordinates `(x, y, z)` of the point with linear index `p`.
    #[inline]
    pub fn point(&self, p: usize) -> (f64, f64, f64) {
        let (i, j, k) = (p / self.plane_len(), p / self.nz % self.ny, p % self.nz);
        (i as f64 * self.dx, j as f64 * self.dy, k as f64 * self.dz)
    }

    /// The linear indices of every `stride`-th point along each axis,
    /// from the origin (observation points; a stride of 0 counts as 1).
    pub fn strided(&self, stride: usize) -> Vec<usize> {
        let s = stride.max(1);
        let mut out = Vec::new();
        for i in (0..self.nx).step_by(s) {
            for j in (0..self.ny).step_by(s) {
                out.extend((0..self.nz).step_by(s).map(|k| self.idx3(i, j, k)));
            }
        }
        out
    }

    /// Checks that a slice holds one value per point.
    pub fn check(&self, what: &'static str, len: usize) -> Result<(), FieldError> {
        if len == self.len() { Ok(()) } else { Err(FieldError::Length { what, expected: self.len(), got: len }) }
    }
}
