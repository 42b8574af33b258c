//! A sparse operator that depends on a tape scalar: implicit diffusion
//! `A(κ) u⁺ = u` with `A(κ) = I + κ dt (−L)` and the conductivity `κ`
//! differentiable. Gradients against central differences, HVPs (duals)
//! against differences of gradients, the second-order forward mode
//! (`Dual<Dual<f64>>`, four components) against the HVP, and the typed
//! errors of an operator used the wrong way.

use rewind_field::{Components, Ctx, FieldError, FieldTape, Grid, Par, SparseSpd};
use rewind_tape::Dual;

fn grid() -> Grid {
    Grid::new(9, 7, 1.0 / 10.0, 1.0 / 8.0).unwrap()
}

fn tape<T: Components>() -> FieldTape<T> {
    FieldTape::new(grid()).with_sparse(SparseSpd::implicit_diffusion(&grid(), 0.01).unwrap()).unwrap()
}

/// `J = ½ ‖x₂‖² + ⟨w, x₁⟩` with `x₁ = A(κ)⁻¹ u`, `x₂ = A(κ)⁻¹ (x₁²)`; its
/// value and (when recording) its gradient `(∂J/∂u, ∂J/∂κ)`.
fn body<'id, T: Components>(c: &'id Ctx<'id, T>, u: &[T], kappa: T, record: bool) -> (T, Vec<T>, T) {
    let w = grid().sample(|x, y| (3.0 * x).sin() + y);
    let (uf, k) = (c.input(u).unwrap(), c.scalar(kappa));
    let x1 = uf.solve_sparse_at(k).unwrap();
    let x2 = (x1 * x1).solve_sparse_at(k).unwrap();
    let j = x2.sqnorm() * 0.5 + x1.mask(&w).unwrap().sum();
    if !record {
        return (j.value(), Vec::new(), T::zero());
    }
    let adj = c.gradient(j).unwrap();
    (j.value(), adj.field(uf).to_vec(), adj.scalar(k))
}

fn j<T: Components>(tape: &mut FieldTape<T>, u: &[T], kappa: T, record: bool) -> (T, Vec<T>, T) {
    if record {
        tape.record(Par::Seq, |c| body(c, u, kappa, true))
    } else {
        tape.eval(Par::Seq, |c| body(c, u, kappa, false))
    }
}

#[test]
fn gradient_hvp_and_second_order_forward_mode_agree_with_differences() {
    let g = grid();
    let u0 = g.sample(|x, y| 1.0 + (6.0 * x).sin() * (5.0 * y).cos());
    let v = g.sample(|x, y| (x - y).cos());
    let (k0, dk) = (0.8, 0.6);
    let mut t = tape::<f64>();
    let (_, gu, gk) = j(&mut t, &u0, k0, true);
    let at = |e: f64| -> (Vec<f64>, f64) { (u0.iter().zip(&v).map(|(a, b)| a + e * b).collect(), k0 + e * dk) };
    // ⟨∇J, (v, dκ)⟩ against a central difference
    let e = 1e-5;
    let ((up, kp), (um, km)) = (at(e), at(-e));
    let fd = (j(&mut t, &up, kp, false).0 - j(&mut t, &um, km, false).0) / (2.0 * e);
    let ad = gu.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() + gk * dk;
    assert!((ad - fd).abs() < 1e-8 * fd.abs(), "<grad, v> {ad} vs FD {fd}");
    // the κ part alone
    let fdk = (j(&mut t, &u0, k0 + e, false).0 - j(&mut t, &u0, k0 - e, false).0) / (2.0 * e);
    assert!((gk - fdk).abs() < 1e-8 * fdk.abs(), "dJ/dκ {gk} vs FD {fdk}");

    // HVP by forward-over-reverse: (u, κ) as duals in the direction (v, dκ)
    let mut td = tape::<Dual<f64>>();
    let ud: Vec<Dual<f64>> = u0.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let (jd, hu, hk) = j(&mut td, &ud, Dual::new(k0, dk), true);
    assert!((jd.eps - ad).abs() < 1e-12 * ad.abs(), "the tangent of J is the directional derivative");
    let e = 1e-5;
    let ((up, kp), (um, km)) = (at(e), at(-e));
    let ((_, gp, gkp), (_, gm, gkm)) = (j(&mut t, &up, kp, true), j(&mut t, &um, km, true));
    let size = hu.iter().map(|d| d.eps.abs()).fold(hk.eps.abs(), f64::max);
    for k in 0..u0.len() {
        let fd = (gp[k] - gm[k]) / (2.0 * e);
        assert!((hu[k].eps - fd).abs() < 1e-7 * size, "k = {k}: {} vs {fd}", hu[k].eps);
    }
    let fdk = (gkp - gkm) / (2.0 * e);
    assert!((hk.eps - fdk).abs() < 1e-7 * size, "(Hv)_κ {} vs {fdk}", hk.eps);

    // forward-over-forward: d²J/dt² along (v, dκ) = ⟨(v, dκ), H (v, dκ)⟩
    let mut t2 = tape::<Dual<Dual<f64>>>();
    let dd = |a: f64, b: f64| Dual::new(Dual::new(a, b), Dual::new(b, 0.0));
    let u2: Vec<Dual<Dual<f64>>> = u0.iter().zip(&v).map(|(&a, &b)| dd(a, b)).collect();
    let (j2, _, _) = j(&mut t2, &u2, dd(k0, dk), false);
    let vhv = hu.iter().zip(&v).map(|(h, b)| h.eps * b).sum::<f64>() + hk.eps * dk;
    assert!((j2.eps.eps - vhv).abs() < 1e-10 * vhv.abs(), "second derivative {} vs <v, Hv> {vhv}", j2.eps.eps);
}

#[test]
fn an_operator_used_the_wrong_way_is_a_typed_error() {
    let g = grid();
    let u = vec![1.0; g.len()];
    // affine operator solved as a constant one: the κ-derivative would be lost
    let mut t = tape::<f64>();
    let e = t.eval(Par::Seq, |c| c.input(&u).unwrap().solve_sparse().map(|_| ()).unwrap_err());
    assert!(matches!(e, FieldError::Operator(m) if m.contains("depends on a parameter")), "{e}");
    // a constant operator solved at a parameter
    let mut c = FieldTape::<f64>::new(g).with_sparse(SparseSpd::dirichlet_laplacian(&g).unwrap()).unwrap();
    let e = c.eval(Par::Seq, |c| c.input(&u).unwrap().solve_sparse_at(c.scalar(1.0)).map(|_| ()).unwrap_err());
    assert!(matches!(e, FieldError::Operator(m) if m.contains("constant")), "{e}");
    // a parameter value for which A(κ) is not positive definite
    let e = t.eval(Par::Seq, |c| c.input(&u).unwrap().solve_sparse_at(c.scalar(-1e3)).map(|_| ()).unwrap_err());
    assert!(matches!(e, FieldError::Singular { .. }), "{e}");
    let e = SparseSpd::implicit_diffusion(&g, 0.01).unwrap().solve(&u, &mut vec![0.0; g.len()]).unwrap_err();
    assert!(matches!(e, FieldError::Operator(_)), "{e}");
}
