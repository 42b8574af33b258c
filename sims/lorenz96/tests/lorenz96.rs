//! Lorenz-96: exact gradients and HVPs through chaos, and their growth.

use rewind_checkpoint::{Strategy, gradient, hvp};
use rewind_field::Par;
use rewind_lorenz96::{Lorenz96, field_stepper, objective, on_attractor, stepper};
use rewind_tape::Dual;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn gradient_and_hvp_match_fd_and_are_schedule_independent() {
    let m = Lorenz96::default();
    let x0 = on_attractor(m, 500);
    let y: Vec<f64> = (0..m.n).map(|i| (i as f64 * 0.3).sin() * 3.0).collect();
    let steps = 100; // one time unit
    let mut reference = None;
    for s in [Strategy::StoreAll, Strategy::Binomial { snapshots: 3 }, Strategy::Periodic { every: 10 }] {
        let out = gradient(&mut stepper::<f64>(m, 8.0), &mut objective::<f64>(y.clone()), s, steps, &x0).unwrap();
        match &reference {
            None => reference = Some(out),
            Some(r) => assert_eq!(out.grad_x0, r.grad_x0, "{s}"),
        }
    }
    let r = reference.unwrap();
    let v: Vec<f64> = (0..m.n).map(|i| ((i * 7 % 5) as f64 - 2.0) / 2.0).collect();
    let j = |x: &[f64]| {
        gradient(&mut stepper::<f64>(m, 8.0), &mut objective::<f64>(y.clone()), Strategy::StoreAll, steps, x)
            .unwrap()
            .objective
    };
    let t = rewind_tape::fd::taylor_test(j, &x0, &r.grad_x0, &v).unwrap();
    assert!(t.passed(), "{t:?}");
    // F-gradient against FD
    let jf = |f: f64| {
        gradient(&mut stepper::<f64>(m, f), &mut objective::<f64>(y.clone()), Strategy::StoreAll, steps, &x0)
            .unwrap()
            .objective
    };
    let h = 1e-6;
    let fd = (jf(8.0 + h) - jf(8.0 - h)) / (2.0 * h);
    assert!((r.grad_params[0] - fd).abs() < 1e-6 * fd.abs(), "{} vs {fd}", r.grad_params[0]);
    // HVP symmetry and FD of gradients
    let hv = |d: &[f64]| {
        hvp(
            &mut stepper::<Dual<f64>>(m, 8.0),
            &mut objective::<Dual<f64>>(y.clone()),
            Strategy::Binomial { snapshots: 4 },
            steps,
            &x0,
            d,
        )
        .unwrap()
        .hvp
    };
    let w: Vec<f64> = (0..m.n).map(|i| (i as f64).cos()).collect();
    let (hvv, hvw) = (hv(&v), hv(&w));
    let (a, b) = (dot(&w, &hvv), dot(&v, &hvw));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    let g = |x: &[f64]| {
        gradient(&mut stepper::<f64>(m, 8.0), &mut objective::<f64>(y.clone()), Strategy::StoreAll, steps, x)
            .unwrap()
            .grad_x0
    };
    let e = 1e-6;
    let gp = g(&x0.iter().zip(&v).map(|(a, b)| a + e * b).collect::<Vec<_>>());
    let gm = g(&x0.iter().zip(&v).map(|(a, b)| a - e * b).collect::<Vec<_>>());
    let size = hvv.iter().map(|x| x.abs()).fold(0.0, f64::max);
    for k in 0..m.n {
        assert!((hvv[k] - (gp[k] - gm[k]) / (2.0 * e)).abs() < 1e-5 * size, "k = {k}");
    }
}

#[test]
fn gradients_grow_exponentially_with_the_horizon() {
    let m = Lorenz96::default();
    let x0 = on_attractor(m, 1000);
    let y = vec![0.0; m.n];
    let norm = |steps: usize| {
        let g = gradient(
            &mut stepper::<f64>(m, 8.0),
            &mut objective::<f64>(y.clone()),
            Strategy::Binomial { snapshots: 8 },
            steps,
            &x0,
        )
        .unwrap()
        .grad_x0;
        dot(&g, &g).sqrt()
    };
    // over 2 and 4 time units the gradient grows by orders of magnitude
    let (g1, g4) = (norm(100), norm(400));
    assert!(g4 > 100.0 * g1, "|g(1)| = {g1}, |g(4)| = {g4}");
}

#[test]
fn the_field_tape_version_agrees_with_the_scalar_tape() {
    let m = Lorenz96::default();
    let x0 = on_attractor(m, 500);
    let y: Vec<f64> = (0..m.n).map(|i| (i as f64 * 0.7).cos() * 2.0).collect();
    let steps = 100;
    let scalar =
        gradient(&mut stepper::<f64>(m, 8.0), &mut objective::<f64>(y.clone()), Strategy::StoreAll, steps, &x0)
            .unwrap();
    let close = |a: &[f64], b: &[f64], tol: f64| {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter().zip(b).all(|(p, q)| (p - q).abs() <= tol * scale)
    };
    let mut first: Option<Vec<f64>> = None;
    for s in [Strategy::StoreAll, Strategy::Periodic { every: 9 }, Strategy::Binomial { snapshots: 4 }] {
        let mut st = field_stepper::<f64>(m, 8.0, Par::Seq).unwrap();
        let out = gradient(&mut st, &mut objective::<f64>(y.clone()), s, steps, &x0).unwrap();
        assert!((out.objective - scalar.objective).abs() <= 1e-12 * scalar.objective.abs(), "{s}");
        assert!(close(&out.grad_x0, &scalar.grad_x0, 1e-10), "{s}: gradient");
        assert!(close(&out.grad_params, &scalar.grad_params, 1e-10), "{s}: dJ/dF");
        match &first {
            None => first = Some(out.grad_x0),
            Some(g) => assert_eq!(&out.grad_x0, g, "{s}: not identical across schedules"),
        }
    }
    let v: Vec<f64> = (0..m.n).map(|i| ((i * 3 % 7) as f64 - 3.0) / 3.0).collect();
    let u: Vec<f64> = (0..m.n).map(|i| (i as f64 * 0.4).sin()).collect();
    let hv_field = |d: &[f64]| {
        let mut st = field_stepper::<Dual<f64>>(m, 8.0, Par::Seq).unwrap();
        hvp(&mut st, &mut objective::<Dual<f64>>(y.clone()), Strategy::Binomial { snapshots: 5 }, steps, &x0, d)
            .unwrap()
            .hvp
    };
    let hv_scalar = hvp(
        &mut stepper::<Dual<f64>>(m, 8.0),
        &mut objective::<Dual<f64>>(y.clone()),
        Strategy::StoreAll,
        steps,
        &x0,
        &v,
    )
    .unwrap()
    .hvp;
    let hv = hv_field(&v);
    assert!(close(&hv, &hv_scalar, 1e-9), "HVP");
    let (a, b) = (dot(&u, &hv), dot(&v, &hv_field(&u)));
    assert!((a - b).abs() < 1e-9 * a.abs().max(b.abs()), "{a} vs {b}");
    // bad parameters are errors, not panics
    assert!(matches!(
        field_stepper::<f64>(Lorenz96 { n: 3, dt: 0.01 }, 8.0, Par::Seq),
        Err(rewind_lorenz96::Lorenz96Error::Param(p)) if p.starts_with("n:")
    ));
    assert!(matches!(
        field_stepper::<f64>(Lorenz96 { n: 40, dt: -1.0 }, 8.0, Par::Seq),
        Err(rewind_lorenz96::Lorenz96Error::Param(p)) if p.starts_with("dt:")
    ));
}
