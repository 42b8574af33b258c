//! The lid-driven cavity on the classic 129 × 129 grid, run from rest to
//! steady state at Re = 100 and Re = 1000, compared with the centre-line
//! velocities of Ghia, Ghia & Shin (1982).
//!
//! `cargo run --release -p rewind-examples --example cavity_validation [-- 100|1000]`

use std::time::Instant;

use rewind_cavity::{CavityStep, Params, centreline_u, ghia, max_deviation, run_to_steady, stepper};
use rewind_field::Par;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let only: Option<u32> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    let n = 129;
    for re in [100u32, 1000] {
        if only.is_some_and(|o| o != re) {
            continue;
        }
        let dt = Params::stable_dt(n, re as f64, 1.0);
        let p = Params { n, reynolds: re as f64, lid: 1.0, dt };
        let mut st = stepper::<f64>(p.clone(), Par::Pool)?;
        let t = Instant::now();
        let (w, steps) = run_to_steady(&mut st, 1e-5, 200_000)?;
        let secs = t.elapsed().as_secs_f64();
        let profile = centreline_u(&CavityStep::new(p)?, &w)?;
        let reference = ghia(re).ok_or("no reference data")?;
        let dev = max_deviation(&profile, reference);
        println!(
            "Re = {re}: {n}x{n}, dt = {dt:.2e}, steady (max |dw/dt| < 1e-5) after {steps} steps (t = {:.1}, {secs:.0} s); max |u - u_Ghia| on the centre line = {dev:.4}",
            steps as f64 * dt
        );
    }
    Ok(())
}
