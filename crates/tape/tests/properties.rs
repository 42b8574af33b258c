//! Property tests: every elementary operation's derivative by reverse mode
//! equals forward mode and central differences, at first and second order;
//! HVPs, Hessians and Jacobians agree across modes.

use proptest::prelude::*;
use rewind_tape::fd::{central_derivative, central_difference, central_jvp};
use rewind_tape::{
    Dual, Real, Unary, Var, derivative, grad, hessian, hvp, jacobian, jacobian_fwd, jacobian_rev, vector_fn,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// An elementary function of the crate's list, or an operator with a constant.
#[derive(Debug, Clone, Copy)]
enum Op {
    F(Unary),
    Neg,
    AddC,
    SubC,
    MulC,
    DivC,
    CSub,
    CDiv,
    CAdd,
    CMul,
}

const UNARY: [Op; 30] = [
    Op::F(Unary::Exp),
    Op::F(Unary::Ln),
    Op::F(Unary::Log1p),
    Op::F(Unary::Expm1),
    Op::F(Unary::Sqrt),
    Op::F(Unary::Cbrt),
    Op::F(Unary::Powi(0)),
    Op::F(Unary::Powi(1)),
    Op::F(Unary::Powi(3)),
    Op::F(Unary::Powi(-2)),
    Op::F(Unary::Sin),
    Op::F(Unary::Cos),
    Op::F(Unary::Tan),
    Op::F(Unary::Asin),
    Op::F(Unary::Acos),
    Op::F(Unary::Atan),
    Op::F(Unary::Sinh),
    Op::F(Unary::Cosh),
    Op::F(Unary::Tanh),
    Op::F(Unary::Abs),
    Op::F(Unary::Recip),
    Op::Neg,
    Op::AddC,
    Op::SubC,
    Op::MulC,
    Op::DivC,
    Op::CSub,
    Op::CDiv,
    Op::CAdd,
    Op::CMul,
];

fn apply<T: Real>(op: Op, x: T) -> T {
    match op {
        Op::F(f) => f.apply(x),
        Op::Neg => -x,
        Op::AddC => x + 1.5,
        Op::SubC => x - 1.5,
        Op::MulC => x * -2.5,
        Op::DivC => x / 3.0,
        Op::CSub => T::from_f64(2.0) - x,
        Op::CDiv => T::from_f64(2.0) / x,
        Op::CAdd => T::from_f64(2.0) + x,
        Op::CMul => T::from_f64(-0.5) * x,
    }
}

/// Maps u ∈ [0, 1] into the op's domain, away from singular points.
fn point(op: Op, u: f64, sign: bool) -> f64 {
    let s = if sign { 1.0 } else { -1.0 };
    match op {
        Op::F(Unary::Ln | Unary::Sqrt) => 0.1 + 5.0 * u,
        Op::F(Unary::Log1p) => -0.8 + 5.0 * u,
        Op::F(Unary::Asin | Unary::Acos) => -0.9 + 1.8 * u,
        Op::F(Unary::Tan) => -1.3 + 2.6 * u,
        Op::F(Unary::Abs | Unary::Cbrt | Unary::Recip | Unary::Powi(-2)) | Op::CDiv => s * (0.2 + 3.0 * u),
        _ => -3.0 + 6.0 * u,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn unary_first_and_second_derivatives(k in 0usize..UNARY.len(), u in 0.0f64..1.0, sign: bool) {
        let op = UNARY[k];
        let x = point(op, u, sign);
        let f = |x: f64| apply(op, x);
        let fwd = derivative(|x| apply(op, x), x);
        let rev = grad(|x| apply(op, x[0]), &[x]).unwrap()[0];
        let fd = central_derivative(f, x, 1e-6);
        prop_assert!(close(rev, fwd, 1e-15), "{op:?} at {x}: rev {rev} fwd {fwd}");
        prop_assert!(close(fwd, fd, 1e-8), "{op:?} at {x}: fwd {fwd} fd {fd}");

        // second derivative: forward-over-forward, forward-over-reverse,
        // reverse-over-reverse, and central differences of the first
        let ff = derivative(|x| derivative(|y| apply(op, y), x), x);
        let fr = hvp(|x| apply(op, x[0]), &[x], &[1.0]).unwrap()[0];
        let rr = grad(|x: &[Var<'_, f64>]| grad(|y| apply(op, y[0]), &[x[0]]).unwrap()[0], &[x]).unwrap()[0];
        let fd2 = central_derivative(|x| derivative(|y| apply(op, y), x), x, 1e-6);
        prop_assert!(close(ff, fr, 1e-13), "{op:?} at {x}: ff {ff} fr {fr}");
        prop_assert!(close(ff, rr, 1e-13), "{op:?} at {x}: ff {ff} rr {rr}");
        prop_assert!(close(ff, fd2, 1e-8), "{op:?} at {x}: ff {ff} fd {fd2}");
    }
}

#[derive(Debug, Clone, Copy)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Powf,
    Atan2,
    Hypot,
    Min,
    Max,
}

const BINARY: [Binary; 9] = [
    Binary::Add,
    Binary::Sub,
    Binary::Mul,
    Binary::Div,
    Binary::Powf,
    Binary::Atan2,
    Binary::Hypot,
    Binary::Min,
    Binary::Max,
];

fn apply2<T: Real>(op: Binary, a: T, b: T) -> T {
    match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Powf => a.powf(b),
        Binary::Atan2 => a.atan2(b),
        Binary::Hypot => a.hypot(b),
        Binary::Min => a.min(b),
        Binary::Max => a.max(b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn binary_partials(k in 0usize..BINARY.len(), a in 0.2f64..3.0, b in -3.0f64..3.0, flip: bool) {
        let op = BINARY[k];
        let a = if flip && !matches!(op, Binary::Powf) { -a } else { a };
        let b = if matches!(op, Binary::Div) && b.abs() < 0.2 { b + 0.5 } else { b };
        prop_assume!(!matches!(op, Binary::Min | Binary::Max) || (a - b).abs() > 1e-3);
        let p = [a, b];
        let rev = grad(|x| apply2(op, x[0], x[1]), &p).unwrap();
        let fwd = jacobian_fwd(|x| vec![apply2(op, x[0], x[1])], &p).unwrap().remove(0);
        let fd = central_difference(|x| apply2(op, x[0], x[1]), &p, 1e-6);
        for i in 0..2 {
            prop_assert!(close(rev[i], fwd[i], 1e-15), "{op:?} at {p:?}: {rev:?} vs {fwd:?}");
            prop_assert!(close(rev[i], fd[i], 1e-8), "{op:?} at {p:?}: {rev:?} vs fd {fd:?}");
        }
        let h = hessian(|x| apply2(op, x[0], x[1]), &p).unwrap();
        prop_assert!(close(h[0][1], h[1][0], 1e-13), "{op:?} at {p:?}: {h:?}");
    }
}

/// Test functions of three variables that mix many operations.
fn mixed<T: Real>(x: &[T]) -> T {
    let s = (x[0] * x[1]).sin() + x[2].exp() * x[0] - (x[1] * x[1] + 1.0).ln() * x[2];
    let r = x[0].hypot(x[2]) + x[1].atan2(x[0] * x[0] + 1.0) + (x[2] * 0.3).tanh() * x[1].cosh();
    s * r + x.iter().map(|&v| v * v).sum::<T>().sqrt()
}

fn curve<T: Real>(x: &[T]) -> Vec<T> {
    vec![
        x[0] * x[1].sin(),
        (x[0] - x[2]).powi(2) + x[1],
        x[2].exp() / (T::one() + x[0] * x[0]),
        x[0].powf(x[2] * 0.5 + 1.0),
    ]
}

fn squash<T: Real>(x: &[T]) -> Vec<T> {
    let n = x.len() as f64;
    let mean = x.iter().copied().sum::<T>() / n;
    vec![mean, x.iter().map(|&v| (v - mean).powi(2)).sum::<T>() / n]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn hvp_agrees_with_fd_of_grad_and_hessian(
        x in prop::array::uniform3(0.1f64..2.0),
        v in prop::array::uniform3(-1.0f64..1.0),
    ) {
        let hv = hvp(|x| mixed(x), &x, &v).unwrap();
        let fd = central_jvp(|x| grad(|x| mixed(x), x).unwrap(), &x, &v, 1e-6).unwrap();
        let h = hessian(|x| mixed(x), &x).unwrap();
        for i in 0..3 {
            prop_assert!(close(hv[i], fd[i], 1e-6), "{hv:?} vs {fd:?}");
            let hvi: f64 = (0..3).map(|j| h[i][j] * v[j]).sum();
            prop_assert!(close(hv[i], hvi, 1e-12), "{hv:?} vs H v");
            for j in 0..3 {
                prop_assert!(close(h[i][j], h[j][i], 1e-12), "asymmetric {h:?}");
            }
        }
    }

    #[test]
    fn jacobian_forward_and_reverse_agree(x in prop::array::uniform3(0.1f64..2.0)) {
        let (j, mode) = jacobian(&vector_fn!(curve), &x).unwrap();
        prop_assert_eq!(mode, rewind_tape::JacobianMode::Forward);
        let jr = jacobian_rev(|x| curve(x), &x).unwrap();
        let (j2, mode2) = jacobian(&vector_fn!(squash), &x).unwrap();
        prop_assert_eq!(mode2, rewind_tape::JacobianMode::Reverse);
        let jf2 = jacobian_fwd(squash, &x).unwrap();
        for (a, b) in j.iter().flatten().zip(jr.iter().flatten()).chain(j2.iter().flatten().zip(jf2.iter().flatten())) {
            prop_assert!(close(*a, *b, 1e-14), "{j:?} {jr:?} {j2:?} {jf2:?}");
        }
        // and with central differences, column by column
        for k in 0..3 {
            let mut e = [0.0; 3];
            e[k] = 1.0;
            let fd = central_jvp(curve, &x, &e, 1e-6).unwrap();
            for i in 0..4 {
                prop_assert!(close(j[i][k], fd[i], 1e-6));
            }
        }
    }
}

#[test]
fn dual_of_dual_has_the_mixed_partial() {
    // f(x, y) = x² y at (3, 4); ∂²f/∂x∂y = 2x = 6, via tangents on two levels
    let x = Dual::new(Dual::new(3.0, 1.0), Dual::new(0.0, 0.0));
    let y = Dual::new(Dual::new(4.0, 0.0), Dual::new(1.0, 0.0));
    let f = x * x * y;
    assert_eq!(f.re.re, 36.0);
    assert_eq!(f.re.eps, 24.0); // ∂f/∂x
    assert_eq!(f.eps.re, 9.0); // ∂f/∂y
    assert_eq!(f.eps.eps, 6.0); // ∂²f/∂x∂y
}

/// `a` and `b` are the same `f64`, bit for bit (NaNs of one payload alike).
fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The primal of every operation is the f64 primal bit for bit, in
    /// forward mode, reverse mode and their nestings: the checkpoint driver
    /// recomputes states with one scalar type and reverses them with
    /// another, and relies on getting the same numbers.
    #[test]
    fn every_primal_equals_the_f64_primal_bit_for_bit(
        k in 0usize..UNARY.len(), u in 0.0f64..1.0, sign: bool,
        j in 0usize..BINARY.len(), a in -4.0f64..4.0, b in -4.0f64..4.0,
    ) {
        let op = UNARY[k];
        let x = point(op, u, sign);
        let f = apply(op, x);
        prop_assert!(same_bits(apply(op, Dual::variable(x)).re, f), "{op:?}({x}) by Dual");
        prop_assert!(same_bits(apply(op, Dual::variable(Dual::variable(x))).re.re, f), "{op:?}({x}) by Dual<Dual>");
        let (v, _) = rewind_tape::value_and_grad(|y| apply(op, y[0]), &[x]).unwrap();
        prop_assert!(same_bits(v, f), "{op:?}({x}) by Var: {v} vs {f}");
        let (v, _, _) = rewind_tape::grad_and_hvp(|y| apply(op, y[0]), &[x], &[1.0]).unwrap();
        prop_assert!(same_bits(v, f), "{op:?}({x}) by Var<Dual>: {v} vs {f}");

        let op = BINARY[j];
        let f = apply2(op, a, b);
        prop_assert!(same_bits(apply2(op, Dual::variable(a), Dual::constant(b)).re, f), "{op:?}({a}, {b}) by Dual");
        let (v, _) = rewind_tape::value_and_grad(|y| apply2(op, y[0], y[1]), &[a, b]).unwrap();
        prop_assert!(same_bits(v, f), "{op:?}({a}, {b}) by Var: {v} vs {f}");
        let (v, _, _) = rewind_tape::grad_and_hvp(|y| apply2(op, y[0], y[1]), &[a, b], &[1.0, 0.5]).unwrap();
        prop_assert!(same_bits(v, f), "{op:?}({a}, {b}) by Var<Dual>: {v} vs {f}");
    }
}

#[test]
fn a_taped_quotient_is_the_f64_quotient() {
    // a · (1/b) is one ulp away from a / b here
    let (a, b) = (8.714195424658511, 27.30078775092896);
    let (v, g) = rewind_tape::value_and_grad(|x| x[0] / x[1], &[a, b]).unwrap();
    assert_eq!(v, a / b);
    assert!(close(g[0], 1.0 / b, 1e-15) && close(g[1], -a / (b * b), 1e-15), "{g:?}");
}

fn square_by_powf<T: Real>(x: T) -> T {
    x.powf(T::from_f64(2.0))
}

#[test]
fn powf_with_a_constant_exponent_differentiates_at_a_negative_base() {
    for x in [-3.0, -1.5, 1.5, 3.0] {
        assert_eq!(derivative(square_by_powf, x), 2.0 * x, "forward at {x}");
        assert_eq!(grad(|y| square_by_powf(y[0]), &[x]).unwrap(), vec![2.0 * x], "reverse at {x}");
        assert_eq!(hvp(|y| square_by_powf(y[0]), &[x], &[1.0]).unwrap(), vec![2.0], "HVP at {x}");
        let d2 = derivative(|y: Dual<f64>| derivative(square_by_powf, y), x);
        assert_eq!(d2, 2.0, "second derivative at {x}");
    }
    // a constant base and a variable exponent: 2^b, derivative 2^b ln 2
    let d = derivative(|b: Dual<f64>| Dual::constant(2.0).powf(b), 3.0);
    assert!(close(d, 8.0 * 2f64.ln(), 1e-15), "{d}");
    // where the exponent itself varies at a negative base the derivative does
    // not exist, and says so
    let d = derivative(|b: Dual<f64>| Dual::constant(-2.0).powf(b), 2.0);
    assert!(d.is_nan(), "{d}");
}
