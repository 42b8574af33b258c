//! Gradients and HVPs through a steepening shock.

use rewind_burgers::{Params, stepper};
use rewind_checkpoint::{DriverError, StepError, Stepper, Strategy, gradient, hvp};
use rewind_field::Par;
use rewind_sim::TerminalMisfit;
use rewind_tape::Dual;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn run(u0: &[f64], steps: usize) -> Vec<f64> {
    let mut st = stepper::<f64>(Params::default(), Par::Seq).unwrap();
    let (mut u, mut next) = (u0.to_vec(), vec![0.0; u0.len()]);
    for t in 0..steps {
        st.step(t, &u, &mut next).unwrap();
        std::mem::swap(&mut u, &mut next);
    }
    u
}

#[test]
fn gradient_through_the_shock_matches_fd_and_hvp_is_symmetric() {
    let steps = 150; // t = 1.5, past the shock formation
    let p = Params::default();
    let st = rewind_burgers::BurgersStep::new(p.clone()).unwrap();
    let u0 = st.initial();
    let g = *st.grid();
    let target: Vec<f64> = g.sample(|x, _| 0.3 * (2.0 * x).cos());
    let obj = TerminalMisfit { target, area: g.dx };
    let j = |u: &[f64]| {
        let un = run(u, steps);
        0.5 * g.dx * un.iter().zip(&obj.target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
    };
    // the shock: the steepest slope grows from 1 to over 5 (7.4 measured)
    let un = run(&u0, steps);
    let slope = (0..un.len()).map(|k| ((un[(k + 1) % un.len()] - un[k]) / g.dx).abs()).fold(0.0, f64::max);
    assert!(slope > 5.0, "no shock formed: max slope {slope}");

    let mut reference = None;
    for s in [
        Strategy::StoreAll,
        Strategy::Periodic { every: 7 },
        Strategy::Binomial { snapshots: 4 },
        Strategy::Online { snapshots: 6 },
    ] {
        let mut stp = stepper::<f64>(p.clone(), Par::Seq).unwrap();
        let out = gradient(&mut stp, &mut obj.clone(), s, steps, &u0).unwrap();
        match &reference {
            None => reference = Some(out),
            Some(r) => {
                assert_eq!(out.grad_x0, r.grad_x0, "{s}");
                assert_eq!(out.grad_params, r.grad_params, "{s}");
            }
        }
    }
    let r = reference.unwrap();
    let v: Vec<f64> = g.sample(|x, _| (3.0 * x).sin() + 0.2);
    let taylor = rewind_tape::fd::taylor_test(j, &u0, &r.grad_x0, &v).unwrap();
    assert!(taylor.passed(), "{taylor:?}");
    // ν-gradient against finite differences
    let jnu = |nu: f64| {
        let mut stp = stepper::<f64>(Params { nu, ..p.clone() }, Par::Seq).unwrap();
        gradient(&mut stp, &mut obj.clone(), Strategy::StoreAll, steps, &u0).unwrap().objective
    };
    let h = 1e-6;
    let fd = (jnu(p.nu + h) - jnu(p.nu - h)) / (2.0 * h);
    assert!((r.grad_params[0] - fd).abs() < 1e-6 * fd.abs(), "{} vs {fd}", r.grad_params[0]);
    // HVP: FD of gradients and symmetry
    let hv = |dir: &[f64]| {
        let mut stp = stepper::<Dual<f64>>(p.clone(), Par::Seq).unwrap();
        hvp(&mut stp, &mut obj.clone(), Strategy::Binomial { snapshots: 5 }, steps, &u0, dir).unwrap().hvp
    };
    let w: Vec<f64> = g.sample(|x, _| x.cos());
    let (hvv, hvw) = (hv(&v), hv(&w));
    let (a, b) = (dot(&w, &hvv), dot(&v, &hvw));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    let grad_at = |u: &[f64]| {
        let mut stp = stepper::<f64>(p.clone(), Par::Seq).unwrap();
        gradient(&mut stp, &mut obj.clone(), Strategy::Binomial { snapshots: 5 }, steps, u).unwrap().grad_x0
    };
    let e = 1e-5;
    let gp = grad_at(&u0.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>());
    let gm = grad_at(&u0.iter().zip(&v).map(|(a, b)| a - e * b).collect::<Vec<_>>());
    let size = hvv.iter().map(|x| x.abs()).fold(0.0, f64::max);
    for k in 0..u0.len() {
        assert!((hvv[k] - (gp[k] - gm[k]) / (2.0 * e)).abs() < 1e-5 * size, "k = {k}");
    }
}

#[test]
fn an_unstable_time_step_is_refused_with_its_step() {
    let mut stp = stepper::<f64>(Params { dt: 0.5, ..Params::default() }, Par::Seq).unwrap();
    let u0 = vec![1.0; 128];
    let obj = TerminalMisfit { target: vec![0.0; 128], area: 1.0 };
    match gradient(&mut stp, &mut obj.clone(), Strategy::StoreAll, 10, &u0) {
        Err(DriverError::Step { step: 0, source: StepError::Unstable { step: 0, .. } }) => {}
        other => panic!("expected a stability error at step 0, got {other:?}"),
    }
    assert!(matches!(
        stepper::<f64>(Params { n: 2, ..Params::default() }, Par::Seq),
        Err(rewind_burgers::BurgersError::Param(p)) if p.starts_with("n:")
    ));
}
