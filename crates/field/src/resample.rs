//! Spectral resampling between two periodic grids of the same domain: the
//! transfer of multi-resolution methods (coarse inner loops of
//! multi-incremental 4D-Var, coarse-grid corrections).
//!
//! A field on a periodic grid is a trigonometric polynomial; on another
//! grid of the same domain it is resampled by keeping the Fourier
//! coefficients both grids represent — the *common band*, wavenumbers `k`
//! with `2|k| < n` on both grids, so that neither grid's Nyquist mode is
//! kept (it has no sign, and no symmetric counterpart on the other grid) —
//! and dropping the rest: from fine to coarse this is spectral truncation,
//! from coarse to fine trigonometric interpolation. [`Resample::values`]
//! keeps point values (a band-limited field is reproduced exactly on the
//! other grid); [`Resample::isometric`] scales by `√(N_from / N_to)` (`N`
//! the points of a grid), which makes the map back the adjoint of the map
//! there, and the map from coarse to fine an isometry of the plain dot
//! product on the coarse band (`PᵀP` is the projection onto it; with an
//! even coarse size its Nyquist modes are dropped) — the transfer of
//! control vectors, whose norm is the background term. A grid onto itself
//! is that projection.
//!
//! Transfers are occasional (once per outer iteration), so the transform is
//! a plain complex 2D FFT ([`rustfft`]) with nothing shared with the
//! Poisson solver.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::{FieldError, Grid};

type C64 = Complex<f64>;

/// The transfer from one periodic grid to another of the same domain.
pub struct Resample {
    from: Grid,
    to: Grid,
    from_x: Arc<dyn Fft<f64>>,
    from_y: Arc<dyn Fft<f64>>,
    to_x: Arc<dyn Fft<f64>>,
    to_y: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for Resample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resample").field("from", &self.from).field("to", &self.to).finish()
    }
}

/// The signed wavenumber index of coefficient `k` of `n`, if it is in the
/// band of `n` (not its Nyquist mode).
fn signed(k: usize, n: usize) -> Option<isize> {
    let s = if 2 * k > n { k as isize - n as isize } else { k as isize };
    (2 * s.unsigned_abs() < n).then_some(s)
}

/// The position of the signed index `s` among `n` coefficients, if `s` is
/// in the band of `n`.
fn position(s: isize, n: usize) -> Option<usize> {
    (2 * s.unsigned_abs() < n).then(|| s.rem_euclid(n as isize) as usize)
}

/// In-place 2D transform of `a` (`nx × ny`, rows contiguous).
fn transform(a: &mut [C64], nx: usize, ny: usize, along_x: &dyn Fft<f64>, along_y: &dyn Fft<f64>) {
    for row in a.chunks_exact_mut(ny) {
        along_y.process(row);
    }
    let mut col = vec![C64::new(0.0, 0.0); nx];
    for j in 0..ny {
        for i in 0..nx {
            col[i] = a[i * ny + j];
        }
        along_x.process(&mut col);
        for i in 0..nx {
            a[i * ny + j] = col[i];
        }
    }
}

impl Resample {
    /// The transfer from `from` to `to`. Both must span the same domain
    /// (`nx·dx` and `ny·dy` equal to 1e-12 relative), else
    /// [`FieldError::Operator`]; 3D grids are [`FieldError::Dims`].
    pub fn new(from: Grid, to: Grid) -> Result<Self, FieldError> {
        from.planar("spectral resampling")?;
        to.planar("spectral resampling")?;
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
        if !same(from.nx as f64 * from.dx, to.nx as f64 * to.dx)
            || !same(from.ny as f64 * from.dy, to.ny as f64 * to.dy)
        {
            return Err(FieldError::Operator("resampling needs two grids of the same periodic domain"));
        }
        let mut p = FftPlanner::<f64>::new();
        Ok(Resample {
            from,
            to,
            from_x: p.plan_fft_forward(from.nx),
            from_y: p.plan_fft_forward(from.ny),
            to_x: p.plan_fft_inverse(to.nx),
            to_y: p.plan_fft_inverse(to.ny),
        })
    }

    /// The grid it maps from.
    pub fn from(&self) -> &Grid {
        &self.from
    }
    /// The grid it maps to.
    pub fn to(&self) -> &Grid {
        &self.to
    }

    /// `out` = the field `a` of the first grid on the second, point values
    /// kept: the common band of its Fourier coefficients.
    pub fn values(&self, a: &[f64], out: &mut [f64]) -> Result<(), FieldError> {
        self.apply(a, out, 1.0 / (self.from.len() as f64))
    }

    /// `out = √(N_from/N_to) ·` [`values`](Self::values)`(a)`: the adjoint
    /// of the map back; from coarse to fine an isometry on the band.
    pub fn isometric(&self, a: &[f64], out: &mut [f64]) -> Result<(), FieldError> {
        let (nf, nt) = (self.from.len() as f64, self.to.len() as f64);
        self.apply(a, out, (nf / nt).sqrt() / nf)
    }

