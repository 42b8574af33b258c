//! The numerical kernels that are not stencils of fixed offsets, written
//! once over [`Real`], and their adjoints: the Arakawa Jacobian, upwind
//! and semi-Lagrangian advection, periodic shifts. (The Laplacian and the
//! differences are [`Stencil`](crate::Stencil)s: [`crate::stencils`].)
//!
//! Each kernel overwrites `out` (row by row: `*_row` computes one row, for
//! a new buffer written by the threads that zero-filled its rows in
//! cache); each adjoint ("`_vjp`") *adds* the transpose applied to the
//! output adjoint into the input adjoints. Rows are independent (see
//! [`crate::par`]), so every kernel is parallel and deterministic. Stencils are written as gathers — adjoints too — so that
//! no two rows ever write the same value; only the scatter of the
//! semi-Lagrangian adjoint is sequential.

use rewind_tape::Real;

use crate::Grid;
use crate::par::{Par, for_rows, weight};

/// The periodic neighbours `(i − 1, i + 1)` of row `i` of `n`.
#[inline(always)]
pub(crate) fn nbr(i: usize, n: usize) -> (usize, usize) {
    (if i == 0 { n - 1 } else { i - 1 }, if i + 1 == n { 0 } else { i + 1 })
}

/// Row `i` of a field.
#[inline(always)]
pub(crate) fn row<T>(a: &[T], ny: usize, i: usize) -> &[T] {
    &a[i * ny..(i + 1) * ny]
}

/// The Arakawa Jacobian `J(p, q) = (J₁ + J₂ + J₃) / 3`, each over `4h²`
/// (`docs/specs/ns2d-periodic.md`; `h = dx`, the grid must be square).
/// On a periodic grid `⟨a, J(p, q)⟩ = ⟨p, J(q, a)⟩ = ⟨q, J(a, p)⟩`, so its
/// adjoint is two more Jacobians.
pub fn arakawa<T: Real + Send + Sync>(g: &Grid, p: &[T], q: &[T], out: &mut [T], par: Par) {
    for_rows(par, weight::HEAVY, out, g.ny, |i, o| arakawa_row(g, p, q, i, o));
}

/// The Arakawa stencil at one point, from the three rows of `p` and `q`
/// around it, at columns `j` and its neighbours `jm`, `jp`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn arakawa_at<T: Real>(
    (pm, p0, pp): (&[T], &[T], &[T]),
    (qm, q0, qp): (&[T], &[T], &[T]),
    j: usize,
    jm: usize,
    jp: usize,
    c: f64,
) -> T {
    let j1 = (pp[j] - pm[j]) * (q0[jp] - q0[jm]) - (p0[jp] - p0[jm]) * (qp[j] - qm[j]);
    let j2 =
        pp[j] * (qp[jp] - qp[jm]) - pm[j] * (qm[jp] - qm[jm]) - p0[jp] * (qp[jp] - qm[jp]) + p0[jm] * (qp[jm] - qm[jm]);
    let j3 =
        q0[jp] * (pp[jp] - pm[jp]) - q0[jm] * (pp[jm] - pm[jm]) - qp[j] * (pp[jp] - pp[jm]) + qm[j] * (pm[jp] - pm[jm]);
    (j1 + j2 + j3) * c
}

/// Row `i` of [`arakawa`].
pub(crate) fn arakawa_row<T: Real>(g: &Grid, p: &[T], q: &[T], i: usize, o: &mut [T]) {
    let (nx, ny) = (g.nx, g.ny);
    let c = 1.0 / (12.0 * g.dx * g.dy);
    {
        let (im, ip) = nbr(i, nx);
        let pr = (row(p, ny, im), row(p, ny, i), row(p, ny, ip));
        let qr = (row(q, ny, im), row(q, ny, i), row(q, ny, ip));
        if ny < 3 {
            for j in 0..ny {
                let (jm, jp) = nbr(j, ny);
                o[j] = arakawa_at(pr, qr, j, jm, jp, c);
            }
            return;
        }
        o[0] = arakawa_at(pr, qr, 0, ny - 1, 1, c);
        o[ny - 1] = arakawa_at(pr, qr, ny - 1, ny - 2, 0, c);
        // interior: the same formula on slices shifted by −1, 0, +1, all of
        // one length, so the bounds checks go and the loop vectorises
        let n = ny - 2;
        fn sh<T>(r: &[T], n: usize) -> [&[T]; 3] {
            [&r[..n], &r[1..n + 1], &r[2..n + 2]]
        }
        let ([pm_l, pm_c, pm_r], [p0_l, _, p0_r], [pp_l, pp_c, pp_r]) = (sh(pr.0, n), sh(pr.1, n), sh(pr.2, n));
        let ([qm_l, qm_c, qm_r], [q0_l, _, q0_r], [qp_l, qp_c, qp_r]) = (sh(qr.0, n), sh(qr.1, n), sh(qr.2, n));
        let o = &mut o[1..n + 1];
        for j in 0..n {
            let j1 = (pp_c[j] - pm_c[j]) * (q0_r[j] - q0_l[j]) - (p0_r[j] - p0_l[j]) * (qp_c[j] - qm_c[j]);
            let j2 = pp_c[j] * (qp_r[j] - qp_l[j]) - pm_c[j] * (qm_r[j] - qm_l[j]) - p0_r[j] * (qp_r[j] - qm_r[j])
                + p0_l[j] * (qp_l[j] - qm_l[j]);
            let j3 = q0_r[j] * (pp_r[j] - pm_r[j]) - q0_l[j] * (pp_l[j] - pm_l[j]) - qp_c[j] * (pp_r[j] - pp_l[j])
                + qm_c[j] * (pm_r[j] - pm_l[j]);
            o[j] = (j1 + j2 + j3) * c;
        }
    }
}

