//! The lid-driven cavity: gradients through a flow with walls, and the
//! steady state on a coarse grid against the published centre line.

use rewind_cavity::{CavityStep, Params, centreline_u, ghia, max_deviation, run_to_steady, stepper};
use rewind_checkpoint::{DriverError, StepError, Strategy};
use rewind_field::Par;
use rewind_sim::{Problem, SimError, Terminal};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn small() -> Params {
    let n = 17;
    Params { n, reynolds: 100.0, lid: 1.0, dt: Params::stable_dt(n, 100.0, 1.0) }
}

#[test]
fn gradients_wrt_vorticity_viscosity_and_lid_speed_match_fd() {
    let p = small();
    let step = CavityStep::new(p.clone()).unwrap();
    let g = *step.grid();
    let w0 = g.sample(|x, y| 3.0 * (5.0 * x).sin() * (4.0 * y).sin());
    let obj = Terminal::state(g.sample(|x, _| x - 0.5)).weight(g.dx * g.dy);
    let steps = 40;
    let mut problem = Problem::new(step, obj, Strategy::StoreAll, steps, Par::Seq).unwrap();
    let mut reference = None;
    for s in [Strategy::StoreAll, Strategy::Periodic { every: 6 }, Strategy::Binomial { snapshots: 3 }] {
        problem.set_strategy(s).unwrap();
        let out = problem.gradient(&w0).unwrap();
        match &reference {
            None => reference = Some(out),
            Some(r) => {
                assert_eq!(out.x0, r.x0, "{s}");
                assert_eq!(out.params, r.params, "{s}");
            }
        }
    }
    let r = reference.unwrap();
    let v = g.sample(|x, y| (3.0 * x + y).cos());
    let cell = std::cell::RefCell::new(&mut problem);
    let t = rewind_tape::fd::taylor_test(|w| cell.borrow_mut().value(w).unwrap(), &w0, &r.x0, &v).unwrap();
    assert!(t.passed(), "{t:?}");
    // ν = U/Re and the lid speed U are the parameters, each set in place
    let h = 1e-6;
    let mut fd_param = |name: &str, at: f64, want: f64| {
        let mut j = |x: f64| {
            problem.set_param(name, &[x]).unwrap();
            problem.value(&w0).unwrap()
        };
        let fd = (j(at + h) - j(at - h)) / (2.0 * h);
        problem.set_param(name, &[at]).unwrap();
        assert!((want - fd).abs() < 1e-6 * fd.abs().max(1e-3), "{name}: {want} vs {fd}");
    };
    fd_param("nu", p.lid / p.reynolds, r.param("nu").unwrap()[0]);
    fd_param("lid", p.lid, r.param("lid").unwrap()[0]);
    // HVP: symmetry
    problem.set_strategy(Strategy::Binomial { snapshots: 4 }).unwrap();
    let no_p = vec![0.0; problem.param_set().len()];
    let mut hv = |d: &[f64]| problem.hvp(&w0, d, &no_p).unwrap().x0;
    let u = g.sample(|x, y| (x * y * 7.0).sin());
    let hv_v = hv(&v);
    let (a, b) = (dot(&u, &hv_v), dot(&v, &hv(&u)));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    // HVP: against a central difference of gradients along v
    problem.set_strategy(Strategy::StoreAll).unwrap();
    let h = 1e-5;
    let mut grad_at =
        |s: f64| problem.gradient(&w0.iter().zip(&v).map(|(a, b)| a + s * b).collect::<Vec<_>>()).unwrap().x0;
    let (gp, gm) = (grad_at(h), grad_at(-h));
    let size = hv_v.iter().map(|z| z.abs()).fold(0.0, f64::max);
    assert!(size > 0.0, "degenerate direction");
    for k in 0..g.len() {
        let fd = (gp[k] - gm[k]) / (2.0 * h);
        assert!((hv_v[k] - fd).abs() <= 1e-6 * size, "k = {k}: {} vs {fd}", hv_v[k]);
    }
}

#[test]
fn coarse_steady_state_is_close_to_the_published_centre_line() {
    let n = 33;
    let p = Params { n, reynolds: 100.0, lid: 1.0, dt: Params::stable_dt(n, 100.0, 1.0) };
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let (w, steps) = run_to_steady(&mut st, 1e-6, 20_000).unwrap();
    let profile = centreline_u(&CavityStep::new(p).unwrap(), &w).unwrap();
    let dev = max_deviation(&profile, ghia(100).unwrap());
    // 33² central differences: within a few hundredths of Ghia's 129² data
    assert!(dev < 0.05, "max deviation {dev} after {steps} steps");
    assert!(steps > 100);
}

#[test]
fn an_unstable_time_step_is_a_typed_error_naming_the_step() {
    let p = Params { dt: 0.5, ..small() };
    let step = CavityStep::new(p).unwrap();
    let n = step.grid().len();
    let obj = Terminal::state(vec![0.0; n]);
    let mut problem = Problem::new(step, obj, Strategy::StoreAll, 5, Par::Seq).unwrap();
    let err = problem.gradient(&vec![0.0; n]).unwrap_err();
    assert!(
        matches!(err, SimError::Driver(DriverError::Step { step: 0, source: StepError::Unstable { step: 0, .. } })),
        "{err}"
    );
    assert!(matches!(
        stepper::<f64>(Params { n: 3, ..small() }, Par::Seq),
        Err(rewind_cavity::CavityError::Param(p)) if p.starts_with("n:")
    ));
    assert!(matches!(
        stepper::<f64>(Params { reynolds: -1.0, ..small() }, Par::Seq),
        Err(rewind_cavity::CavityError::Param(p)) if p.starts_with("reynolds:")
    ));
}