    /// The common band of `a`'s coefficients, times `scale`, transformed
    /// back on the second grid (unnormalised transforms: `scale` carries
    /// `1/N_from`).
    fn apply(&self, a: &[f64], out: &mut [f64], scale: f64) -> Result<(), FieldError> {
        self.from.check("field to resample", a.len())?;
        self.to.check("resampled field", out.len())?;
        let (f, t) = (self.from, self.to);
        let mut hat: Vec<C64> = a.iter().map(|&v| C64::new(v, 0.0)).collect();
        transform(&mut hat, f.nx, f.ny, &*self.from_x, &*self.from_y);
        let mut band = vec![C64::new(0.0, 0.0); t.len()];
        for i in 0..f.nx {
            let Some(ti) = signed(i, f.nx).and_then(|s| position(s, t.nx)) else { continue };
            for j in 0..f.ny {
                if let Some(tj) = signed(j, f.ny).and_then(|s| position(s, t.ny)) {
                    band[ti * t.ny + tj] = hat[i * f.ny + j] * scale;
                }
            }
        }
        transform(&mut band, t.nx, t.ny, &*self.to_x, &*self.to_y);
        for (o, c) in out.iter_mut().zip(&band) {
            *o = c.re;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn a_band_limited_field_is_reproduced_on_either_grid() {
        let (fine, coarse) = (Grid::new(24, 16, 0.25, 0.5).unwrap(), Grid::new(12, 8, 0.5, 1.0).unwrap());
        // wavenumbers below both grids' Nyquist modes
        let tau = 2.0 * std::f64::consts::PI;
        let f = |x: f64, y: f64| {
            0.3 + (tau * 2.0 * x / 6.0).sin() * (tau * 3.0 * y / 8.0).cos() + (tau * (x / 6.0 - y / 8.0)).cos()
        };
        let (af, ac) = (fine.sample(f), coarse.sample(f));
        let down = Resample::new(fine, coarse).unwrap();
        let up = Resample::new(coarse, fine).unwrap();
        let (mut c, mut u) = (vec![0.0; coarse.len()], vec![0.0; fine.len()]);
        down.values(&af, &mut c).unwrap();
        up.values(&ac, &mut u).unwrap();
        for (a, b) in c.iter().zip(&ac).chain(u.iter().zip(&af)) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // modes only the fine grid has, and the coarse grid's Nyquist mode
        // (6 along x), are dropped going down
        for k in [6.0, 7.0, 11.0] {
            let high = fine.sample(|x, y| (tau * k * x / 6.0).cos() * (1.0 + (tau * y / 8.0).sin()));
            down.values(&high, &mut c).unwrap();
            assert!(c.iter().all(|v| v.abs() < 1e-12), "mode {k}");
        }
    }

    #[test]
    fn the_isometric_maps_are_each_others_adjoints_and_up_then_down_is_the_identity() {
        let (fine, coarse) = (Grid::periodic_square(16, 1.0).unwrap(), Grid::periodic_square(8, 1.0).unwrap());
        let up = Resample::new(coarse, fine).unwrap();
        let down = Resample::new(fine, coarse).unwrap();
        // arbitrary, not band-limited vectors
        let v: Vec<f64> = (0..coarse.len()).map(|k| ((k * 37 % 11) as f64 - 5.0) * 0.1).collect();
        let w: Vec<f64> = (0..fine.len()).map(|k| ((k * 13 % 7) as f64 - 3.0).sin()).collect();
        let (mut pv, mut ptw) = (vec![0.0; fine.len()], vec![0.0; coarse.len()]);
        up.isometric(&v, &mut pv).unwrap();
        down.isometric(&w, &mut ptw).unwrap();
        let (lhs, rhs) = (dot(&pv, &w), dot(&v, &ptw));
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "⟨Pv, w⟩ = {lhs}, ⟨v, Pᵀw⟩ = {rhs}");
        // Pᵀ P is the projection onto the coarse band: applied to a band
        // field it is the identity, and P keeps its norm
        let band = coarse.sample(|x, y| (std::f64::consts::TAU * (x + 2.0 * y)).sin());
        let (mut p, mut back) = (vec![0.0; fine.len()], vec![0.0; coarse.len()]);
        up.isometric(&band, &mut p).unwrap();
        down.isometric(&p, &mut back).unwrap();
        for (a, b) in back.iter().zip(&band) {
            assert!((a - b).abs() < 1e-12);
        }
        assert!((dot(&p, &p) - dot(&band, &band)).abs() < 1e-12 * dot(&band, &band));
        // a grid onto itself is that projection: the coarse Nyquist mode
        // (4 along x on 8 points) goes, the band stays
        let same = Resample::new(coarse, coarse).unwrap();
        let nyquist = coarse.sample(|x, _| (std::f64::consts::TAU * 4.0 * x).cos());
        let mixed: Vec<f64> = band.iter().zip(&nyquist).map(|(a, b)| a + b).collect();
        same.values(&mixed, &mut back).unwrap();
        for (a, b) in back.iter().zip(&band) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn grids_of_different_domains_or_wrong_lengths_are_errors() {
        let a = Grid::periodic_square(8, 1.0).unwrap();
        assert!(Resample::new(a, Grid::periodic_square(4, 2.0).unwrap()).is_err());
        let r = Resample::new(a, Grid::periodic_square(4, 1.0).unwrap()).unwrap();
        let mut out = vec![0.0; 16];
        assert!(r.values(&[0.0; 63], &mut out).is_err());
        assert!(r.values(&[0.0; 64], &mut out[..15]).is_err());
    }
}
