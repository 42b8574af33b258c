//! The functional API's less travelled paths: `vjp` against `jvp` (the
//! dot-product identity), `value_and_derivative`, recursion, the gradient
//! checker and both finite-difference helpers, constants on the left of an
//! operator, and a custom primitive with its own hand-written JVP.

use rewind_tape::fd::{central_difference, forward_difference};
use rewind_tape::{
    CustomOp, Dual, Real, check_custom_op, check_gradient, custom, custom1, grad, hvp, jvp, scalar_fn,
    value_and_derivative, vjp,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// R³ → R², nonlinear in every input.
fn field<T: Real>(x: &[T]) -> Vec<T> {
    vec![x[0] * x[1].sin() + x[2].exp(), (x[0] * x[2]).tanh() - x[1] * x[1] * x[2]]
}

#[test]
fn vjp_and_jvp_satisfy_the_dot_product_identity() {
    let x = [0.7, -1.3, 0.4];
    let v = [0.5, 2.0, -1.0];
    let w = [1.5, -0.25];
    let (y1, jv) = jvp(field, &x, &v).unwrap();
    let (y2, jtw) = vjp(|x| field(x), &x, &w).unwrap();
    for k in 0..2 {
        assert!(close(y1[k], y2[k], 1e-15), "both modes evaluate the same function");
    }
    let (lhs, rhs) = (dot(&jv, &w), dot(&v, &jtw));
    assert!(close(lhs, rhs, 1e-15), "⟨Jv, w⟩ = {lhs}, ⟨v, Jᵀw⟩ = {rhs}");
    // and each against central differences
    for k in 0..2 {
        let fd = central_difference(|x| field(x)[k], &x, 1e-6);
        assert!(close(dot(&fd, &v), jv[k], 1e-8), "jvp component {k}");
    }
    let fd_w = central_difference(|x| dot(&field(x), &w), &x, 1e-6);
    for i in 0..3 {
        assert!(close(fd_w[i], jtw[i], 1e-8), "vjp component {i}: {} vs {}", jtw[i], fd_w[i]);
    }
    // a cotangent of the wrong length is a typed error, not a panic
    assert!(vjp(|x| field(x), &x, &[1.0]).is_err());
}

#[test]
fn value_and_derivative_of_a_composition() {
    let (y, d) = value_and_derivative(|x: Dual<f64>| (x * x).sin() / x, 1.3);
    let f = |x: f64| (x * x).sin() / x;
    assert!(close(y, f(1.3), 1e-15));
    // d/dx sin(x²)/x = 2 cos(x²) − sin(x²)/x²
    let exact = 2.0 * (1.3f64 * 1.3).cos() - (1.3f64 * 1.3).sin() / (1.3 * 1.3);
    assert!(close(d, exact, 1e-15), "{d} vs {exact}");
}

/// x ↦ sin(sin(…sin(x)…)), `depth` times, written recursively.
fn nested_sin<T: Real>(x: T, depth: u32) -> T {
    if depth == 0 { x } else { nested_sin(x, depth - 1).sin() }
}

/// A recursive product over a slice: p(x) = x₀·p(x₁..).
fn rec_product<T: Real>(x: &[T]) -> T {
    match x {
        [] => T::one(),
        [head, rest @ ..] => *head * rec_product(rest),
    }
}

#[test]
fn recursion_is_differentiated_like_any_control_flow() {
    // chain rule by hand: d/dx sⁿ(x) = Π cos(sᵏ(x)), k = 0..n−1
    let x0 = 0.9;
    let g = grad(|x| nested_sin(x[0], 6), &[x0]).unwrap();
    let (mut s, mut exact) = (x0, 1.0);
    for _ in 0..6 {
        exact *= f64::cos(s);
        s = s.sin();
    }
    assert!(close(g[0], exact, 1e-15), "{} vs {exact}", g[0]);
    // ∂/∂xᵢ Π x = Π_{j≠i} xⱼ; H v by forward-over-reverse against FD of the gradient
    let x = [1.5, -0.5, 2.0, 0.25];
    let g = grad(|x| rec_product(x), &x).unwrap();
    for i in 0..4 {
        let others: f64 = (0..4).filter(|&j| j != i).map(|j| x[j]).product();
        assert!(close(g[i], others, 1e-15), "∂p/∂x{i}");
    }
    let v = [0.3, 1.0, -0.7, 0.2];
    let hv = hvp(|x| rec_product(x), &x, &v).unwrap();
    let h = 1e-5;
    let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
    let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
    let (gp, gm) = (grad(|x| rec_product(x), &xp).unwrap(), grad(|x| rec_product(x), &xm).unwrap());
    for i in 0..4 {
        assert!(close(hv[i], (gp[i] - gm[i]) / (2.0 * h), 1e-8), "Hv component {i}");
    }
}

fn rosen2<T: Real>(x: &[T]) -> T {
    let a = x[1] - x[0] * x[0];
    let b = T::one() - x[0];
    a * a * 100.0 + b * b
}

#[test]
fn gradient_checker_passes_a_correct_gradient() {
    let t = check_gradient(&scalar_fn!(rosen2), &[-1.2, 1.0], &[0.3, -0.8]).unwrap();
    assert!(t.passed(), "{t:?}");
}

#[test]
fn forward_difference_is_first_order_and_central_second_order() {
    let f = |x: &[f64]| x[0].exp() * x[1].sin();
    let x = [0.4, 1.1];
    let exact = [x[0].exp() * x[1].sin(), x[0].exp() * x[1].cos()];
    let err = |g: Vec<f64>| (g[0] - exact[0]).abs().max((g[1] - exact[1]).abs());
    let (f1, f2) = (err(forward_difference(f, &x, 1e-3)), err(forward_difference(f, &x, 1e-4)));
    let (c1, c2) = (err(central_difference(f, &x, 1e-2)), err(central_difference(f, &x, 1e-3)));
    // dividing h by 10 divides the error by ~10 (first order) or ~100 (second)
    assert!((5.0..20.0).contains(&(f1 / f2)), "forward: {f1:e} → {f2:e}");
    assert!((50.0..200.0).contains(&(c1 / c2)), "central: {c1:e} → {c2:e}");
}

#[test]
fn constants_on_the_left_of_an_operator() {
    // c − x, c / x, c + x, c · x for the tape (Var) and for Dual, against FD
    let x = [0.8, -1.7];
    let g = grad(|x| (3.0 - x[0]) * (2.0 / x[1]) + (1.5 + x[0]) * (0.5 * x[1]), &x).unwrap();
    let f = |x: &[f64]| (3.0 - x[0]) * (2.0 / x[1]) + (1.5 + x[0]) * (0.5 * x[1]);
    let fd = central_difference(f, &x, 1e-6);
    for i in 0..2 {
        assert!(close(g[i], fd[i], 1e-8), "tape ∂{i}: {} vs {}", g[i], fd[i]);
    }
    let (_, jv) = jvp(|x| vec![(3.0 - x[0]) * (2.0 / x[1]) + (1.5 + x[0]) * (0.5 * x[1])], &x, &[1.0, 0.0]).unwrap();
    assert!(close(jv[0], fd[0], 1e-8), "dual: {} vs {}", jv[0], fd[0]);
    // second order through the constant-left forms (forward-over-reverse)
    let hv = hvp(|x| 2.0 / (x[0] * x[1]) - 1.0 / x[0], &x, &[1.0, 0.0]).unwrap();
    // ∂²/∂x₀² = 4/(x₀³x₁) − 2/x₀³, ∂²/∂x₀∂x₁ = 2/(x₀²x₁²)
    let (a, b) = (x[0], x[1]);
    assert!(close(hv[0], 4.0 / (a * a * a * b) - 2.0 / (a * a * a), 1e-14), "{hv:?}");
    assert!(close(hv[1], 2.0 / (a * a * b * b), 1e-14), "{hv:?}");
}

#[test]
fn powi_special_cases_match_repeated_multiplication() {
    for k in [-3, -1, 0, 1, 2, 3, 5] {
        let x = [1.3];
        let g = grad(|x| x[0].powi(k), &x).unwrap();
        let hv = hvp(|x| x[0].powi(k), &x, &[1.0]).unwrap();
        let kf = f64::from(k);
        assert!(close(g[0], kf * 1.3f64.powi(k - 1), 1e-15), "d/dx x^{k}");
        assert!(close(hv[0], kf * (kf - 1.0) * 1.3f64.powi(k - 2), 1e-14), "d²/dx² x^{k}");
    }
}

/// The softplus log(1 + eˣ) elementwise, with a hand-written JVP
/// (σ(x)·ẋ) instead of the default assembled from the VJP.
struct Softplus;
impl CustomOp for Softplus {
    const OUTPUTS: usize = 3;
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = xi.exp().log1p();
        }
    }
    fn vjp<T: Real>(&self, x: &[T], _y: &[T], ybar: &[T], xbar: &mut [T]) {
        for ((b, &xi), &yb) in xbar.iter_mut().zip(x).zip(ybar) {
            *b += yb / ((-xi).exp() + 1.0);
        }
    }
    fn jvp<T: Real>(&self, x: &[T], _y: &[T], xdot: &[T], ydot: &mut [T]) {
        for ((d, &xi), &xd) in ydot.iter_mut().zip(x).zip(xdot) {
            *d = xd / ((-xi).exp() + 1.0);
        }
    }
}

