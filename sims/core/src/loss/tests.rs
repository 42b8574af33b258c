//! The ready terms: each the formula its doc states (against the same sum
//! written over the plain trajectory), gradients and HVPs of their sum
//! against finite differences, and bad terms refused before any run.

use rewind_checkpoint::Strategy;
use rewind_field::{Grid, Par};

use crate::{
    Background, Covariance, Layout, Loss, Model, Noise, Number, Observations, ParamSet, Problem, SimError, State,
    StepAt, Terminal, check,
};

/// `u ← u + dt (κ Δu + q − s u²)`, `s ← s + dt mean(u)`: a field and a
/// scalar, a scalar and a field parameter, nonlinear in all of them.
#[derive(Debug, Clone)]
struct Toy;

const STEPS: usize = 6;

fn grid() -> Grid {
    Grid::periodic_square(8, 2.0).unwrap()
}

impl Model for Toy {
    fn layout(&self) -> Layout {
        Layout::new(grid()).field("u").scalar("s")
    }
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("kappa", 0.05).field("q", grid().sample(|x, y| (3.0 * x).sin() * y))
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let p = at.params();
        let [u] = x.split()?;
        let s = x.scalars()[0];
        let dt = 0.05;
        let u1 = u + (u.laplacian() * p.scalar("kappa")? + p.field("q")? - u * u * s) * dt;
        Ok(State::new(&[u1], &[s + u.mean() * dt]))
    }
}

fn x0() -> Vec<f64> {
    let mut x = grid().sample(|x, y| 0.5 + 0.3 * (x + 2.0 * y).cos());
    x.push(0.4);
    x
}

fn wave(a: f64) -> Vec<f64> {
    grid().sample(|x, y| a * (x - y).sin())
}

fn points() -> Vec<usize> {
    vec![0, 9, 18, 27, 40, 63]
}

/// Receivers between grid points (spacing 0.25), one in the last cell
/// (interpolated across the periodic wrap).
fn positions() -> Vec<[f64; 3]> {
    vec![[0.3, 0.7, 0.0], [1.13, 0.05, 0.0], [1.9, 1.8, 0.0]]
}

/// Bilinear interpolation of the periodic grid function `a` at `p`, in
/// plain f64.
fn bilinear(g: &Grid, a: &[f64], p: [f64; 3]) -> f64 {
    let (sx, sy) = (p[0] / g.dx, p[1] / g.dy);
    let (i, j) = (sx.floor() as usize, sy.floor() as usize);
    let (tx, ty) = (sx - i as f64, sy - j as f64);
    let at = |i: usize, j: usize| a[(i % g.nx) * g.ny + (j % g.ny)];
    (1.0 - tx) * (1.0 - ty) * at(i, j)
        + tx * (1.0 - ty) * at(i + 1, j)
        + (1.0 - tx) * ty * at(i, j + 1)
        + tx * ty * at(i + 1, j + 1)
}

/// Every kind of term once.
fn all_terms() -> impl Loss + Clone {
    let n = grid().len();
    Terminal::of("u", wave(0.2)).weight(0.7)
        + Terminal::of("s", vec![0.3])
        + Observations::of("u").points(points()).at(2, vec![0.5; 6]).at(5, vec![0.6; 6]).sigma(0.5)
        + Observations::of("s").at(3, vec![0.1]).weight(2.0)
        + Observations::of("u").positions(positions()).at(4, vec![0.2, -0.1, 0.3]).sigma(0.2)
        + Observations::of("u").at(STEPS, wave(0.1))
        + Background::state("u", wave(0.3))
            .covariance(Covariance::Variances((0..n).map(|k| 1.0 + 0.01 * k as f64).collect()))
        + Background::param("q", wave(0.05)).covariance(Covariance::Smoothness(0.3))
        + Background::param("kappa", vec![0.02]).covariance(Covariance::Sigma(0.1))
        + Terminal::state((0..=n).map(|k| 0.01 * k as f64).collect()).weight(0.25)
        + vec![Terminal::of("s", vec![0.5]).weight(3.0), Terminal::of("s", vec![-0.5])]
}