/// Periodic roll: `out[i, j, k] = a[i − di, j − dj, k]`.
pub fn shift<T: Real + Send + Sync>(g: &Grid, a: &[T], di: isize, dj: isize, out: &mut [T], par: Par) {
    for_rows(par, weight::STENCIL, out, g.plane_len(), |i, o| shift_row(g, a, di, dj, i, o));
}

/// Plane `i` of [`shift`]: whole lines moved in 3D, each line rotated in
/// 1D and 2D (where the line is along y).
pub(crate) fn shift_row<T: Copy>(g: &Grid, a: &[T], di: isize, dj: isize, i: usize, o: &mut [T]) {
    let ((lines, n), plane) = (g.lines(), g.plane_len());
    let (dl, dc) = if g.nz > 1 { (dj, 0) } else { (0, dj) };
    let sc = dc.rem_euclid(n as isize) as usize;
    let src = row(a, plane, (i as isize - di).rem_euclid(g.nx as isize) as usize);
    for (l, o) in o.chunks_exact_mut(n).enumerate() {
        let from = (l as isize - dl).rem_euclid(lines as isize) as usize;
        let src = &src[from * n..(from + 1) * n];
        // o[j] = src[j − sc]: two contiguous runs
        o[sc..].copy_from_slice(&src[..n - sc]);
        o[..sc].copy_from_slice(&src[n - sc..]);
    }
}

#[inline(always)]
fn pos<T: Real>(u: T) -> T {
    if u > 0.0 { u } else { T::zero() }
}
#[inline(always)]
fn neg<T: Real>(u: T) -> T {
    if u < 0.0 { u } else { T::zero() }
}

/// First-order upwind advection `u ∂q/∂x + v ∂q/∂y`: backward differences
/// where the velocity is positive, forward where it is negative.
pub fn upwind<T: Real + Send + Sync>(g: &Grid, q: &[T], u: &[T], v: &[T], out: &mut [T], par: Par) {
    let (nx, ny) = (g.nx, g.ny);
    let (cx, cy) = (1.0 / g.dx, 1.0 / g.dy);
    for_rows(par, weight::HEAVY, out, ny, |i, o| {
        let (im, ip) = nbr(i, nx);
        let (qm, q0, qp) = (row(q, ny, im), row(q, ny, i), row(q, ny, ip));
        let (u0, v0) = (row(u, ny, i), row(v, ny, i));
        for j in 0..ny {
            let (jm, jp) = nbr(j, ny);
            let ax = pos(u0[j]) * (q0[j] - qm[j]) + neg(u0[j]) * (qp[j] - q0[j]);
            let ay = pos(v0[j]) * (q0[j] - q0[jm]) + neg(v0[j]) * (q0[jp] - q0[j]);
            o[j] = ax * cx + ay * cy;
        }
    });
}

/// Adjoint of [`upwind`]: adds `∂/∂q, ∂/∂u, ∂/∂v` of `⟨ā, upwind(q, u, v)⟩`.
#[allow(clippy::too_many_arguments)]
pub fn upwind_vjp<T: Real + Send + Sync>(
    g: &Grid,
    q: &[T],
    u: &[T],
    v: &[T],
    abar: &[T],
    qbar: &mut [T],
    ubar: &mut [T],
    vbar: &mut [T],
    par: Par,
) {
    let (nx, ny) = (g.nx, g.ny);
    let (cx, cy) = (1.0 / g.dx, 1.0 / g.dy);
    // q̄ₖ = āₖ(u⁺ₖ − u⁻ₖ)/dx − āₖ₊₁u⁺ₖ₊₁/dx + āₖ₋₁u⁻ₖ₋₁/dx  (and along y)
    for_rows(par, weight::HEAVY, qbar, ny, |i, o| {
        let (im, ip) = nbr(i, nx);
        let (a0, am, ap) = (row(abar, ny, i), row(abar, ny, im), row(abar, ny, ip));
        let (u0, um, up) = (row(u, ny, i), row(u, ny, im), row(u, ny, ip));
        let v0 = row(v, ny, i);
        for j in 0..ny {
            let (jm, jp) = nbr(j, ny);
            let x = a0[j] * (pos(u0[j]) - neg(u0[j])) - ap[j] * pos(up[j]) + am[j] * neg(um[j]);
            let y = a0[j] * (pos(v0[j]) - neg(v0[j])) - a0[jp] * pos(v0[jp]) + a0[jm] * neg(v0[jm]);
            o[j] += x * cx + y * cy;
        }
    });
    for_rows(par, weight::HEAVY, ubar, ny, |i, o| {
        let (im, ip) = nbr(i, nx);
        let (qm, q0, qp) = (row(q, ny, im), row(q, ny, i), row(q, ny, ip));
        let (a0, u0) = (row(abar, ny, i), row(u, ny, i));
        for j in 0..ny {
            let d = if u0[j] > 0.0 { q0[j] - qm[j] } else { qp[j] - q0[j] };
            o[j] += a0[j] * d * cx;
        }
    });
    for_rows(par, weight::HEAVY, vbar, ny, |i, o| {
        let (q0, a0, v0) = (row(q, ny, i), row(abar, ny, i), row(v, ny, i));
        for j in 0..ny {
            let (jm, jp) = nbr(j, ny);
            let d = if v0[j] > 0.0 { q0[j] - q0[jm] } else { q0[jp] - q0[j] };
            o[j] += a0[j] * d * cy;
        }
    });
}

