//! The sensitivity kernel of a recorded trace: `∂J/∂m` for `J = ½ Σₜ u(r,
//! t)²`, the energy a receiver records from one Ricker source in a
//! homogeneous medium, by the adjoint state through the checkpointed 3D
//! acoustic model (`rewind-acoustic`). Its slice through the source and
//! the receiver is the "banana" of the first Fresnel zone between them,
//! its cross-section half-way the "doughnut"'s rings. Writes
//! `acoustic-kernel.png` into the directory given (default
//! `rewind-out/acoustic-kernel`).
//! `cargo run --release -p rewind-examples --example acoustic_kernel [DIR]`
use std::time::Instant;

use rewind_acoustic::{Acoustic, Config};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_io::GridInfo;
use rewind_sim::{Observations, Problem};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "rewind-out/acoustic-kernel".into()));
    std::fs::create_dir_all(&dir)?;
    // 48³ points 10 m apart, c = 1500 m/s, a 10 Hz source and a receiver
    // 240 m apart along x, an 8-point sponge
    let n = 48;
    let cfg = Config { n: [n; 3], f0: 10.0, sponge: 8, source: [120.0, 240.0, 240.0], ..Config::default() };
    let model = Acoustic::new(cfg)?;
    let g = *model.grid();
    let dt = model.config().dt;
    let steps = (0.36 / dt) as usize;
    let receiver = g.idx3(36, 24, 24);
    let mut loss = Observations::of("u").points(vec![receiver]);
    for t in 1..=steps {
        loss = loss.at(t, vec![0.0]);
    }
    let snapshots = 16;
    let mut p = Problem::new(model.clone(), loss, Strategy::Binomial { snapshots }, steps, Par::Threads(2))?;
    let t0 = Instant::now();
    let grad = p.gradient(&model.at_rest())?;
    let seconds = t0.elapsed().as_secs_f64();
    let k = grad.param("m")?;
    println!(
        "{n}³ points, {steps} steps of {dt:.3e} s, binomial:{snapshots}: J = {:.4e}, gradient in {seconds:.1} s \
         ({} forward steps, {} step VJPs, peak snapshots {:.1} MiB)",
        grad.objective,
        grad.counters.forward_steps,
        grad.counters.vjps,
        grad.counters.peak_snapshot_bytes as f64 / (1u64 << 20) as f64
    );
    // the slice y = 240 m (x across, depth z down) and the cross-section x = 240 m
    // (y across, depth z down), in the plotting layout a[i·ny + j]
    // (the kernel is singular at the source and the receiver: within 40 m
    // of them it is left out, grey, so that the colour scale shows the rest)
    let near = |p: [f64; 3], q: [f64; 3]| (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f64>() < 40.0f64.powi(2);
    let (src, rcv) = ([120.0, 240.0, 240.0], [360.0, 240.0, 240.0]);
    let at = |i: usize, j: usize, kz: usize| {
        let p = [i as f64 * g.dx, j as f64 * g.dy, kz as f64 * g.dz];
        if near(p, src) || near(p, rcv) { f64::NAN } else { k[g.idx3(i, j, kz)] }
    };
    let through: Vec<f64> = (0..n).flat_map(|i| (0..n).map(move |kz| at(i, 24, kz))).collect();
    let across: Vec<f64> = (0..n).flat_map(|j| (0..n).map(move |kz| at(24, j, kz))).collect();
    let info = GridInfo::plane(n, n, g.dx, g.dz);
    let path = rewind_io::plot::fields(
        dir.join("acoustic-kernel.png"),
        info,
        rewind_io::plot::Axes { across: "x (left), y (right)", second: "depth z", down: true },
        &[("dJ/dm at y = 240 m", &through), ("dJ/dm at x = 240 m", &across)],
        true,
    )?;
    println!("wrote {}", path.display());
    // where the kernel is largest: on the line between source and receiver
    let (imax, vmax) =
        k.iter().enumerate().fold((0, 0.0f64), |b, (i, &v)| if v.abs() > b.1 { (i, v.abs()) } else { b });
    let (x, y, z) = g.point(imax);
    println!("largest |dJ/dm| {vmax:.3e} at ({x:.0}, {y:.0}, {z:.0}) m");
    Ok(())
}
