//! The worked examples of the classic autodiff tutorials, with their known
//! answers.

use rewind_tape::fd::{central_derivative, central_difference, taylor_test};
use rewind_tape::{
    CustomOp, Dual, Real, check_custom_op, custom1, derivative, grad, hessian, hvp, jacobian_fwd, jacobian_rev, jvp,
    value_and_grad,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn f_xy<T: Real>(x: &[T]) -> T {
    x[0] * x[0] * x[1] + x[1] + 2.0
}

#[test]
fn x2y_plus_y_plus_2_gradient_and_hessian() {
    let (v, g) = value_and_grad(|x| f_xy(x), &[3.0, 4.0]).unwrap();
    assert_eq!(v, 42.0);
    assert_eq!(g, vec![24.0, 10.0]);
    assert_eq!(hessian(|x| f_xy(x), &[3.0, 4.0]).unwrap(), vec![vec![8.0, 6.0], vec![6.0, 0.0]]);
    // forward mode gives the same gradient
    let jf = jacobian_fwd(|x| vec![f_xy(x)], &[3.0, 4.0]).unwrap();
    assert_eq!(jf, vec![vec![24.0, 10.0]]);
}

fn g_sin<T: Real>(x: &[T]) -> T {
    x[0].sin() + x[0] * x[1]
}

#[test]
fn sin_x1_plus_x1_x2_forward_equals_reverse() {
    for &(a, b) in &[(0.5, 4.2), (2.0, 5.0), (-1.3, 0.7)] {
        let rev = grad(|x| g_sin(x), &[a, b]).unwrap();
        let fwd = jacobian_fwd(|x| vec![g_sin(x)], &[a, b]).unwrap().remove(0);
        let exact = [f64::cos(a) + b, a];
        for i in 0..2 {
            assert!(close(rev[i], fwd[i], 1e-15), "{rev:?} vs {fwd:?}");
            assert!(close(rev[i], exact[i], 1e-15));
        }
    }
}

fn sigmoid<T: Real>(p: &[T]) -> T {
    let (x, w, b) = (p[0], p[1], p[2]);
    (T::one() + (-(w * x + b)).exp()).recip()
}

#[test]
fn sigmoid_neuron_at_3_2_1() {
    let s = 1.0 / (1.0 + f64::exp(-7.0));
    let ds = s * (1.0 - s);
    let g = grad(|p| sigmoid(p), &[3.0, 2.0, 1.0]).unwrap();
    let expect = [2.0 * ds, 3.0 * ds, ds]; // d/dx = w σ', d/dw = x σ', d/db = σ'
    for i in 0..3 {
        assert!(close(g[i], expect[i], 1e-14), "{g:?} vs {expect:?}");
    }
    let fd = central_difference(sigmoid, &[3.0, 2.0, 1.0], 1e-5);
    for i in 0..3 {
        assert!(close(g[i], fd[i], 1e-8));
    }
}

/// sin by its Taylor series, summed until the terms vanish: a `while` loop
/// whose trip count depends on the input.
fn taylor_sine<T: Real>(x: T) -> T {
    let (mut term, mut sum, mut k) = (x, x, 1.0);
    while term.abs() > 1e-17 {
        term = -term * x * x / ((2.0 * k) * (2.0 * k + 1.0));
        sum += term;
        k += 1.0;
    }
    sum
}

#[test]
fn taylor_series_sine_gradient_at_pi_is_cos_pi() {
    let pi = std::f64::consts::PI;
    let g = grad(|x| taylor_sine(x[0]), &[pi]).unwrap()[0];
    assert!(close(g, -1.0, 1e-12), "{g}");
    assert!(close(derivative(taylor_sine, pi), -1.0, 1e-12));
}

#[test]
#[allow(clippy::excessive_precision)] // the literal as the tutorial prints it
fn tanh_derivative_at_one() {
    let expect = 0.41997434161402603;
    let fwd = derivative(|x: Dual<f64>| x.tanh(), 1.0);
    let rev = grad(|x| x[0].tanh(), &[1.0]).unwrap()[0];
    assert!((fwd - expect).abs() <= 2.0 * f64::EPSILON * expect, "{fwd}");
    assert!((rev - expect).abs() <= 2.0 * f64::EPSILON * expect, "{rev}");
}

#[test]
fn first_six_derivatives_of_tanh_by_nesting() {
    for &x in &[-1.2, 0.3, 1.0, 2.5] {
        let t: f64 = x.tanh();
        // d/dx P(t) = P'(t) (1 − t²): the polynomials in t = tanh x.
        let closed = [
            1.0 - t * t,
            -2.0 * t + 2.0 * t.powi(3),
            -2.0 + 8.0 * t * t - 6.0 * t.powi(4),
            16.0 * t - 40.0 * t.powi(3) + 24.0 * t.powi(5),
            16.0 - 136.0 * t * t + 240.0 * t.powi(4) - 120.0 * t.powi(6),
            -272.0 * t + 1232.0 * t.powi(3) - 1680.0 * t.powi(5) + 720.0 * t.powi(7),
        ];
        let d1 = derivative(|a| a.tanh(), x);
        let d2 = derivative(|a| derivative(|b| b.tanh(), a), x);
        let d3 = derivative(|a| derivative(|b| derivative(|c| c.tanh(), b), a), x);
        let d4 = derivative(|a| derivative(|b| derivative(|c| derivative(|d| d.tanh(), c), b), a), x);
        let d5 =
            derivative(|a| derivative(|b| derivative(|c| derivative(|d| derivative(|e| e.tanh(), d), c), b), a), x);
        let d6 = derivative(
            |a| derivative(|b| derivative(|c| derivative(|d| derivative(|e| derivative(|f| f.tanh(), e), d), c), b), a),
            x,
        );
        for (k, (&got, &want)) in [d1, d2, d3, d4, d5, d6].iter().zip(&closed).enumerate() {
            assert!(close(got, want, 1e-12), "order {}: {got} vs {want} at x = {x}", k + 1);
        }
    }
}

fn branchy<T: Real>(x: &[T]) -> T {
    if x[0] > 3.0 { x[0].ln() + x[0] * x[1] - x[1].sin() } else { x[0].ln() + x[0] * x[1] + x[1].sin() }
}

#[test]
fn branchy_function_takes_the_right_branch() {
    let g = grad(|x| branchy(x), &[2.0, 5.0]).unwrap();
    assert!(close(g[0], 0.5 + 5.0, 1e-15) && close(g[1], 2.0 + f64::cos(5.0), 1e-15), "{g:?}");
    let g = grad(|x| branchy(x), &[5.0, 2.0]).unwrap();
    assert!(close(g[0], 0.2 + 2.0, 1e-15) && close(g[1], 5.0 - f64::cos(2.0), 1e-15), "{g:?}");
    // forward mode agrees on both branches
    for p in [[2.0, 5.0], [5.0, 2.0]] {
        let fwd = jacobian_fwd(|x| vec![branchy(x)], &p).unwrap().remove(0);
        let rev = grad(|x| branchy(x), &p).unwrap();
        assert_eq!(fwd, rev);
    }
}

/// log Σ exp(xᵢ) as a primitive with its own rule: gradient softmax(x).
struct LogSumExp;

impl CustomOp for LogSumExp {
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        let m = x.iter().copied().fold(x[0], T::max);
        y[0] = m + x.iter().map(|&xi| (xi - m).exp()).sum::<T>().ln();
    }
    fn vjp<T: Real>(&self, x: &[T], y: &[T], ybar: &[T], xbar: &mut [T]) {
        for (b, &xi) in xbar.iter_mut().zip(x) {
            *b += ybar[0] * (xi - y[0]).exp();
        }
    }
}