/// Departure point of grid point `(i, j)` in grid units, split into the
/// lower-left cell corner (periodic) and the fractions `(fx, fy)`.
#[inline(always)]
fn departure<T: Real>(g: &Grid, i: usize, j: usize, u: T, v: T, dt: f64) -> (usize, usize, T, T) {
    let x = -(u * (dt / g.dx)) + i as f64;
    let y = -(v * (dt / g.dy)) + j as f64;
    let (x0, y0) = (x.value().floor(), y.value().floor());
    let i0 = (x0 as isize).rem_euclid(g.nx as isize) as usize;
    let j0 = (y0 as isize).rem_euclid(g.ny as isize) as usize;
    (i0, j0, x - x0, y - y0)
}

/// Semi-Lagrangian advection by bilinear interpolation:
/// `out[i, j] = q(xᵢ − dt·u[i, j], yⱼ − dt·v[i, j])`, periodic.
#[allow(clippy::too_many_arguments)]
pub fn semi_lagrangian<T: Real + Send + Sync>(g: &Grid, q: &[T], u: &[T], v: &[T], dt: f64, out: &mut [T], par: Par) {
    let (nx, ny) = (g.nx, g.ny);
    for_rows(par, weight::HEAVY, out, ny, |i, o| {
        for j in 0..ny {
            let k = i * ny + j;
            let (i0, j0, fx, fy) = departure(g, i, j, u[k], v[k], dt);
            let (i1, j1) = ((i0 + 1) % nx, (j0 + 1) % ny);
            let (q00, q10, q01, q11) = (q[i0 * ny + j0], q[i1 * ny + j0], q[i0 * ny + j1], q[i1 * ny + j1]);
            let gx = T::one() - fx;
            let gy = T::one() - fy;
            o[j] = gx * gy * q00 + fx * gy * q10 + gx * fy * q01 + fx * fy * q11;
        }
    });
}

/// Adjoint of [`semi_lagrangian`]. The part for `q` is a scatter to the
/// four corners of every departure cell; it runs sequentially, in grid
/// order, so it is deterministic.
#[allow(clippy::too_many_arguments)]
pub fn semi_lagrangian_vjp<T: Real + Send + Sync>(
    g: &Grid,
    q: &[T],
    u: &[T],
    v: &[T],
    dt: f64,
    abar: &[T],
    qbar: &mut [T],
    ubar: &mut [T],
    vbar: &mut [T],
) {
    let (nx, ny) = (g.nx, g.ny);
    for i in 0..nx {
        for j in 0..ny {
            let k = i * ny + j;
            let a = abar[k];
            let (i0, j0, fx, fy) = departure(g, i, j, u[k], v[k], dt);
            let (i1, j1) = ((i0 + 1) % nx, (j0 + 1) % ny);
            let (k00, k10, k01, k11) = (i0 * ny + j0, i1 * ny + j0, i0 * ny + j1, i1 * ny + j1);
            let gx = T::one() - fx;
            let gy = T::one() - fy;
            qbar[k00] += a * gx * gy;
            qbar[k10] += a * fx * gy;
            qbar[k01] += a * gx * fy;
            qbar[k11] += a * fx * fy;
            // ∂out/∂fx, ∂out/∂fy; fx = x − ⌊x⌋ with ∂x/∂u = −dt/dx
            let dfx = (q[k10] - q[k00]) * gy + (q[k11] - q[k01]) * fy;
            let dfy = (q[k01] - q[k00]) * gx + (q[k11] - q[k10]) * fx;
            ubar[k] += a * dfx * (-dt / g.dx);
            vbar[k] += a * dfy * (-dt / g.dy);
        }
    }
}
