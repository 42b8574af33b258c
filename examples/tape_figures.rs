//! Prints the scalar tape's performance figures measured in one run:
//! extended Rosenbrock gradient time / function time and HVP time /
//! gradient time for n = 10², 10⁴, 10⁶, the same for a function dominated
//! by transcendental operations, and the tape's record and reverse
//! throughput (ns per statement) and size (bytes per statement).
//!
//! `cargo run --release -p rewind-examples --example tape_figures [-- --quick]`

use std::hint::black_box;
use std::time::Duration;

use rewind_examples::timing::seconds_per_call;
use rewind_examples::{rosenbrock, rosenbrock_start, transcendental};
use rewind_tape::{Dual, Real, Tape, TapeError};

fn main() -> Result<(), TapeError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 150 } else { 1000 });
    println!("extended Rosenbrock, reused tapes, best of 5 batches");
    println!("{:>9} {:>12} {:>12} {:>12} {:>10} {:>10}", "n", "f (s)", "grad (s)", "hvp (s)", "grad/f", "hvp/grad");
    let mut tape = Tape::<f64>::new();
    let mut tape2 = Tape::<Dual<f64>>::new();
    for n in [100, 10_000, 1_000_000] {
        let x = rosenbrock_start(n);
        let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 3.0).collect();
        let tf = seconds_per_call(budget, || rosenbrock(black_box(&x)));
        let tg = seconds_per_call(budget, || tape.value_and_grad(|x| rosenbrock(x), black_box(&x)));
        let th = seconds_per_call(budget, || tape2.grad_and_hvp(|x| rosenbrock(x), black_box(&x), &v));
        println!("{n:>9} {tf:>12.3e} {tg:>12.3e} {th:>12.3e} {:>10.2} {:>10.2}", tg / tf, th / tg);
    }

    println!("transcendental test function (sin, exp, ln, division), same protocol");
    println!("{:>9} {:>12} {:>12} {:>12} {:>10} {:>10}", "n", "f (s)", "grad (s)", "hvp (s)", "grad/f", "hvp/grad");
    for n in [100, 10_000, 1_000_000] {
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 3.0).collect();
        let tf = seconds_per_call(budget, || transcendental(black_box(&x)));
        let tg = seconds_per_call(budget, || tape.value_and_grad(|x| transcendental(x), black_box(&x)));
        let th = seconds_per_call(budget, || tape2.grad_and_hvp(|x| transcendental(x), black_box(&x), &v));
        println!("{n:>9} {tf:>12.3e} {tg:>12.3e} {th:>12.3e} {:>10.2} {:>10.2}", tg / tf, th / tg);
    }

    // Throughput on the largest recording: record only, then record + sweep.
    let n = 1_000_000;
    let x = rosenbrock_start(n);
    let t_rec = seconds_per_call(budget, || {
        tape.record(|r| {
            let xs = r.vars(black_box(&x));
            rosenbrock(xs).value()
        })
    });
    let t_all = seconds_per_call(budget, || {
        tape.record(|r| {
            let xs = r.vars(black_box(&x));
            let y = rosenbrock(xs);
            r.gradient(y).map(|g| g.wrt(xs[0]))
        })
    });
    let st = tape.last_stats();
    let per = |t: f64| t / st.statements as f64 * 1e9;
    println!(
        "tape (n = {n}): {} statements, {} operands; record {:.2} ns/statement, reverse {:.2} ns/statement",
        st.statements,
        st.operands,
        per(t_rec),
        per(t_all - t_rec)
    );
    println!(
        "tape size: {:.1} bytes/statement recorded (+ {} bytes/statement of adjoints during a sweep); arena {} MiB",
        st.bytes as f64 / st.statements as f64,
        size_of::<f64>(),
        tape.arena_bytes() >> 20
    );
    Ok(())
}
