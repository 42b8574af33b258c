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
//! The grids have one, two or three dimensions (the same on both sides).
//! Transfers are occasional (once per outer iteration), so the transform is
//! a plain complex FFT along each axis ([`rustfft`]) with nothing shared
//! with the Poisson solver.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::{FieldError, Grid};

type C64 = Complex<f64>;

/// The transfer from one periodic grid to another of the same domain.
pub struct Resample {
    from: Grid,
    to: Grid,
    /// Forward transforms of `from` and inverse transforms of `to`, along
    /// x, y and z.
    from_fft: [Arc<dyn Fft<f64>>; 3],
    to_fft: [Arc<dyn Fft<f64>>; 3],
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

/// The sizes of `g` along x, y and z.
fn sizes(g: &Grid) -> [usize; 3] {
    [g.nx, g.ny, g.nz]
}

/// In-place transform of `a` (`n[0] × n[1] × n[2]`, the last index
/// contiguous) along every axis of more than one point.
fn transform(a: &mut [C64], n: [usize; 3], fft: &[Arc<dyn Fft<f64>>; 3]) {
    let strides = [n[1] * n[2], n[2], 1];
    let mut line = Vec::new();
    for axis in 0..3 {
        let (len, stride) = (n[axis], strides[axis]);
        if len == 1 {
            continue;
        }
        line.resize(len, C64::new(0.0, 0.0));
        // every line along `axis`: its first point p, the others p + t·stride
        for p in (0..a.len()).filter(|p| p / stride % len == 0) {
            for (t, v) in line.iter_mut().enumerate() {
                *v = a[p + t * stride];
            }
            fft[axis].process(&mut line);
            for (t, v) in line.iter().enumerate() {
                a[p + t * stride] = *v;
            }
        }
    }
}

impl Resample {
    /// The transfer from `from` to `to`, grids of one, two or three
    /// dimensions. Both must span the same domain (`nx·dx`, `ny·dy` and
    /// `nz·dz` equal to 1e-12 relative, and have the same dimensions),
    /// else [`FieldError::Operator`].
    pub fn new(from: Grid, to: Grid) -> Result<Self, FieldError> {
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
        let extent = |g: &Grid| [g.nx as f64 * g.dx, g.ny as f64 * g.dy, g.nz as f64 * g.dz];
        if from.dims() != to.dims() || !extent(&from).into_iter().zip(extent(&to)).all(|(a, b)| same(a, b)) {
            return Err(FieldError::Operator("resampling needs two grids of the same periodic domain"));
        }
        let mut p = FftPlanner::<f64>::new();
        let (f, t) = (sizes(&from), sizes(&to));
        Ok(Resample { from, to, from_fft: f.map(|n| p.plan_fft_forward(n)), to_fft: t.map(|n| p.plan_fft_inverse(n)) })
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
        let (f, t) = (sizes(&self.from), sizes(&self.to));
        let mut hat: Vec<C64> = a.iter().map(|&v| C64::new(v, 0.0)).collect();
        transform(&mut hat, f, &self.from_fft);
        let mut band = vec![C64::new(0.0, 0.0); self.to.len()];
        // the coefficient's position on the second grid along an axis (an
        // axis of one point keeps its one coefficient, the mean)
        let to_pos = |k: usize, axis: usize| signed(k, f[axis]).and_then(|s| position(s, t[axis]));
        for i in 0..f[0] {
            let Some(ti) = to_pos(i, 0) else { continue };
            for j in 0..f[1] {
                let Some(tj) = to_pos(j, 1) else { continue };
                for k in 0..f[2] {
                    if let Some(tk) = to_pos(k, 2) {
                        band[(ti * t[1] + tj) * t[2] + tk] = hat[(i * f[1] + j) * f[2] + k] * scale;
                    }
                }
            }
        }
        transform(&mut band, t, &self.to_fft);
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

    /// The maps between `fine` and `coarse`, after checking that they
    /// reproduce the band field sampled as `af` and `ac` on either grid.
    fn band_reproduced(fine: Grid, coarse: Grid, af: &[f64], ac: &[f64]) -> (Resample, Resample) {
        let down = Resample::new(fine, coarse).unwrap();
        let up = Resample::new(coarse, fine).unwrap();
        let (mut c, mut u) = (vec![0.0; coarse.len()], vec![0.0; fine.len()]);
        down.values(af, &mut c).unwrap();
        up.values(ac, &mut u).unwrap();
        for (a, b) in c.iter().zip(ac).chain(u.iter().zip(af)) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        (down, up)
    }

    /// `⟨P v, w⟩ = ⟨v, Pᵀ w⟩` for arbitrary (not band-limited) vectors, `P`
    /// the isometric map `up`, `Pᵀ` the isometric map `down`.
    fn isometric_adjoint(up: &Resample, down: &Resample) {
        let (coarse, fine) = (up.from(), up.to());
        let v: Vec<f64> = (0..coarse.len()).map(|k| ((k * 37 % 11) as f64 - 5.0) * 0.1).collect();
        let w: Vec<f64> = (0..fine.len()).map(|k| ((k * 13 % 7) as f64 - 3.0).sin()).collect();
        let (mut pv, mut ptw) = (vec![0.0; fine.len()], vec![0.0; coarse.len()]);
        up.isometric(&v, &mut pv).unwrap();
        down.isometric(&w, &mut ptw).unwrap();
        let (lhs, rhs) = (dot(&pv, &w), dot(&v, &ptw));
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "⟨Pv, w⟩ = {lhs}, ⟨v, Pᵀw⟩ = {rhs}");
    }