fn sq(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `Σ d (−Δd)` with the periodic 5-point Laplacian, in plain f64.
fn dirichlet_form(g: &Grid, d: &[f64]) -> f64 {
    let (nx, ny) = (g.nx, g.ny);
    let mut s = 0.0;
    for i in 0..nx {
        for j in 0..ny {
            let at = |i: usize, j: usize| d[(i % nx) * ny + (j % ny)];
            let lap = (at(i + 1, j) + at(i + nx - 1, j) - 2.0 * at(i, j)) / (g.dx * g.dx)
                + (at(i, j + 1) + at(i, j + ny - 1) - 2.0 * at(i, j)) / (g.dy * g.dy);
            s -= at(i, j) * lap;
        }
    }
    s
}

#[test]
fn every_term_is_the_formula_its_doc_states() {
    let (g, n) = (grid(), grid().len());
    let mut p = Problem::new(Toy, all_terms(), Strategy::Binomial { snapshots: 2 }, STEPS, Par::Seq).unwrap();
    let x0 = x0();
    let j = p.value(&x0).unwrap();
    let xs = p.states_at(&x0, &[2, 3, 4, 5, STEPS]).unwrap();
    let (x2, x3, x4, x5, xn) = (&xs[0], &xs[1], &xs[2], &xs[3], &xs[4]);
    let q = p.layout().part(&x0, "u").unwrap().len();
    assert_eq!(q, n);
    let params = p.param_set().clone();
    let qv = params.get("q").unwrap().values();
    let var: Vec<f64> = (0..n).map(|k| 1.0 + 0.01 * k as f64).collect();
    let at = |x: &[f64]| -> Vec<f64> { points().iter().map(|&k| x[k]).collect() };
    let dq: Vec<f64> = qv.iter().zip(wave(0.05)).map(|(a, b)| a - b).collect();
    let full: Vec<f64> = (0..=n).map(|k| 0.01 * k as f64).collect();
    let want = 0.5 * 0.7 * sq(&xn[..n], &wave(0.2))
        + 0.5 * (xn[n] - 0.3).powi(2)
        + 0.5 / 0.25 * (sq(&at(x2), &[0.5; 6]) + sq(&at(x5), &[0.6; 6]))
        + 0.5 * 2.0 * (x3[n] - 0.1).powi(2)
        + 0.5 / 0.04
            * sq(&positions().iter().map(|&q| bilinear(&g, &x4[..n], q)).collect::<Vec<_>>(), &[0.2, -0.1, 0.3])
        + 0.5 * sq(&xn[..n], &wave(0.1))
        + 0.5 * x0[..n].iter().zip(wave(0.3)).zip(&var).map(|((a, b), v)| (a - b).powi(2) / v).sum::<f64>()
        + 0.5 * 0.3 * dirichlet_form(&g, &dq)
        + 0.5 * (0.05f64 - 0.02).powi(2) / 0.01
        + 0.5 * 0.25 * sq(xn, &full)
        + 0.5 * 3.0 * (xn[n] - 0.5).powi(2)
        + 0.5 * (xn[n] + 0.5).powi(2);
    assert!((j - want).abs() <= 1e-12 * want.abs(), "J = {j}, formula {want}");
    // the smoothness term is not a constant: the parameter's default is rough
    assert!(dirichlet_form(&g, &dq) > 1.0);
}

#[test]
fn gradients_and_hvps_of_every_term_agree_with_finite_differences() {
    let mut p = Problem::new(Toy, all_terms(), Strategy::Binomial { snapshots: 2 }, STEPS, Par::Seq).unwrap();
    let x0 = x0();
    let v_x: Vec<f64> = (0..x0.len()).map(|k| ((k * 7 % 11) as f64 - 5.0) * 0.02).collect();
    let v_p = p.param_direction(&[("kappa", &[0.01]), ("q", &wave(0.02))]).unwrap();
    let c = check(&mut p, &x0, &v_x, &v_p, &[1e-5]).unwrap();
    assert!(c.gradient_error() < 1e-7, "{c}");
    assert!(c.hvp_error() < 1e-6, "{c}");
}

/// Problem::new's error for `loss`, as text.
fn refused<L: Loss + Clone>(loss: L) -> String {
    match Problem::new(Toy, loss, Strategy::StoreAll, STEPS, Par::Seq) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_terms_are_refused_before_any_run() {
    let n = grid().len();
    let cases: Vec<(String, &str)> = vec![
        (refused(Terminal::of("v", vec![0.0; n])), "no state part named `v` (known: u, s)"),
        (refused(Terminal::of("u", vec![0.0; n - 1])), "expected 64 values, got 63"),
        (refused(Terminal::state(vec![0.0; n])), "expected 65 values, got 64"),
        (refused(Terminal::of("s", vec![f64::NAN])), "non-finite"),
        (refused(Terminal::of("u", vec![0.0; n]).weight(-1.0)), "weight -1"),
        (refused(Observations::of("u")), "none given"),
        (refused(Observations::of("u").at(STEPS + 1, vec![0.0; n])), "after step 7, but the run has 6 steps"),
        (refused(Observations::of("u").points(vec![3, 64]).at(1, vec![0.0; 2])), "point 64 is outside"),
        (refused(Observations::of("u").points(vec![]).at(1, vec![])), "no points"),
        (refused(Observations::of("u").points(vec![1, 2]).at(1, vec![0.0; 3])), "expected 2 values, got 3"),
        (refused(Observations::of("s").points(vec![0]).at(1, vec![0.0])), "points of a scalar part"),
        (refused(Observations::of("u").at(1, vec![0.0; n]).sigma(0.0)), "σ = 0 is not positive"),
        (refused(Observations::of("u").positions(vec![[2.5, 0.0, 0.0]]).at(1, vec![0.0])), "position"),
        (refused(Observations::of("u").positions(vec![[0.5, 0.5, 0.0]]).at(1, vec![0.0; 2])), "expected 1 values"),
        (
            refused(Observations::of("u").points(vec![1]).positions(vec![[0.5, 0.5, 0.0]]).at(1, vec![0.0])),
            "one or the other",
        ),
        (refused(Observations::of("s").positions(vec![[0.5, 0.5, 0.0]]).at(1, vec![0.0])), "scalar part"),
        (refused(Background::param("nu", vec![0.0])), "no parameter named `nu` (known: kappa, q)"),
        (refused(Background::param("kappa", vec![0.0; 2])), "expected 1 values, got 2"),
        (refused(Background::param("kappa", vec![0.0]).covariance(Covariance::Smoothness(1.0))), "needs a field"),
        (refused(Background::state("u", vec![0.0; n]).covariance(Covariance::Variances(vec![1.0; 3]))), "variances"),
        (
            refused(Background::state("u", vec![0.0; n]).covariance(Covariance::Variances(vec![0.0; n]))),
            "variance 0 = 0 is not positive",
        ),
        (refused(Background::state("u", vec![0.0; n]).covariance(Covariance::Sigma(f64::NAN))), "σ = NaN"),
        // sums are checked term by term
        (refused(Terminal::of("u", vec![0.0; n]) + Observations::of("w").at(1, vec![0.0])), "`w`"),
        (refused(vec![Terminal::of("u", vec![0.0; n]), Terminal::of("z", vec![0.0])]), "`z`"),
    ];
    for (got, want) in cases {
        assert!(got.contains(want), "{got:?} should say {want:?}");
    }
    // synthetic observations at a point off the grid say so (not "non-finite")
    let noisy = Observations::of("u").points(vec![3, 64]).noisy(&Toy.layout(), &[1], &[x0()], &mut Noise::new(1));
    let e = noisy.unwrap_err().to_string();
    assert!(e.contains("point 64 is outside"), "{e}");
    // and at positions they are the interpolated state plus the noise
    let layout = Toy.layout();
    let at = Observations::of("u").positions(positions()).sigma(0.1);
    let y = at.noisy(&layout, &[1], &[x0()], &mut Noise::new(4)).unwrap();
    let mut noise = Noise::new(4);
    let want: Vec<f64> = positions().iter().map(|&q| bilinear(&grid(), &x0()[..n], q) + 0.1 * noise.normal()).collect();
    assert_eq!(y.data()[0].1, want);
}