/// The same operation with a wrong JVP (a factor of two): the checker
/// must notice, because forward mode uses the JVP.
struct SoftplusBadJvp;
impl CustomOp for SoftplusBadJvp {
    const OUTPUTS: usize = 3;
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        Softplus.eval(x, y)
    }
    fn vjp<T: Real>(&self, x: &[T], y: &[T], ybar: &[T], xbar: &mut [T]) {
        Softplus.vjp(x, y, ybar, xbar)
    }
    fn jvp<T: Real>(&self, x: &[T], y: &[T], xdot: &[T], ydot: &mut [T]) {
        Softplus.jvp(x, y, xdot, ydot);
        ydot.iter_mut().for_each(|d| *d *= 2.0);
    }
}

fn softplus_plain<T: Real>(x: &[T]) -> T {
    x.iter().map(|&xi| xi.exp().log1p()).sum()
}

#[test]
fn custom_op_with_its_own_jvp() {
    let x = [0.5, -2.0, 1.25];
    let v = [1.0, -0.5, 2.0];
    // forward mode goes through the hand-written JVP
    let (_, jv) = jvp(|x| custom(&Softplus, x), &x, &v).unwrap();
    for i in 0..3 {
        let sig = 1.0 / (1.0 + (-x[i]).exp());
        assert!(close(jv[i], sig * v[i], 1e-15), "jvp {i}");
    }
    let check = check_custom_op(&Softplus, &x, &v, &[0.3, -1.0, 2.0]).unwrap();
    assert!(check.dot_product < 1e-14 && check.finite_difference < 1e-8, "{check:?}");
    let bad = check_custom_op(&SoftplusBadJvp, &x, &v, &[0.3, -1.0, 2.0]).unwrap();
    assert!(bad.dot_product > 0.1, "a JVP that disagrees with the VJP is caught: {bad:?}");
    // HVP through the primitive (its rules differentiated again) equals the
    // HVP of the plain composition: diag(σ(1 − σ)) v
    let hv = hvp(
        |x| {
            let y = custom(&Softplus, x);
            y[0] + y[1] + y[2]
        },
        &x,
        &v,
    )
    .unwrap();
    let hv_plain = hvp(|x| softplus_plain(x), &x, &v).unwrap();
    for i in 0..3 {
        let sig = 1.0 / (1.0 + (-x[i]).exp());
        assert!(close(hv[i], sig * (1.0 - sig) * v[i], 1e-14), "Hv {i}");
        assert!(close(hv[i], hv_plain[i], 1e-14));
    }
    // and a second-order JVP-over-JVP: d²/dt² softplus(x + t v) at t = 0
    let t = Dual::new(Dual::new(0.0, 1.0), Dual::new(1.0, 0.0));
    let xs: Vec<Dual<Dual<f64>>> = x.iter().zip(&v).map(|(&a, &b)| t * b + a).collect();
    let y = custom1(&SumSoftplus, &xs);
    let exact: f64 = (0..3)
        .map(|i| {
            let sig = 1.0 / (1.0 + (-x[i]).exp());
            sig * (1.0 - sig) * v[i] * v[i]
        })
        .sum();
    assert!(close(y.eps.eps, exact, 1e-14), "{} vs {exact}", y.eps.eps);
}

/// Σ softplus(xᵢ) as a one-output primitive with its own JVP.
struct SumSoftplus;
impl CustomOp for SumSoftplus {
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        y[0] = softplus_plain(x);
    }
    fn vjp<T: Real>(&self, x: &[T], _y: &[T], ybar: &[T], xbar: &mut [T]) {
        for (b, &xi) in xbar.iter_mut().zip(x) {
            *b += ybar[0] / ((-xi).exp() + 1.0);
        }
    }
    fn jvp<T: Real>(&self, x: &[T], _y: &[T], xdot: &[T], ydot: &mut [T]) {
        ydot[0] = x.iter().zip(xdot).map(|(&xi, &xd)| xd / ((-xi).exp() + 1.0)).sum();
    }
}