    #[test]
    fn a_band_limited_field_is_reproduced_on_either_grid() {
        let (fine, coarse) = (Grid::new(24, 16, 0.25, 0.5).unwrap(), Grid::new(12, 8, 0.5, 1.0).unwrap());
        // wavenumbers below both grids' Nyquist modes
        let tau = 2.0 * std::f64::consts::PI;
        let f = |x: f64, y: f64| {
            0.3 + (tau * 2.0 * x / 6.0).sin() * (tau * 3.0 * y / 8.0).cos() + (tau * (x / 6.0 - y / 8.0)).cos()
        };
        let (down, _) = band_reproduced(fine, coarse, &fine.sample(f), &coarse.sample(f));
        let mut c = vec![0.0; coarse.len()];
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
        isometric_adjoint(&up, &down);
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
    fn in_three_dimensions_a_band_field_is_reproduced_and_the_isometric_maps_are_adjoint() {
        let fine = Grid::new3(12, 8, 10, 0.5, 1.0, 0.6).unwrap();
        let coarse = Grid::new3(6, 8, 5, 1.0, 1.0, 1.2).unwrap();
        let tau = 2.0 * std::f64::consts::PI;
        // the domain is 6 × 8 × 6: wavenumbers below both grids' Nyquist modes
        let f = |x: f64, y: f64, z: f64| {
            0.2 + (tau * (x / 6.0 + 2.0 * z / 6.0)).sin() * (tau * 3.0 * y / 8.0).cos()
                + (tau * (2.0 * x / 6.0 - y / 8.0)).cos()
        };
        let (down, up) = band_reproduced(fine, coarse, &fine.sample3(f), &coarse.sample3(f));
        // a mode along z only the fine grid has is dropped going down
        let high = fine.sample3(|x, _, z| (tau * 3.0 * z / 6.0).cos() * (1.0 + (tau * x / 6.0).sin()));
        let mut c = vec![0.0; coarse.len()];
        down.values(&high, &mut c).unwrap();
        assert!(c.iter().all(|v| v.abs() < 1e-12));
        isometric_adjoint(&up, &down);
    }

    #[test]
    fn grids_of_different_domains_or_wrong_lengths_are_errors() {
        let a = Grid::periodic_square(8, 1.0).unwrap();
        assert!(Resample::new(a, Grid::periodic_square(4, 2.0).unwrap()).is_err());
        // a plane and a volume are not the same domain
        assert!(Resample::new(a, Grid::periodic_cube(8, 1.0).unwrap()).is_err());
        assert!(
            Resample::new(Grid::periodic_cube(8, 1.0).unwrap(), Grid::new3(4, 4, 4, 0.25, 0.25, 0.5).unwrap()).is_err()
        );
        let r = Resample::new(a, Grid::periodic_square(4, 1.0).unwrap()).unwrap();
        let mut out = vec![0.0; 16];
        assert!(r.values(&[0.0; 63], &mut out).is_err());
        assert!(r.values(&[0.0; 64], &mut out[..15]).is_err());
    }
}