fn lse_plain<T: Real>(x: &[T]) -> T {
    x.iter().map(|&xi| xi.exp()).sum::<T>().ln()
}

#[test]
fn custom_logsumexp_gradient_and_hvp() {
    let x = [0.3, -1.2, 2.0, 0.7];
    let v = [1.0, 0.5, -0.25, 2.0];
    let z: f64 = x.iter().map(|a| a.exp()).sum();
    let p: Vec<f64> = x.iter().map(|a| a.exp() / z).collect();
    let pv: f64 = p.iter().zip(&v).map(|(a, b)| a * b).sum();
    // ∇ = p, H v = diag(p) v − p (p·v)
    let g = grad(|x| custom1(&LogSumExp, x), &x).unwrap();
    let hv = hvp(|x| custom1(&LogSumExp, x), &x, &v).unwrap();
    for i in 0..4 {
        assert!(close(g[i], p[i], 1e-15), "{g:?}");
        assert!(close(hv[i], p[i] * v[i] - p[i] * pv, 1e-14), "{hv:?}");
    }
    // the same as differentiating the plain composition, also in forward mode
    let g2 = grad(|x| lse_plain(x), &x).unwrap();
    let hv2 = hvp(|x| lse_plain(x), &x, &v).unwrap();
    let (_, jv) = jvp(|x| vec![custom1(&LogSumExp, x)], &x, &v).unwrap();
    for i in 0..4 {
        assert!(close(g[i], g2[i], 1e-14) && close(hv[i], hv2[i], 1e-13));
    }
    assert!(close(jv[0], pv, 1e-14));
    // large inputs: the custom rule stays finite where the plain one overflows
    let big = [800.0, 799.0];
    let gb = grad(|x| custom1(&LogSumExp, x), &big).unwrap();
    // (y ≈ 800.31 carries an absolute error of ~1e-13, hence the tolerance)
    assert!(gb.iter().all(|g| g.is_finite()) && close(gb[0] + gb[1], 1.0, 1e-12), "{gb:?}");
    let check = check_custom_op(&LogSumExp, &x, &v, &[1.5]).unwrap();
    assert!(check.dot_product < 1e-14 && check.finite_difference < 1e-8, "{check:?}");
}

