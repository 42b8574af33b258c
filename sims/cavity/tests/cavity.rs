//! The lid-driven cavity: gradients through a flow with walls, and the
//! steady state on a coarse grid against the published centre line.

use rewind_cavity::{CavityStep, Params, centreline_u, ghia, max_deviation, run_to_steady, stepper};
use rewind_checkpoint::{DriverError, StepError, Strategy};
use rewind_field::Par;
use rewind_sim::{Model, Sim, TerminalMisfit};
use rewind_tape::Dual;

/// The driver's gradient with the misfit recorded on the tape.
fn gradient<M: Model>(
    st: &mut Sim<M, f64>,
    obj: &mut TerminalMisfit,
    s: Strategy,
    steps: usize,
    x0: &[f64],
) -> Result<rewind_checkpoint::Outcome<f64>, DriverError> {
    let mut ob = st.objective(obj.clone());
    rewind_checkpoint::gradient(st, &mut ob, s, steps, x0)
}

/// The driver's HVP with the misfit recorded on the tape.
fn hvp<M: Model>(
    st: &mut Sim<M, Dual<f64>>,
    obj: &mut TerminalMisfit,
    s: Strategy,
    steps: usize,
    x0: &[f64],
    v: &[f64],
) -> Result<rewind_checkpoint::SecondOrder, DriverError> {
    let mut ob = st.objective(obj.clone());
    rewind_checkpoint::hvp(st, &mut ob, s, steps, x0, v)
}

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
    let obj = TerminalMisfit { target: g.sample(|x, _| x - 0.5), area: g.dx * g.dy };
    let steps = 40;
    let mut reference = None;
    for s in [Strategy::StoreAll, Strategy::Periodic { every: 6 }, Strategy::Binomial { snapshots: 3 }] {
        let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
        let out = gradient(&mut st, &mut obj.clone(), s, steps, &w0).unwrap();
        match &reference {
            None => reference = Some(out),
            Some(r) => {
                assert_eq!(out.grad_x0, r.grad_x0, "{s}");
                assert_eq!(out.grad_params, r.grad_params, "{s}");
            }
        }
    }
    let r = reference.unwrap();
    let j = |p: &Params, w: &[f64]| {
        let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
        gradient(&mut st, &mut obj.clone(), Strategy::StoreAll, steps, w).unwrap().objective
    };
    let v = g.sample(|x, y| (3.0 * x + y).cos());
    let t = rewind_tape::fd::taylor_test(|w| j(&p, w), &w0, &r.grad_x0, &v).unwrap();
    assert!(t.passed(), "{t:?}");
    // ν = U/Re and the lid speed U are the parameters
    let h = 1e-6;
    let nu = p.lid / p.reynolds;
    let with_nu = |nu: f64| j(&Params { reynolds: p.lid / nu, ..p.clone() }, &w0);
    let fd_nu = (with_nu(nu + h) - with_nu(nu - h)) / (2.0 * h);
    assert!((r.grad_params[0] - fd_nu).abs() < 1e-6 * fd_nu.abs().max(1e-3), "{} vs {fd_nu}", r.grad_params[0]);
    // changing U at fixed ν: Re = U/ν
    let with_u = |u: f64| j(&Params { lid: u, reynolds: u / nu, ..p.clone() }, &w0);
    let fd_u = (with_u(1.0 + h) - with_u(1.0 - h)) / (2.0 * h);
    assert!((r.grad_params[1] - fd_u).abs() < 1e-6 * fd_u.abs().max(1e-3), "{} vs {fd_u}", r.grad_params[1]);
    // HVP: symmetry
    let hv = |d: &[f64]| {
        let mut st = stepper::<Dual<f64>>(p.clone(), Par::Seq).unwrap();
        hvp(&mut st, &mut obj.clone(), Strategy::Binomial { snapshots: 4 }, steps, &w0, d).unwrap().hvp
    };
    let u = g.sample(|x, y| (x * y * 7.0).sin());
    let hv_v = hv(&v);
    let (a, b) = (dot(&u, &hv_v), dot(&v, &hv(&u)));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    // HVP: against a central difference of gradients along v
    let grad_at = |w: &[f64]| {
        let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
        gradient(&mut st, &mut obj.clone(), Strategy::StoreAll, steps, w).unwrap().grad_x0
    };
    let h = 1e-5;
    let gp = grad_at(&w0.iter().zip(&v).map(|(a, b)| a + h * b).collect::<Vec<_>>());
    let gm = grad_at(&w0.iter().zip(&v).map(|(a, b)| a - h * b).collect::<Vec<_>>());
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
    let mut st = stepper::<f64>(p.clone(), Par::Seq).unwrap();
    let g = *CavityStep::new(p).unwrap().grid();
    let obj = TerminalMisfit { target: vec![0.0; g.len()], area: 1.0 };
    let err = gradient(&mut st, &mut obj.clone(), Strategy::StoreAll, 5, &vec![0.0; g.len()]).unwrap_err();
    assert!(matches!(err, DriverError::Step { step: 0, source: StepError::Unstable { step: 0, .. } }), "{err}");
    assert!(matches!(
        stepper::<f64>(Params { n: 3, ..small() }, Par::Seq),
        Err(rewind_cavity::CavityError::Param(p)) if p.starts_with("n:")
    ));
    assert!(matches!(
        stepper::<f64>(Params { reynolds: -1.0, ..small() }, Par::Seq),
        Err(rewind_cavity::CavityError::Param(p)) if p.starts_with("reynolds:")
    ));
}
