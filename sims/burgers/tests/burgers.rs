//! Gradients and HVPs through a steepening shock.

use rewind_burgers::{Burgers, Params, stepper};
use rewind_checkpoint::{DriverError, StepError, Stepper, Strategy};
use rewind_field::Par;
use rewind_sim::{Problem, SimError, Terminal};

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
    let st = Burgers::new(p.clone()).unwrap();
    let u0 = st.initial();
    let g = *st.grid();
    let target: Vec<f64> = g.sample(|x, _| 0.3 * (2.0 * x).cos());
    let obj = Terminal::state(target.clone()).weight(g.dx);
    let problem = |s| Problem::new(st.clone(), obj.clone(), s, steps, Par::Seq).unwrap();
    let j = |u: &[f64]| {
        let un = run(u, steps);
        0.5 * g.dx * un.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
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
        let out = problem(s).gradient(&u0).unwrap();
        match &reference {
            None => reference = Some(out),
            Some(r) => {
                assert_eq!(out.x0, r.x0, "{s}");
                assert_eq!(out.params, r.params, "{s}");
            }
        }
    }
    let r = reference.unwrap();
    let v: Vec<f64> = g.sample(|x, _| (3.0 * x).sin() + 0.2);
    let taylor = rewind_tape::fd::taylor_test(j, &u0, &r.x0, &v).unwrap();
    assert!(taylor.passed(), "{taylor:?}");
    // ν-gradient against finite differences, ν changed in place
    let mut pr = problem(Strategy::StoreAll);
    let mut jnu = |nu: f64| {
        pr.set_param("nu", &[nu]).unwrap();
        pr.value(&u0).unwrap()
    };
    let h = 1e-6;
    let fd = (jnu(p.nu + h) - jnu(p.nu - h)) / (2.0 * h);
    let gnu = r.param("nu").unwrap()[0];
    assert!((gnu - fd).abs() < 1e-6 * fd.abs(), "{gnu} vs {fd}");
    // HVP: FD of gradients and symmetry, in state directions and in ν
    let mut pr = problem(Strategy::Binomial { snapshots: 5 });
    let mut hv = |dir: &[f64], dnu: f64| pr.hvp(&u0, dir, &[dnu]).unwrap();
    let w: Vec<f64> = g.sample(|x, _| x.cos());
    let zero = vec![0.0; w.len()];
    let (hvv, hvw, hnu) = (hv(&v, 0.0), hv(&w, 0.0), hv(&zero, 1.0));
    let (a, b) = (dot(&w, &hvv.x0), dot(&v, &hvw.x0));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    // the mixed block: ⟨v, ∂²J/∂x∂ν⟩ two ways
    let (a, b) = (hvv.params[0], dot(&v, &hnu.x0));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "mixed {a} vs {b}");
    let mut pr = problem(Strategy::Binomial { snapshots: 5 });
    let mut grad_at = |u: &[f64], nu: f64| {
        pr.set_param("nu", &[nu]).unwrap();
        pr.gradient(u).unwrap()
    };
    let e = 1e-5;
    let gp = grad_at(&u0.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>(), p.nu);
    let gm = grad_at(&u0.iter().zip(&v).map(|(a, b)| a - e * b).collect::<Vec<_>>(), p.nu);
    let size = hvv.x0.iter().map(|x| x.abs()).fold(0.0, f64::max);
    for k in 0..u0.len() {
        assert!((hvv.x0[k] - (gp.x0[k] - gm.x0[k]) / (2.0 * e)).abs() < 1e-5 * size, "k = {k}");
    }
    // ∂²J/∂ν² against differences of the ν-gradient
    let en = 1e-6;
    let (gp, gm) = (grad_at(&u0, p.nu + en), grad_at(&u0, p.nu - en));
    let fd = (gp.params[0] - gm.params[0]) / (2.0 * en);
    assert!((hnu.params[0] - fd).abs() < 1e-5 * fd.abs(), "{} vs {fd}", hnu.params[0]);
}

#[test]
fn an_unstable_time_step_is_refused_with_its_step() {
    let p = Params { dt: 0.5, ..Params::default() };
    let obj = Terminal::state(vec![0.0; 128]);
    let mut pr = Problem::new(Burgers::new(p).unwrap(), obj, Strategy::StoreAll, 10, Par::Seq).unwrap();
    match pr.gradient(&[1.0; 128]) {
        Err(SimError::Driver(DriverError::Step { step: 0, source: StepError::Unstable { step: 0, .. } })) => {}
        other => panic!("expected a stability error at step 0, got {other:?}"),
    }
    assert!(matches!(
        stepper::<f64>(Params { n: 2, ..Params::default() }, Par::Seq),
        Err(rewind_burgers::BurgersError::Param(p)) if p.starts_with("n:")
    ));
}
