//! How the gradient of a terminal misfit grows with the assimilation
//! window in the chaotic Lorenz-96 model (N = 40, F = 8): exact gradients
//! through the binomial checkpoint driver for windows of 0.5 to 8 time
//! units, and the growth rate they imply.
//!
//! `cargo run --release -p rewind-examples --example lorenz96_growth`

use rewind_checkpoint::{DriverError, Strategy, gradient};
use rewind_lorenz96::{Lorenz96, objective, on_attractor, stepper};

fn main() -> Result<(), DriverError> {
    let m = Lorenz96::default();
    let x0 = on_attractor(m, 2000);
    let y = vec![0.0; m.n];
    println!("Lorenz-96, N = {}, F = 8, dt = {}: |dJ/dx0| for J = 1/2 sum (x_i(T) - 0)^2 over even i", m.n, m.dt);
    println!("{:>8} {:>8} {:>14} {:>14}", "T", "steps", "|grad|", "growth rate");
    let mut prev: Option<(f64, f64)> = None;
    for t_end in [0.5, 1.0, 2.0, 4.0, 8.0] {
        let steps = (t_end / m.dt).round() as usize;
        let out = gradient(
            &mut stepper::<f64>(m, 8.0),
            &mut objective::<f64>(y.clone()),
            Strategy::Binomial { snapshots: 20 },
            steps,
            &x0,
        )?;
        let g = out.grad_x0.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rate = prev.map(|(t0, g0)| (g / g0).ln() / (t_end - t0));
        println!("{t_end:>8} {steps:>8} {g:>14.4e} {:>14}", rate.map_or("-".to_string(), |r| format!("{r:.2}")));
        prev = Some((t_end, g));
    }
    Ok(())
}
