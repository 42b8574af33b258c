//! The acoustic model against what is known: the arrival time and
//! amplitude of the analytic Green's function in a homogeneous medium,
//! reciprocity in a heterogeneous damped one, and gradients and Hessian
//! products in the slowness squared and the initial state against finite
//! differences.

use rewind_acoustic::{Acoustic, Config, ricker};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_sim::{Model, Observations, Problem, Sim, SimError, check};

/// `u` at the grid point `at` after each of `steps` steps from rest.
fn trace(m: &Acoustic, slowness: Option<&[f64]>, at: usize, steps: usize) -> Vec<f64> {
    let mut sim = Sim::<_, f64>::new(m.clone(), Par::Seq).unwrap();
    if let Some(s) = slowness {
        sim.set_param("m", s).unwrap();
    }
    let mut out = Vec::new();
    rewind_sim::run_from(&mut sim, &m.at_rest(), steps, |t, x| {
        if t > 0 {
            out.push(x[at]);
        }
        Ok::<_, SimError>(())
    })
    .unwrap();
    out
}

#[test]
fn a_homogeneous_medium_gives_the_arrival_time_and_amplitude_of_the_greens_function() {
    // 40³ points 10 m apart, c = 1500 m/s, a 12 Hz source (12.5 points a
    // wavelength) at the centre, the receiver 100 m along x; the periodic
    // images arrive after the window
    let cfg = Config { n: [40; 3], sponge: 0, f0: 12.0, source: [200.0; 3], ..Config::default() };
    let m = Acoustic::new(cfg).unwrap();
    let (g, dt) = (*m.grid(), m.config().dt);
    let (r, c, h) = (100.0, 1500.0, 10.0);
    let steps = (0.22 / dt) as usize;
    let u = trace(&m, None, g.idx3(30, 20, 20), steps);
    // u(R, t) = h³ f(t − R/c) / (4πR) for m u_tt = ∇²u + h³ δ f (the
    // injected value is a discrete delta of weight h³)
    let exact: Vec<f64> = (1..=steps)
        .map(|n| h * h * h * ricker(12.0, n as f64 * dt - r / c) / (4.0 * std::f64::consts::PI * r))
        .collect();
    let peak = |v: &[f64]| v.iter().enumerate().fold((0, f64::MIN), |b, (k, &x)| if x > b.1 { (k, x) } else { b });
    let ((k_num, a_num), (k_ex, a_ex)) = (peak(&u), peak(&exact));
    println!("peak: step {k_num} ({a_num:.5}) against {k_ex} ({a_ex:.5}); dt = {dt:.3e} s");
    assert!(k_num.abs_diff(k_ex) <= 1, "arrival at step {k_num}, expected {k_ex}");
    assert!((a_num - a_ex).abs() < 0.03 * a_ex, "amplitude {a_num} against {a_ex}");
    let err = u.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
        / exact.iter().map(|b| b * b).sum::<f64>().sqrt();
    assert!(err < 0.05, "relative L2 error of the trace {err}");
}

/// A smooth velocity anomaly (a slow blob) on the default background.
fn anomaly(m: &Acoustic) -> Vec<f64> {
    let g = m.grid();
    let c = g.sample3(|x, y, z| {
        let d2 = (x - 120.0).powi(2) + (y - 170.0).powi(2) + (z - 150.0).powi(2);
        1500.0 - 200.0 * (-d2 / (2.0 * 40.0f64.powi(2))).exp()
    });
    Acoustic::slowness_squared(&c)
}

#[test]
fn source_and_receiver_swapped_give_the_same_trace_in_a_heterogeneous_damped_medium() {
    let cfg = Config { n: [24, 22, 20], source: [60.0, 70.0, 80.0], sponge: 4, ..Config::default() };
    let a = Acoustic::new(cfg).unwrap();
    let g = *a.grid();
    let slow = anomaly(&a);
    let b = a.with_source([150.0, 120.0, 110.0]).unwrap();
    let steps = 120;
    let ab = trace(&a, Some(&slow), g.idx3(15, 12, 11), steps);
    let ba = trace(&b, Some(&slow), g.idx3(6, 7, 8), steps);
    let scale = ab.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-4, "the wave reached the receiver ({scale})");
    let diff = ab.iter().zip(&ba).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff < 1e-11 * scale, "reciprocity: max difference {diff:.3e} of {scale:.3e}");
}

