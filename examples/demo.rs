//! The README's main job, until the simulation and CLI land: differentiate
//! and check two classic problems with every mode of the scalar tape.
//!
//! `cargo run --release -p rewind-examples --example demo`

use std::time::Duration;

use rewind_examples::logistic::loss;
use rewind_examples::timing::seconds_per_call;
use rewind_examples::{rosenbrock, rosenbrock_start};
use rewind_tape::fd::{central_jvp, taylor_test};
use rewind_tape::{Dual, Real, Tape, TapeError, derivative, grad, hvp};

fn main() -> Result<(), TapeError> {
    println!("rewind demo: scalar automatic differentiation on an arena tape\n");

    // 1. Logistic regression on the autograd toy data, by gradient descent.
    let mut w = vec![0.0; 3];
    let mut tape = Tape::new();
    let (l0, _) = tape.value_and_grad(|w| loss(w), &w)?;
    for _ in 0..100 {
        let (_, g) = tape.value_and_grad(|w| loss(w), &w)?;
        w.iter_mut().zip(&g).for_each(|(wi, gi)| *wi -= 0.01 * gi);
    }
    let (l1, g1) = tape.value_and_grad(|w| loss(w), &w)?;
    let t = taylor_test(loss, &w, &g1, &[0.3, -0.5, 0.8])?;
    println!("logistic regression: loss {l0:.6} (= 4 ln 2) -> {l1:.6} after 100 steps");
    println!("  Taylor test of the gradient: observed orders {:.3?}: {}\n", t.orders, verdict(t.passed()));

    // 2. Extended Rosenbrock: gradient (reverse), HVP (forward-over-reverse).
    let n = 10_000;
    let x = rosenbrock_start(n);
    let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 3.0).collect();
    let g = grad(|x| rosenbrock(x), &x)?;
    let t = taylor_test(rosenbrock, &x, &g, &v)?;
    let hv = hvp(|x| rosenbrock(x), &x, &v)?;
    let fd = central_jvp(|x| grad(|x| rosenbrock(x), x).unwrap_or_default(), &x, &v, 1e-6)?;
    let err = hv.iter().zip(&fd).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let scale = hv.iter().map(|a| a.abs()).fold(0.0, f64::max);
    println!("extended Rosenbrock, n = {n}, at (-1.2, 1, ...):");
    println!("  f = {:.6}, |grad| = {:.6}", rosenbrock(&x), g.iter().map(|a| a * a).sum::<f64>().sqrt());
    println!("  Taylor test of the gradient: {}", verdict(t.passed()));
    println!(
        "  HVP vs central difference of gradients: max error {err:.2e} (|Hv| max {scale:.1}): {}",
        verdict(err < 1e-6 * scale)
    );
    let budget = Duration::from_millis(300);
    let mut g_buf = vec![0.0; n];
    let mut tape2 = Tape::<Dual<f64>>::new();
    let tf = seconds_per_call(budget, || rosenbrock(&x));
    let tg = seconds_per_call(budget, || tape.value_and_grad_into(|x| rosenbrock(x), &x, &mut g_buf));
    let th = seconds_per_call(budget, || tape2.grad_and_hvp(|x| rosenbrock(x), &x, &v));
    println!(
        "  times: f {tf:.2e} s, gradient {tg:.2e} s ({:.0}x f), HVP {th:.2e} s ({:.2}x gradient)\n",
        tg / tf,
        th / tg
    );

    // 3. Higher derivatives by nesting forward mode: d⁴/dx⁴ tanh at 1.
    let d4 = derivative(|a| derivative(|b| derivative(|c| derivative(|d| d.tanh(), c), b), a), 1.0);
    let tt = 1f64.tanh();
    let exact = 16.0 * tt - 40.0 * tt.powi(3) + 24.0 * tt.powi(5);
    println!("fourth derivative of tanh at 1 by nesting duals: {d4:.15} (closed form {exact:.15})");
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "FAIL" }
}
