//! Gray–Scott: gradients with respect to the feed-rate field and HVPs in
//! joint directions (state, feed field, kill rate) under binomial and
//! multi-level checkpointing, against finite differences.

use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_gray_scott::{Config, GrayScott};
use rewind_sim::{Background, Covariance, Problem, Sim, SimError, Sum, Terminal, check};

fn model() -> GrayScott {
    GrayScott::new(Config::default()).unwrap()
}

fn run(m: &GrayScott, x0: &[f64], steps: usize) -> Vec<f64> {
    rewind_sim::advance(&mut Sim::<_, f64>::new(m.clone(), Par::Seq).unwrap(), x0, steps).unwrap()
}

#[test]
fn the_patch_reacts_and_stays_bounded() {
    let m = model();
    let x0 = m.initial().unwrap();
    let x = run(&m, &x0, 500);
    let n = m.grid().len();
    let (u, v) = (&x[..n], &x[n..]);
    assert!(u.iter().chain(v).all(|a| (-1e-9..=1.0 + 1e-9).contains(a)), "concentrations leave [0, 1]");
    // v spreads out of the patch: more cells hold v than at the start
    let count = |w: &[f64]| w.iter().filter(|&&a| a > 1e-3).count();
    assert!(count(v) > count(&x0[n..]), "{} vs {}", count(v), count(&x0[n..]));
}

/// `J = ½ ‖v_n − target‖² + ½ β ‖∇F‖²` (a smoothness prior on the feed
/// field, through the parameter).
fn problem(strategy: Strategy, steps: usize) -> (Problem<GrayScott, Sum<Terminal, Background>>, Vec<f64>) {
    let m = model();
    let x0 = m.initial().unwrap();
    let n = m.grid().len();
    let target = run(&m, &x0, steps)[n..].iter().map(|v| v * 0.9 + 0.01).collect();
    let prior = Background::param("feed", vec![0.0; n]).covariance(Covariance::Smoothness(0.5));
    (Problem::new(m, Terminal::of("v", target) + prior, strategy, steps, Par::Seq).unwrap(), x0)
}

#[test]
fn feed_field_gradient_and_joint_hvp_match_differences() {
    let steps = 30;
    let strategies = [
        Strategy::Binomial { snapshots: 4 },
        Strategy::MultiLevel { ram: 2, disk: 2, write_cost: 1.0, read_cost: 1.0 },
    ];
    let (p0, x0) = problem(strategies[0], steps);
    let n = p0.layout().grid().len();
    let v_x: Vec<f64> = (0..2 * n).map(|k| ((k * 5 % 11) as f64 - 5.0) * 1e-3).collect();
    let v_feed: Vec<f64> = (0..n).map(|k| ((k * 3 % 7) as f64 - 3.0) * 1e-3).collect();
    let mut reference = None;
    for s in strategies {
        let (mut p, _) = problem(s, steps);
        let v_p = p.param_direction(&[("feed", &v_feed), ("kill", &[0.01])]).unwrap();
        let c = check(&mut p, &x0, &v_x, &v_p, &[1e-5]).unwrap();
        println!("{s}:\n{c}");
        assert!(c.passes(1e-6), "{s}: {c:?}");
        let h = p.hvp(&x0, &v_x, &v_p).unwrap();
        match &reference {
            None => reference = Some(h),
            Some(r) => {
                assert_eq!(h.x0, r.x0, "{s}");
                assert_eq!(h.params, r.params, "{s}");
            }
        }
    }
    // the feed gradient alone, by name, in a direction of the field only
    let (mut p, _) = problem(strategies[0], steps);
    let g = p.gradient(&x0).unwrap();
    let gf = g.param("feed").unwrap();
    // ⟨∇J, v⟩ ≈ 1.6e-5 against J ≈ 1: the step balances round-off in
    // J(+) − J(−) (∝ 1/e) against the truncation error (∝ e²)
    let e = 1e-4;
    let mut j = |s: f64| {
        let f: Vec<f64> = model().config().feed.iter().zip(&v_feed).map(|(a, b)| a + s * e * b).collect();
        p.set_param("feed", &f).unwrap();
        p.value(&x0).unwrap()
    };
    let fd = (j(1.0) - j(-1.0)) / (2.0 * e);
    let ad: f64 = gf.iter().zip(&v_feed).map(|(a, b)| a * b).sum();
    assert!((ad - fd).abs() < 1e-6 * fd.abs(), "{ad} vs {fd}");
}

#[test]
fn a_time_step_beyond_the_diffusion_limit_is_refused() {
    let e = GrayScott::new(Config { dt: 3.0, ..Config::default() }).unwrap_err();
    assert!(e.to_string().contains("diffusion limit"), "{e}");
    let e = GrayScott::new(Config { feed: vec![0.04; 3], ..Config::default() });
    let p = e.map(|m| Sim::<_, f64>::new(m, Par::Seq).map(|_| ()));
    assert!(matches!(p, Ok(Err(SimError::Length { .. }))), "{p:?}");
}