#[test]
fn gradient_and_hvp_in_slowness_and_state_match_finite_differences() {
    let cfg = Config { n: [14, 12, 12], order: 4, sponge: 3, source: [50.0, 60.0, 55.0], ..Config::default() };
    let model = Acoustic::new(cfg).unwrap();
    let g = *model.grid();
    let steps = 30;
    // receivers on a plane, data from the anomalous medium
    let receivers: Vec<usize> =
        (3..11).step_by(2).flat_map(|j| (3..9).step_by(2).map(move |k| g.idx3(10, j, k))).collect();
    let truth = anomaly(&model);
    let mut sim = Sim::<_, f64>::new(model.clone(), Par::Seq).unwrap();
    sim.set_param("m", &truth).unwrap();
    let at: Vec<usize> = (10..=steps).step_by(5).collect();
    let states = rewind_sim::states_at(&mut sim, &model.at_rest(), &at).unwrap();
    let mut loss = Observations::of("u").points(receivers.clone());
    for (&t, x) in at.iter().zip(&states) {
        loss = loss.at(t, receivers.iter().map(|&k| x[k]).collect());
    }
    let loss = loss.weight(1e6);
    let mut p = Problem::new(model.clone(), loss, Strategy::Binomial { snapshots: 4 }, steps, Par::Seq).unwrap();
    let n = model.layout().len();
    // a start that is not at rest, so that the state's part is checked too
    let x0: Vec<f64> = (0..n).map(|k| 1e-4 * ((k * 7 % 11) as f64 - 5.0)).collect();
    let v_x: Vec<f64> = (0..n).map(|k| ((k * 5 % 13) as f64 - 6.0) * 1e-5).collect();
    let dm: Vec<f64> = g.sample3(|x, y, z| 1e-8 * ((x + 2.0 * y) / 40.0).sin() * (z / 30.0).cos());
    let v_p = p.param_direction(&[("m", &dm)]).unwrap();
    let c = check(&mut p, &x0, &v_x, &v_p, &rewind_sim::check::SWEEP).unwrap();
    println!("{c}");
    assert!(c.passes(1e-6), "{c:?}");
}

#[test]
fn settings_that_cannot_work_are_refused_with_the_reason() {
    let ok = Config::default();
    for (bad, why) in [
        (Config { order: 6, ..ok.clone() }, "order is 4 or 8"),
        (Config { n: [8, 32, 32], ..ok.clone() }, "needs at least 9"),
        (Config { h: 0.0, ..ok.clone() }, "positive"),
        (Config { sponge: 16, ..ok.clone() }, "leaves no interior"),
        (Config { dt: 0.01, ..ok.clone() }, "stability limit"),
        (Config { source: [400.0, 0.0, 0.0], ..ok.clone() }, "outside the grid"),
    ] {
        let e = Acoustic::new(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
}

#[test]
fn the_sponge_absorbs_what_walls_alone_keep() {
    // a 25 Hz pulse (6 points a wavelength) in a 28³ box: after the waves
    // have crossed it three times, walls alone keep most of the energy,
    // a 6-point sponge on every face almost none of it
    let energy_left = |sponge: usize| {
        let cfg = Config { n: [28; 3], order: 4, sponge, f0: 25.0, source: [140.0; 3], ..Config::default() };
        let m = Acoustic::new(cfg).unwrap();
        let steps = (0.6 / m.config().dt) as usize;
        let mut sim = Sim::<_, f64>::new(m.clone(), Par::Seq).unwrap();
        let n = m.grid().len();
        let mut energy = Vec::new();
        rewind_sim::run_from(&mut sim, &m.at_rest(), steps, |_, x| {
            energy.push(x[..n].iter().map(|u| u * u).sum::<f64>());
            Ok::<_, SimError>(())
        })
        .unwrap();
        let peak = energy.iter().fold(0.0f64, |a, &b| a.max(b));
        energy.last().unwrap() / peak
    };
    let (walls, sponge) = (energy_left(0), energy_left(6));
    println!("energy left: walls {walls:.3e}, sponge {sponge:.3e}");
    assert!(walls > 0.1, "walls alone lost the energy: {walls}");
    assert!(sponge < 1e-3, "the sponge kept {sponge} of the energy");
}

#[test]
fn the_leapfrog_kernel_passes_the_partial_and_dot_product_checks() {
    use rewind_acoustic::Leapfrog;
    use rewind_field::Grid;
    use rewind_field::stencil::check_stencil;
    let g = Grid::new3(5, 4, 6, 10.0, 10.0, 10.0).unwrap();
    let wave = |a: f64, b: f64| g.sample3(|x, y, z| (a * x + 0.01 * y).sin() * (b * z).cos());
    // m > 0 and E ≥ 0 as in the model (E zero at some points)
    let m = g.sample3(|x, y, _| (1.0 + 0.2 * (0.03 * x + 0.05 * y).sin()) / (1500.0 * 1500.0));
    let e = g.sample3(|x, _, z| if x > 20.0 { 1e-7 * (0.02 * z).cos().abs() } else { 0.0 });
    let inputs = [wave(0.02, 0.03), wave(0.01, 0.05), wave(0.03, 0.02), m, e];
    let refs: Vec<&[f64]> = inputs.iter().map(|v| &v[..]).collect();
    let c = check_stencil(Leapfrog { dt2: 1e-6 }, g, &refs, 7).unwrap();
    assert!(c.passes(1e-12), "{c:?}");
    // the update is the leapfrog's: (m + E) u⁺ = dt² (∇²u + q) + 2 m u − (m − E) u⁻
    let k = Leapfrog { dt2: 1e-6 };
    let x = [0.3, 0.7, 0.4, 2.0e-7, 5.0e-8];
    let next = rewind_field::Stencil::eval(&k, &g, &x);
    let lhs = (x[3] + x[4]) * next;
    let rhs = 1e-6 * x[0] + 2.0 * x[3] * x[1] - (x[3] - x[4]) * x[2];
    assert!((lhs - rhs).abs() <= 1e-15 * rhs.abs(), "{lhs} {rhs}");
}