/// A deliberately wrong rule: the checker must catch it.
struct WrongSquare;
impl CustomOp for WrongSquare {
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        y[0] = x[0] * x[0];
    }
    fn vjp<T: Real>(&self, x: &[T], _y: &[T], ybar: &[T], xbar: &mut [T]) {
        xbar[0] += ybar[0] * x[0]; // should be 2x
    }
}

#[test]
fn custom_op_checker_catches_a_wrong_rule() {
    let check = check_custom_op(&WrongSquare, &[1.5], &[1.0], &[1.0]).unwrap();
    assert!(check.finite_difference > 0.4, "{check:?}");
    let g = grad(|x| custom1(&WrongSquare, x), &[1.5]).unwrap();
    let t = taylor_test(|x| x[0] * x[0], &[1.5], &g, &[1.0]).unwrap();
    assert!(!t.passed(), "{t:?}");
}

/// Two outputs: polar coordinates of a point, with a hand-written VJP.
struct Polar;
impl CustomOp for Polar {
    const OUTPUTS: usize = 2;
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
        y[0] = x[0].hypot(x[1]);
        y[1] = x[1].atan2(x[0]);
    }
    fn vjp<T: Real>(&self, x: &[T], y: &[T], ybar: &[T], xbar: &mut [T]) {
        let r2 = y[0] * y[0];
        xbar[0] += ybar[0] * x[0] / y[0] - ybar[1] * x[1] / r2;
        xbar[1] += ybar[0] * x[1] / y[0] + ybar[1] * x[0] / r2;
    }
}

#[test]
fn multi_output_custom_op_matches_elementary_ops() {
    let x = [1.2, -0.7];
    let jr = jacobian_rev(|x| rewind_tape::custom(&Polar, x), &x).unwrap();
    let jf = jacobian_fwd(|x| rewind_tape::custom(&Polar, x), &x).unwrap();
    let je = jacobian_rev(|x| vec![x[0].hypot(x[1]), x[1].atan2(x[0])], &x).unwrap();
    for i in 0..2 {
        for j in 0..2 {
            assert!(close(jr[i][j], je[i][j], 1e-15) && close(jf[i][j], je[i][j], 1e-15));
        }
    }
    let check = check_custom_op(&Polar, &x, &[0.3, 1.1], &[-0.4, 2.0]).unwrap();
    assert!(check.dot_product < 1e-14 && check.finite_difference < 1e-8, "{check:?}");
}

const INPUTS: [[f64; 3]; 4] = [[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]];
const TARGETS: [bool; 4] = [true, true, false, true];

fn logistic_loss<T: Real>(w: &[T]) -> T {
    INPUTS
        .iter()
        .zip(TARGETS)
        .map(|(x, t)| {
            let z = w.iter().zip(x).map(|(&wi, &xi)| wi * xi).sum::<T>();
            let p = (T::one() + (-z).exp()).recip();
            -(if t { p } else { T::one() - p }).ln()
        })
        .sum()
}

#[test]
fn logistic_regression_trains_from_zero_weights() {
    let mut w = vec![0.0; 3];
    let (l0, g0) = value_and_grad(|w| logistic_loss(w), &w).unwrap();
    assert!(close(l0, 4.0 * std::f64::consts::LN_2, 1e-15), "{l0}");
    let fd = central_difference(logistic_loss, &w, 1e-6);
    for i in 0..3 {
        assert!(close(g0[i], fd[i], 1e-8));
    }
    let mut prev = l0;
    for _ in 0..100 {
        let (l, g) = value_and_grad(|w| logistic_loss(w), &w).unwrap();
        assert!(l <= prev, "loss went up: {prev} -> {l}");
        prev = l;
        for (wi, gi) in w.iter_mut().zip(&g) {
            *wi -= 0.01 * gi;
        }
    }
    assert!(prev < 0.9 * l0, "trained loss {prev} vs initial {l0}");
}

#[test]
fn central_derivative_helper_is_second_order() {
    let e1 = (central_derivative(f64::sin, 1.0, 1e-2) - 1f64.cos()).abs();
    let e2 = (central_derivative(f64::sin, 1.0, 5e-3) - 1f64.cos()).abs();
    assert!((e1 / e2 - 4.0).abs() < 0.05, "{}", e1 / e2);
}
