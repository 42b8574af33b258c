//! How much the acoustic model's boundaries reflect, measured: the trace at
//! a receiver between a source and one face, minus the trace of the same
//! source and receiver in a box so much larger that nothing comes back
//! within the window, is the wave the face sent back. Its peak, corrected
//! for spherical spreading (times the image path over the direct path),
//! over the direct wave's peak is the reflection coefficient at normal
//! incidence — for the damping sponge of several widths (absorbing faces
//! all round; the lateral faces' share is in the figure too) and for the
//! free surface at the top (`R = −1` in theory).
//! `cargo run --release -p rewind-examples --example acoustic_reflection`
use rewind_acoustic::{Acoustic, Config};
use rewind_field::Par;
use rewind_sim::{Sim, SimError};

/// `u` at the point `at` (grid indices) after each step.
fn trace(cfg: Config, at: [usize; 3], steps: usize) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let m = Acoustic::new(cfg)?;
    let p = m.grid().idx3(at[0], at[1], at[2]);
    let mut sim = Sim::<_, f64>::new(m.clone(), Par::Threads(2))?;
    let mut out = Vec::with_capacity(steps);
    rewind_sim::run_from(&mut sim, &m.at_rest(), steps, |t, x| {
        if t > 0 {
            out.push(x[p]);
        }
        Ok::<_, SimError>(())
    })?;
    Ok(out)
}

/// The reflection coefficient of the face `z = 0` of a box with a sponge
/// `width` points wide (or a free surface there): source 24 points and
/// receiver 12 points inside the sponge's inner edge, on the axis normal
/// to the face through the box's centre.
fn reflection(width: usize, free_surface: bool) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let h = 10.0;
    // the face's inner edge: where the sponge ends (the grid's first
    // point under a free surface, whose mirror is one spacing above it)
    let edge = if free_surface { 0 } else { width };
    let (ks, kr) = (edge + 24, edge + 12);
    // the other faces 40 points beyond their sponges: their echoes come
    // after the window
    let lateral = 2 * width + 80;
    let n = [lateral, lateral, ks + 40 + width];
    let (c, f0) = (1500.0, 10.0);
    let dt = 0.8 * Acoustic::stable_dt(8, h, c);
    // the direct wave and the reflection have passed: the image path
    // (from the sponge's inner edge, or without a sponge from the plane of
    // zeros one spacing beyond the grid) plus two periods of the wavelet
    let image = if free_surface || width == 0 { (ks + kr + 2) as f64 * h } else { (ks + kr - 2 * edge) as f64 * h };
    let steps = ((image / c + 2.0 / f0) / dt) as usize;
    let cfg = |n: [usize; 3], pad: [usize; 3]| Config {
        n,
        h,
        dt,
        velocity: c,
        order: 8,
        sponge: width,
        source: [(n[0] / 2) as f64 * h, (n[1] / 2) as f64 * h, (ks + pad[2]) as f64 * h],
        f0,
        free_surface,
    };
    let near = trace(cfg(n, [0; 3]), [n[0] / 2, n[1] / 2, kr], steps)?;
    // the reference: every face at least half the window's travel further
    let pad = ((c * steps as f64 * dt) / (2.0 * h)) as usize + 2;
    let big = [n[0] + 2 * pad, n[1] + 2 * pad, n[2] + 2 * pad];
    let far = trace(Config { free_surface: false, ..cfg(big, [pad; 3]) }, [big[0] / 2, big[1] / 2, kr + pad], steps)?;
    let direct = far.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let back: Vec<f64> = near.iter().zip(&far).map(|(a, b)| a - b).collect();
    // the window: up to the reflected wavelet's main lobe (0.8 periods
    // after its expected peak, the direct peak delayed by the extra path)
    let direct_at = far.iter().position(|v| v.abs() == direct).unwrap_or(0);
    let delay = (image - (ks - kr) as f64 * h) / (c * dt);
    let end = ((direct_at as f64 + delay + 0.8 / (f0 * dt)) as usize).min(steps);
    let back = &back[..end];
    let (peak, signed) = back.iter().fold((0.0f64, 0.0), |m, &v| if v.abs() > m.0 { (v.abs(), v) } else { m });
    let direct_path = (ks - kr) as f64 * h;
    // the direct peak is positive (the Ricker's main lobe): the sign of
    // the reflected peak is the sign of R
    let r = peak * image / (direct * direct_path);
    Ok((r.copysign(signed), (n[0] * n[1] * n[2]) as f64))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "normal-incidence reflection at the face z = 0 (8th order, h = 10 m, c = 1500 m/s, 10 Hz Ricker: 15 points a wavelength)"
    );
    println!("| boundary | R measured |");
    println!("|---|---|");
    for width in [0, 5, 10, 20] {
        let (r, _) = reflection(width, false)?;
        let name =
            if width == 0 { "no sponge (zero beyond the face)".to_string() } else { format!("sponge, {width} points") };
        println!("| {name} | {r:+.4} |");
    }
    let (r, _) = reflection(10, true)?;
    println!("| free surface (top), sponge of 10 on the other faces | {r:+.4} |");
    Ok(())
}
