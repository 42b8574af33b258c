//! Logistic regression on the autograd tutorial's toy data, trained by
//! gradient descent with reverse-mode gradients, checked by a Taylor test.
//!
//! `cargo run --release -p rewind-examples --example logistic_regression`

use rewind_examples::logistic::{TARGETS, loss, predictions};
use rewind_tape::{Tape, TapeError, fd};

fn main() -> Result<(), TapeError> {
    let mut w = vec![0.0; 3];
    let mut tape = Tape::new();
    println!("logistic regression, 4 samples, 3 features, gradient descent (step 0.01)");
    for it in 0..=100 {
        let (l, g) = tape.value_and_grad(|w| loss(w), &w)?;
        if it % 20 == 0 {
            println!("  iteration {it:3}: loss {l:.6}  |grad| {:.4}", g.iter().map(|v| v * v).sum::<f64>().sqrt());
        }
        for (wi, gi) in w.iter_mut().zip(&g) {
            *wi -= 0.01 * gi;
        }
    }
    let p = predictions(&w);
    println!("  weights {w:.4?}");
    println!("  predictions {p:.3?} for targets {TARGETS:?}");
    let g = tape.grad(|w| loss(w), &w)?;
    let t = fd::taylor_test(loss, &w, &g, &[0.3, -0.5, 0.8])?;
    println!("  Taylor test of the gradient: orders {:.3?} -> {}", t.orders, if t.passed() { "pass" } else { "FAIL" });
    Ok(())
}
