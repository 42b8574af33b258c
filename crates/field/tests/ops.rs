//! Every field operation: dot-product test ⟨J v, w⟩ = ⟨v, Jᵀ w⟩ (forward
//! mode over dual numbers against the tape's reverse sweep), JVP against
//! central differences, and an HVP of a composite objective against a
//! central difference of its gradient.

use rewind_field::{
    Binary, Components, Ctx, Face, Faces, Field, FieldTape, Grid, Par, PoissonFft, Real, Scalar, SparseSpd, Stencil,
    Unary, WithFaces, kernels, par::weight, unfused,
};

/// A nonlinear user kernel with the automatic rule: `tanh(a) · b[i+1, j−1]
/// + a[i−1, j]²`.
#[derive(Clone, Copy)]
struct Skewed(f64);
impl Stencil for Skewed {
    const INPUTS: usize = 2;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, -1, 0], [-1, 0, 0]];
    fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
        l[0].tanh() * l[4] + l[2] * l[2] * self.0
    }
}

/// The same reach with zero values outside the grid.
#[derive(Clone, Copy)]
struct SkewedWalls;
impl Stencil for SkewedWalls {
    const INPUTS: usize = 2;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, -1, 0], [-1, 0, 0]];
    fn faces(&self) -> Faces {
        Faces::ZERO
    }
    fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
        Skewed(0.7).eval(g, l) + l[5].sin()
    }
}

/// A tape with the Dirichlet Laplacian attached for the sparse-solve case.
fn tape_for<T: Components>(g: Grid) -> FieldTape<T> {
    FieldTape::new(g).with_sparse(SparseSpd::dirichlet_laplacian(&g).unwrap()).unwrap()
}
use rewind_tape::Dual;

#[derive(Debug, Clone, Copy)]
enum Case {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    ScaleC,
    AddC,
    ScaleS,
    AddS,
    Axpy,
    AxpyS,
    Combine,
    Map(Unary),
    /// on `a`, which changes sign (abs)
    MapA(Unary),
    /// on `d − 1.5` ∈ [−0.5, 0.5] (asin, acos, tan away from its poles)
    MapC(Unary),
    /// `f(first, second)` of the inputs named by the case
    Map2(Binary),
    Shift,
    Laplacian,
    Ddx,
    Ddy,
    Laplacian0,
    Ddx0,
    Ddy0,
    Divergence,
    Arakawa,
    Upwind,
    SemiLagrangian,
    Mask,
    Poisson,
    SparseSolve,
    Sum,
    Mean,
    Dot,
    Sqnorm,
    SampleMisfit,
    FieldMisfit,
    ScalarArith,
    ScalarFunctions,
    ScalarField,
    FluxDivergence,
    CGrid,
    UserAuto,
    UserWalls,
}

const CASES: &[Case] = &[
    Case::Add,
    Case::Sub,
    Case::Mul,
    Case::Div,
    Case::Neg,
    Case::ScaleC,
    Case::AddC,
    Case::ScaleS,
    Case::AddS,
    Case::Axpy,
    Case::AxpyS,
    Case::Combine,
    Case::Map(Unary::Exp),
    Case::Map(Unary::Ln),
    Case::Map(Unary::Sin),
    Case::Map(Unary::Tanh),
    Case::Map(Unary::Sqrt),
    Case::Map(Unary::Powi(3)),
    Case::Map(Unary::Atan),
    Case::Map(Unary::Recip),
    Case::Map(Unary::Log1p),
    Case::Map(Unary::Expm1),
    Case::Map(Unary::Cbrt),
    Case::Map(Unary::Cos),
    Case::Map(Unary::Sinh),
    Case::Map(Unary::Cosh),
    Case::Map(Unary::Powi(-2)),
    Case::MapA(Unary::Abs),
    Case::MapC(Unary::Tan),
    Case::MapC(Unary::Asin),
    Case::MapC(Unary::Acos),
    Case::Map2(Binary::Powf),
    Case::Map2(Binary::Atan2),
    Case::Map2(Binary::Min),
    Case::Map2(Binary::Max),
    Case::Map2(Binary::Hypot),
    Case::Shift,
    Case::Laplacian,
    Case::Ddx,
    Case::Ddy,
    Case::Laplacian0,
    Case::Ddx0,
    Case::Ddy0,
    Case::Divergence,
    Case::Arakawa,
    Case::Upwind,
    Case::SemiLagrangian,
    Case::Mask,
    Case::Poisson,
    Case::SparseSolve,
    Case::Sum,
    Case::Mean,
    Case::Dot,
    Case::Sqnorm,
    Case::SampleMisfit,
    Case::FieldMisfit,
    Case::ScalarArith,
    Case::ScalarFunctions,
    Case::ScalarField,
    Case::FluxDivergence,
    Case::CGrid,
    Case::UserAuto,
    Case::UserWalls,
];

enum Out<'id, T> {
    F(Field<'id, T>),
    S(Scalar<'id, T>),
}

const OBS: [usize; 5] = [0, 7, 33, 64, 101];
const OBS_DATA: [f64; 5] = [0.3, -0.2, 1.1, 0.0, 0.5];

fn apply<'id, T: Components>(
    case: Case,
    c: &'id Ctx<'id, T>,
    a: Field<'id, T>,
    b: Field<'id, T>,
    d: Field<'id, T>,
    s: Scalar<'id, T>,
) -> Out<'id, T> {
    let mask: Vec<f64> = (0..c.grid().len()).map(|k| if k % 3 == 0 { 0.0 } else { 0.5 + (k % 5) as f64 }).collect();
    match case {
        Case::Add => Out::F(a + b),
        Case::Sub => Out::F(a - b),
        Case::Mul => Out::F(a * b),
        Case::Div => Out::F(a / d),
        Case::Neg => Out::F(-a),
        Case::ScaleC => Out::F(a * 1.7),
        Case::AddC => Out::F(a + 0.3),
        Case::ScaleS => Out::F(a * s),
        Case::AddS => Out::F(a + s),
        Case::Axpy => Out::F(a * -0.7 + b),
        Case::AxpyS => Out::F(a * s + b),
        // a field and the scalar twice: their adjoints accumulate
        Case::Combine => Out::F(a * 0.4 + b * s + a * (-1.3) + d * s),
        Case::Map(u) => Out::F(d.map(u)),
        Case::MapA(u) => Out::F(a.map(u)),
        Case::MapC(u) => Out::F((d - 1.5).map(u)),
        // powf needs a positive base: d; the others take a (signed) and b
        Case::Map2(Binary::Powf) => Out::F(d.map2(b, Binary::Powf)),
        Case::Map2(f) => Out::F(a.map2(b, f)),
        Case::Shift => Out::F(a.shift(2, -3)),
        Case::Laplacian => Out::F(a.laplacian()),
        Case::Ddx => Out::F(a.ddx()),
        Case::Ddy => Out::F(a.ddy()),
        Case::Laplacian0 => Out::F(a.laplacian0()),
        Case::Ddx0 => Out::F(a.ddx0()),
        Case::Ddy0 => Out::F(a.ddy0()),
        Case::Divergence => Out::F(a.divergence(b)),
        Case::Arakawa => Out::F(a.arakawa(b).unwrap()),
        Case::Upwind => Out::F(d.upwind(a, b).unwrap()),
        Case::SemiLagrangian => Out::F(d.semi_lagrangian(a, b, 0.3).unwrap()),
        Case::Mask => Out::F(a.mask(&mask).unwrap()),
        Case::Poisson => Out::F(a.poisson()),
        Case::SparseSolve => Out::F(a.solve_sparse().unwrap()),
        Case::Sum => Out::S(a.sum()),
        Case::Mean => Out::S(a.mean()),
        Case::Dot => Out::S(a.dot(b)),
        Case::Sqnorm => Out::S(a.sqnorm()),
        Case::SampleMisfit => Out::S(a.sample(&OBS).unwrap().misfit(&OBS_DATA).unwrap()),
        Case::FieldMisfit => Out::S(a.misfit(&mask).unwrap()),
        Case::ScalarArith => Out::S((a.sum() * s + b.dot(d)) * 0.5),
        // every scalar operator, f64 on either side
        Case::ScalarFunctions => {
            let m = d.mean();
            let t = (s - m) / (m + 1.0) - 2.0 / s + (3.0 - s) * 0.25 + m.ln().exp() * s.sqrt() - s.powi(3) / 4.0;
            Out::S(-(t / m) + 1.0)
        }
        Case::ScalarField => Out::F(s * a - s + (2.0 - b) / s + 1.0 + s + (a / 3.0)),
        Case::FluxDivergence => Out::F(a.flux_divergence(d)),
        Case::CGrid => Out::F(
            a.dx_plus() * b.avg_x_plus() + a.dy_minus().avg_y_plus() + b.dx_minus().avg_x_minus() * b.dy_plus()
                - a.avg_y_minus(),
        ),
        Case::UserAuto => Out::F(c.apply(Skewed(0.3), &[a, b]).unwrap()),
        Case::UserWalls => Out::F(c.apply(SkewedWalls, &[b, a]).unwrap()),
    }
}

struct Inputs {
    a: Vec<f64>,
    b: Vec<f64>,
    d: Vec<f64>,
    s: f64,
}

fn inputs(g: &Grid, seed: f64) -> Inputs {
    // the offsets keep sums and means away from zero
    Inputs {
        a: g.sample(|x, y| (x + seed).sin() * (2.0 * y).cos() + 0.3 * (3.0 * x - y + seed).cos() + 0.2),
        b: g.sample(|x, y| 0.8 * (x - 2.0 * y + seed).cos() + 0.2 * (x * y * 0.1).sin() - 0.1),
        d: g.sample(|x, y| 1.5 + 0.5 * (x + seed).cos() * y.sin()), // positive (ln, sqrt, division)
        s: 0.9 + seed,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Output value and tangent of `case` at `x` along `v`, by forward mode.
fn jvp(case: Case, g: Grid, x: &Inputs, v: &Inputs) -> (Vec<f64>, Vec<f64>) {
    let dual = |p: &[f64], q: &[f64]| -> Vec<Dual<f64>> { p.iter().zip(q).map(|(&a, &b)| Dual::new(a, b)).collect() };
    let mut tape = tape_for::<Dual<f64>>(g);
    tape.eval(Par::Seq, |c| {
        let a = c.input(&dual(&x.a, &v.a)).unwrap();
        let b = c.input(&dual(&x.b, &v.b)).unwrap();
        let d = c.input(&dual(&x.d, &v.d)).unwrap();
        let s = c.scalar(Dual::new(x.s, v.s));
        match apply(case, c, a, b, d, s) {
            Out::F(f) => (f.value().iter().map(|z| z.re).collect(), f.value().iter().map(|z| z.eps).collect()),
            Out::S(s) => (vec![s.value().re], vec![s.value().eps]),
        }
    })
}

/// The primal output of `case` at `x`.
fn primal(case: Case, g: Grid, x: &Inputs) -> Vec<f64> {
    let mut tape = tape_for::<f64>(g);
    tape.eval(Par::Seq, |c| {
        let (a, b, d) = (c.input(&x.a).unwrap(), c.input(&x.b).unwrap(), c.input(&x.d).unwrap());
        match apply(case, c, a, b, d, c.scalar(x.s)) {
            Out::F(f) => f.value().to_vec(),
            Out::S(s) => vec![s.value()],
        }
    })
}

/// `Jᵀw` for each input, by the tape's reverse sweep.
fn vjp(case: Case, g: Grid, x: &Inputs, w: &[f64]) -> Inputs {
    let mut tape = tape_for::<f64>(g);
    tape.record(Par::Seq, |c| {
        let (a, b, d) = (c.input(&x.a).unwrap(), c.input(&x.b).unwrap(), c.input(&x.d).unwrap());
        let s = c.scalar(x.s);
        let adj = match apply(case, c, a, b, d, s) {
            Out::F(f) => c.backward(&[(f, w)], &[]).unwrap(),
            Out::S(y) => c.backward(&[], &[(y, w[0])]).unwrap(),
        };
        Inputs { a: adj.field(a).to_vec(), b: adj.field(b).to_vec(), d: adj.field(d).to_vec(), s: adj.scalar(s) }
    })
}

fn check_case(case: Case, g: Grid) {
    let x = inputs(&g, 0.1);
    let v = inputs(&g, 1.3);
    let (y, jv) = jvp(case, g, &x, &v);
    let w: Vec<f64> = (0..y.len()).map(|k| ((k * 7 % 11) as f64 - 5.0) / 5.0).collect();
    let jtw = vjp(case, g, &x, &w);
    let lhs = dot(&jv, &w);
    let rhs = dot(&v.a, &jtw.a) + dot(&v.b, &jtw.b) + dot(&v.d, &jtw.d) + v.s * jtw.s;
    let scale = dot(&jv.iter().map(|z| z.abs()).collect::<Vec<_>>(), &w.iter().map(|z| z.abs()).collect::<Vec<_>>());
    assert!((lhs - rhs).abs() <= 1e-12 * scale.max(1e-300), "{case:?}: <Jv, w> = {lhs}, <v, J^T w> = {rhs}");
    assert!(lhs.abs() > 1e-8 * scale, "{case:?}: degenerate test, <Jv, w> = {lhs}");
    // the primal value of the dual run equals the f64 run
    assert_eq!(y, primal(case, g, &x), "{case:?}");
    // JVP against central differences
    let h = 1e-6;
    let shifted = |sign: f64| Inputs {
        a: x.a.iter().zip(&v.a).map(|(p, q)| p + sign * h * q).collect(),
        b: x.b.iter().zip(&v.b).map(|(p, q)| p + sign * h * q).collect(),
        d: x.d.iter().zip(&v.d).map(|(p, q)| p + sign * h * q).collect(),
        s: x.s + sign * h * v.s,
    };
    let (yp, ym) = (primal(case, g, &shifted(1.0)), primal(case, g, &shifted(-1.0)));
    let err = jv.iter().zip(yp.iter().zip(&ym)).map(|(t, (p, m))| (t - (p - m) / (2.0 * h)).abs()).fold(0.0, f64::max);
    let size = jv.iter().map(|t| t.abs()).fold(0.0, f64::max);
    assert!(err <= 1e-6 * size.max(1.0), "{case:?}: JVP vs FD error {err} (size {size})");
}

#[test]
fn every_operation_passes_the_dot_product_and_fd_tests_2d() {
    let g = Grid::periodic_square(12, 2.0 * std::f64::consts::PI).unwrap();
    for &case in CASES {
        check_case(case, g);
    }
}

#[test]
fn every_operation_passes_on_a_rectangular_grid_and_in_1d() {
    let rect = Grid::new(16, 10, 0.4, 0.6).unwrap();
    let line = Grid::line(120, 10.0).unwrap();
    for &case in CASES {
        if !matches!(case, Case::Arakawa) {
            check_case(case, rect);
        }
        if !matches!(
            case,
            Case::Arakawa | Case::Upwind | Case::SemiLagrangian | Case::Ddy | Case::Ddy0 | Case::Divergence
        ) {
            check_case(case, line);
        }
    }
    // the Arakawa Jacobian refuses a non-square grid
    let mut tape = FieldTape::<f64>::new(rect);
    tape.eval(Par::Seq, |c| {
        let a = c.input(&vec![0.0; rect.len()]).unwrap();
        assert!(a.arakawa(a).is_err());
    });
}

/// A composite objective using most operations, written once.
fn composite<'id, T: Components>(c: &'id Ctx<'id, T>, w: Field<'id, T>, nu: Scalar<'id, T>) -> Scalar<'id, T> {
    let psi = w.poisson();
    let adv = psi.arakawa(w).unwrap();
    // a background flow keeps the velocity away from 0, where upwinding
    // and the departure cell of the interpolation switch (kinks that a
    // finite difference of the gradient would straddle)
    let (u, v) = (psi.ddy() + 2.0, -psi.ddx() + 1.5);
    let up = w.upwind(u, v).unwrap();
    let sl = w.semi_lagrangian(u, v, 0.05).unwrap();
    let diff = w.laplacian();
    // a user kernel: its forward pass and its gather go by rows on threads
    let user = c.apply(Skewed(0.1), &[w, u]).unwrap();
    let rhs = adv + diff * nu - up + user * 0.1;
    let next = (rhs * 0.1 + sl).map(Unary::Tanh);
    let obs = next.sample(&[3, 40, 77, 120]).unwrap().misfit(&[0.1, -0.2, 0.3, 0.0]).unwrap();
    next.sqnorm() * 0.5 + obs + (next * w).mean()
}

#[test]
fn hvp_of_a_composite_objective_matches_fd_of_its_gradient() {
    let g = Grid::periodic_square(16, 2.0 * std::f64::consts::PI).unwrap();
    let w0 = g.sample(|x, y| x.cos() * (2.0 * y).sin() + 0.5 * (x + y).sin());
    let v = g.sample(|x, y| (x - y).sin());
    let grad = |w: &[f64]| -> Vec<f64> {
        let mut t = FieldTape::<f64>::new(g);
        t.record(Par::Seq, |c| {
            let wf = c.input(w).unwrap();
            let j = composite(c, wf, c.scalar(0.01));
            c.gradient(j).unwrap().field(wf).to_vec()
        })
    };
    let mut t2 = FieldTape::<Dual<f64>>::new(g);
    let (g_dual, hv) = t2.record(Par::Seq, |c| {
        let wd: Vec<Dual<f64>> = w0.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let wf = c.input(&wd).unwrap();
        let j = composite(c, wf, c.scalar(Dual::constant(0.01)));
        let adj = c.gradient(j).unwrap();
        let a = adj.field(wf);
        (a.iter().map(|z| z.re).collect::<Vec<_>>(), a.iter().map(|z| z.eps).collect::<Vec<_>>())
    });
    let g0 = grad(&w0);
    for (a, b) in g0.iter().zip(&g_dual) {
        assert!((a - b).abs() <= 1e-13 * (1.0 + a.abs()));
    }
    let h = 1e-5;
    let gp = grad(&w0.iter().zip(&v).map(|(a, b)| a + h * b).collect::<Vec<_>>());
    let gm = grad(&w0.iter().zip(&v).map(|(a, b)| a - h * b).collect::<Vec<_>>());
    let size = hv.iter().map(|z| z.abs()).fold(0.0, f64::max);
    for k in 0..g.len() {
        let fd = (gp[k] - gm[k]) / (2.0 * h);
        assert!((hv[k] - fd).abs() <= 1e-6 * size, "k = {k}: {} vs {fd}", hv[k]);
    }
    assert!(size > 1e-3);
}

/// A second composite objective: the operations the first one leaves out
/// (sparse solve, wall stencils, shifts, masks, division, the fused update
/// with a taped scalar, divergence, more elementwise functions, sum and dot
/// of two fields), differentiable in the field `w` and the scalar `s`.
fn composite2<'id, T: Components>(c: &'id Ctx<'id, T>, w: Field<'id, T>, s: Scalar<'id, T>) -> Scalar<'id, T> {
    let n = c.grid().len();
    let mask: Vec<f64> = (0..n).map(|k| if k % 4 == 1 { 0.0 } else { 1.0 + (k % 3) as f64 * 0.5 }).collect();
    let p = w.solve_sparse().unwrap();
    let q = p.laplacian0() + w.ddx0() * w.ddy0();
    let r = (q * s + w.shift(1, -2)) / (w.map(Unary::Cosh) + 1.0);
    let m = r.mask(&mask).unwrap().map(Unary::Sin) + w.divergence(p);
    let e = (w * 0.3).map(Unary::Expm1)
        + w.map(Unary::Sinh) * 0.1
        + (w * w + 1.0).map(Unary::Sqrt)
        + (w * w + 1.0).map2(p, Binary::Powf) * 0.1
        + w.map2(p + 0.5, Binary::Hypot) * 0.2
        + w.map2(p + 2.0, Binary::Atan2);
    m.dot(e) + m.sum() * s + r.sqnorm() * 0.1 + e.map(Unary::Atan).mean() * s * s
}

#[test]
fn hvp_of_a_second_composite_matches_fd_of_its_gradient() {
    let g = Grid::periodic_square(12, 2.0 * std::f64::consts::PI).unwrap();
    let w0 = g.sample(|x, y| 0.7 * x.sin() * (2.0 * y).cos() + 0.4 * (x - y).cos() + 0.1);
    let v = g.sample(|x, y| (x + 2.0 * y).sin() - 0.3 * (3.0 * x).cos());
    let (s0, vs) = (0.8, -0.6);
    // (∇_w J, ∂J/∂s)
    let grad = |w: &[f64], s: f64| -> (Vec<f64>, f64) {
        let mut t = tape_for::<f64>(g);
        t.record(Par::Seq, |c| {
            let (wf, sf) = (c.input(w).unwrap(), c.scalar(s));
            let adj = c.gradient(composite2(c, wf, sf)).unwrap();
            (adj.field(wf).to_vec(), adj.scalar(sf))
        })
    };
    // forward-over-reverse along (v, vs)
    let mut t2 = tape_for::<Dual<f64>>(g);
    let (gw, hv, hs) = t2.record(Par::Seq, |c| {
        let wd: Vec<Dual<f64>> = w0.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let (wf, sf) = (c.input(&wd).unwrap(), c.scalar(Dual::new(s0, vs)));
        let adj = c.gradient(composite2(c, wf, sf)).unwrap();
        let a = adj.field(wf);
        (a.iter().map(|z| z.re).collect::<Vec<_>>(), a.iter().map(|z| z.eps).collect::<Vec<_>>(), adj.scalar(sf).eps)
    });
    let (g0, _) = grad(&w0, s0);
    for (a, b) in g0.iter().zip(&gw) {
        assert!((a - b).abs() <= 1e-13 * (1.0 + a.abs()));
    }
    let h = 1e-5;
    let shifted =
        |sign: f64| grad(&w0.iter().zip(&v).map(|(a, b)| a + sign * h * b).collect::<Vec<_>>(), s0 + sign * h * vs);
    let ((gp, sp), (gm, sm)) = (shifted(1.0), shifted(-1.0));
    let size = hv.iter().map(|z| z.abs()).fold(hs.abs(), f64::max);
    assert!(size > 1e-3, "degenerate test");
    for k in 0..g.len() {
        let fd = (gp[k] - gm[k]) / (2.0 * h);
        assert!((hv[k] - fd).abs() <= 1e-6 * size, "k = {k}: {} vs {fd}", hv[k]);
    }
    let fd_s = (sp - sm) / (2.0 * h);
    assert!((hs - fd_s).abs() <= 1e-6 * size, "s row: {hs} vs {fd_s}");
    // symmetry: ⟨u, H v⟩ = ⟨v, H u⟩ for a second direction u (w part only)
    let u = g.sample(|x, y| (2.0 * x - y).cos());
    let hvp_w = |dir: &[f64]| -> Vec<f64> {
        let mut t = tape_for::<Dual<f64>>(g);
        t.record(Par::Seq, |c| {
            let wd: Vec<Dual<f64>> = w0.iter().zip(dir).map(|(&a, &b)| Dual::new(a, b)).collect();
            let (wf, sf) = (c.input(&wd).unwrap(), c.scalar(Dual::constant(s0)));
            let adj = c.gradient(composite2(c, wf, sf)).unwrap();
            adj.field(wf).iter().map(|z| z.eps).collect()
        })
    };
    let (hu, hv_only) = (hvp_w(&u), hvp_w(&v));
    let (a, b) = (dot(&v, &hu), dot(&u, &hv_only));
    assert!((a - b).abs() <= 1e-11 * a.abs().max(b.abs()), "⟨v, Hu⟩ = {a}, ⟨u, Hv⟩ = {b}");
}

#[test]
fn poisson_solves_the_discrete_problem_exactly() {
    // even and odd lengths (the real transforms differ), partial column tiles
    let grids = [
        Grid::periodic_square(32, 2.0 * std::f64::consts::PI).unwrap(),
        Grid::new(12, 20, 0.3, 0.2).unwrap(),
        Grid::new(9, 15, 0.3, 0.2).unwrap(),
        Grid::new(21, 6, 0.25, 0.4).unwrap(),
    ];
    for g in grids {
        let p = PoissonFft::new(g);
        let w = g.sample(|x, y| (x + 0.3).sin() * (2.0 * y).cos() + 0.7 + 0.1 * x);
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        let mut psi = vec![0.0; g.len()];
        let mut work = p.work();
        p.solve(&w, &mut psi, &mut work, Par::Seq).unwrap();
        let lap = FieldTape::<f64>::new(g).eval(Par::Seq, |c| c.input(&psi).unwrap().laplacian().value().to_vec());
        let scale = w.iter().map(|a| a.abs()).fold(0.0, f64::max);
        for k in 0..g.len() {
            assert!((lap[k] + (w[k] - mean)).abs() < 1e-12 * scale, "{g:?} k = {k}");
        }
        assert!(psi.iter().sum::<f64>().abs() < 1e-10, "zero mean");
    }
}

#[test]
fn sparse_dirichlet_solve_inverts_the_stencil() {
    let g = Grid::new(9, 13, 0.25, 0.2).unwrap();
    let s = SparseSpd::dirichlet_laplacian(&g).unwrap();
    let b = g.sample(|x, y| (3.0 * x).sin() + y * y - 0.4);
    let mut x = vec![0.0; g.len()];
    s.solve(&b, &mut x).unwrap();
    // −(x[i+1] + x[i−1] − 2x)/dx² − (…)/dy² = b with zeros outside
    let at = |i: isize, j: isize| g.inside(i, j).map_or(0.0, |k| x[k]);
    for i in 0..g.nx as isize {
        for j in 0..g.ny as isize {
            let lap = (at(i + 1, j) + at(i - 1, j) - 2.0 * at(i, j)) / (g.dx * g.dx)
                + (at(i, j + 1) + at(i, j - 1) - 2.0 * at(i, j)) / (g.dy * g.dy);
            let k = g.idx(i as usize, j as usize);
            assert!((-lap - b[k]).abs() < 1e-11, "({i}, {j}): {} vs {}", -lap, b[k]);
        }
    }
    // the zero-boundary Laplacian stencil is the same operator, negated
    let lap0 = FieldTape::<f64>::new(g).eval(Par::Seq, |c| c.input(&x).unwrap().laplacian0().value().to_vec());
    for k in 0..g.len() {
        assert!((lap0[k] + b[k]).abs() < 1e-11, "k = {k}");
    }
    // a non-SPD matrix is refused with an error, as is a tape without one
    assert!(SparseSpd::new(2, &[(0, 0, 1.0), (1, 1, -1.0)]).is_err());
    assert!(SparseSpd::new(2, &[(0, 3, 1.0)]).is_err());
    let mut tape = FieldTape::<f64>::new(g);
    tape.eval(Par::Seq, |c| assert!(c.input(&b).unwrap().solve_sparse().is_err()));
}

#[test]
fn arakawa_conserves_energy_and_enstrophy() {
    let g = Grid::periodic_square(24, 2.0 * std::f64::consts::PI).unwrap();
    let p = g.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.3 * (x + 3.0 * y).cos());
    let q = g.sample(|x, y| (2.0 * x).cos() * y.sin() - 0.2 * (3.0 * x - y).sin());
    let mut j = vec![0.0; g.len()];
    kernels::arakawa(&g, &p, &q, &mut j, Par::Seq);
    let scale = j.iter().map(|a| a.abs()).sum::<f64>();
    assert!(dot(&p, &j).abs() < 1e-13 * scale && dot(&q, &j).abs() < 1e-13 * scale);
    assert!(j.iter().sum::<f64>().abs() < 1e-13 * scale);
    // and it approximates p_x q_y − p_y q_x
    let g2 = Grid::periodic_square(128, 2.0 * std::f64::consts::PI).unwrap();
    let p = g2.sample(|x, y| x.sin() * y.sin());
    let q = g2.sample(|x, y| (x + y).cos());
    let mut j = vec![0.0; g2.len()];
    kernels::arakawa(&g2, &p, &q, &mut j, Par::Seq);
    let exact = g2.sample(|x, y| -x.cos() * y.sin() * (x + y).sin() + x.sin() * y.cos() * (x + y).sin());
    let err = j.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 2e-3, "{err}");
}

#[test]
fn kernels_overwrite_every_point_the_same_on_threads() {
    let g = Grid::new(70, 90, 0.3, 0.3).unwrap();
    let (p, q) = (g.sample(|x, y| (x + 2.0 * y).sin()), g.sample(|x, y| (x * y).cos() + x));
    type Kernel = fn(&Grid, &[f64], &[f64], &mut [f64], Par);
    let kernels: [(&str, Kernel); 2] = [
        ("arakawa", |g, a, b, o, par| kernels::arakawa(g, a, b, o, par)),
        ("shift", |g, a, _, o, par| kernels::shift(g, a, 2, -3, o, par)),
    ];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (name, k) in kernels {
        let mut f = vec![f64::NAN; g.len()];
        k(&g, &p, &q, &mut f, Par::Seq);
        assert!(f.iter().all(|x| x.is_finite()), "{name} overwrites every point");
        let mut t = vec![f64::NAN; g.len()];
        pool.install(|| k(&g, &p, &q, &mut t, Par::Pool));
        assert!(f.iter().zip(&t).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} on threads");
    }
}

#[test]
fn results_are_bit_identical_for_any_thread_count() {
    // 512² and 256²: every kernel goes parallel there (see
    // rewind_field::par::PAR_WORK); at 128² the f64 elementwise ones do not
    let big = Grid::periodic_square(512, 2.0 * std::f64::consts::PI).unwrap();
    let g = Grid::periodic_square(256, 2.0 * std::f64::consts::PI).unwrap();
    let (w0_big, w0) = (
        big.sample(|x, y| x.cos() * (2.0 * y).sin() + 0.5 * (x + y).sin()),
        g.sample(|x, y| x.cos() * (2.0 * y).sin() + 0.5 * (x + y).sin()),
    );
    let run = |par: Par| -> (f64, Vec<f64>) {
        let (g, w0) = (big, &w0_big);
        let mut t = FieldTape::<f64>::new(g);
        t.record(par, |c| {
            let wf = c.input(w0).unwrap();
            let j = composite(c, wf, c.scalar(0.01));
            (j.value(), c.gradient(j).unwrap().field(wf).to_vec())
        })
    };
    // the second composite: sparse solves, wall stencils, masks, shifts
    let run2 = |par: Par| -> (f64, Vec<f64>) {
        let mut t = tape_for::<f64>(g);
        t.record(par, |c| {
            let wf = c.input(&w0).unwrap();
            let j = composite2(c, wf, c.scalar(0.8));
            (j.value(), c.gradient(j).unwrap().field(wf).to_vec())
        })
    };
    // forward-over-reverse at 256², where the dual-number passes go parallel:
    // the value, then the gradient and the HVP parts of the adjoint
    let run_dual = |par: Par| -> (f64, Vec<f64>) {
        let mut t = FieldTape::<Dual<f64>>::new(g);
        let wd: Vec<Dual<f64>> = w0.iter().map(|&a| Dual::new(a, (3.0 * a).sin())).collect();
        t.record(par, |c| {
            let wf = c.input(&wd).unwrap();
            let j = composite(c, wf, c.scalar(Dual::constant(0.01)));
            let adj = c.gradient(j).unwrap();
            (j.value().re, adj.field(wf).iter().flat_map(|z| [z.re, z.eps]).collect())
        })
    };
    let (seq, seq2, seq3) = (run(Par::Seq), run2(Par::Seq), run_dual(Par::Seq));
    // every operation materialised on its own: the same bits as fused
    let same = |a: &(f64, Vec<f64>), b: &(f64, Vec<f64>)| {
        a.0.to_bits() == b.0.to_bits() && a.1.iter().zip(&b.1).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    assert!(same(&unfused(|| run(Par::Seq)), &seq), "composite, unfused");
    assert!(same(&unfused(|| run2(Par::Seq)), &seq2), "second composite, unfused");
    assert!(same(&unfused(|| run_dual(Par::Seq)), &seq3), "dual composite, unfused");
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        // the paths these runs take: parallel from two threads on
        let goes_parallel = pool.install(|| {
            [
                Par::Pool.parallel::<f64>(big.len(), weight::ELEMENTWISE),
                Par::Pool.parallel::<Dual<f64>>(g.len(), weight::ELEMENTWISE),
                Par::Pool.parallel::<f64>(g.len(), weight::FFT),
                Par::Pool.parallel::<f64>(g.len(), weight::HEAVY),
            ]
        });
        let team = threads > 1 && rewind_team::workers() > 0;
        assert!(goes_parallel.iter().all(|&p| p == team), "{threads} threads: {goes_parallel:?}");
        // and the loops were handed to the team (only this test of the file
        // uses threads, so the team is free)
        let shared = |f: &(dyn Fn(Par) -> (f64, Vec<f64>) + Sync)| {
            pool.install(|| {
                let before = rewind_team::shared_loops();
                let r = f(Par::Pool);
                (r, rewind_team::shared_loops() - before)
            })
        };
        let runs = [(shared(&run), &seq), (shared(&run2), &seq2), (shared(&run_dual), &seq3)];
        for ((par, loops), seq) in runs {
            assert_eq!(loops > 0, team, "{threads} threads: {loops} loops shared with the team");
            assert_eq!(par.0.to_bits(), seq.0.to_bits(), "{threads} threads");
            assert!(par.1.iter().zip(&seq.1).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads");
        }
        // a thread count given as such, outside any rayon pool: the same
        // bits, and the loops go to the team from two threads on
        let before = rewind_team::shared_loops();
        let counted = [run(Par::Threads(threads)), run2(Par::Threads(threads)), run_dual(Par::Threads(threads))];
        let loops = rewind_team::shared_loops() - before;
        assert_eq!(loops > 0, team, "Par::Threads({threads}): {loops} loops shared with the team");
        for (par, seq) in counted.iter().zip([&seq, &seq2, &seq3]) {
            assert!(same(par, seq), "Par::Threads({threads})");
        }
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let g = Grid::periodic_square(8, 1.0).unwrap();
    let mut tape = FieldTape::<f64>::new(g);
    tape.record(Par::Seq, |c| {
        assert!(c.input(&[1.0, 2.0]).is_err());
        let a = c.input(&vec![1.0; 64]).unwrap();
        assert!(a.sample(&[64]).is_err());
        assert!(a.mask(&[1.0]).is_err());
        assert!(a.sample(&[1, 2]).unwrap().misfit(&[1.0]).is_err());
    });
    tape.eval(Par::Seq, |c| {
        let a = c.input(&vec![1.0; 64]).unwrap();
        assert!(c.gradient(a.sum()).is_err(), "no sweep without recording");
    });
    assert!(Grid::new(0, 4, 1.0, 1.0).is_err() && Grid::new(4, 4, -1.0, 1.0).is_err());
}

#[test]
fn powf_with_a_constant_exponent_differentiates_at_a_negative_base() {
    let g = Grid::line(4, 4.0).unwrap();
    let a = [-3.0, -1.5, 1.5, 3.0];
    let exact = [-6.0, -3.0, 3.0, 6.0]; // d(a²)/da
    // reverse mode: the adjoint of the base
    let mut tape = FieldTape::<f64>::new(g);
    let adj = tape.record(Par::Seq, |c| {
        let x = c.input(&a).unwrap();
        let two = c.input(&[2.0; 4]).unwrap();
        let y = x.map2(two, Binary::Powf);
        c.backward(&[(y, &[1.0; 4][..])], &[]).unwrap().field(x).to_vec()
    });
    assert_eq!(adj, exact);
    // forward mode: the tangent, with the exponent a constant field
    let mut tape = FieldTape::<Dual<f64>>::new(g);
    let tangent = tape.eval(Par::Seq, |c| {
        let x = c.input(&a.map(|v| Dual::new(v, 1.0))).unwrap();
        let two = c.input(&[Dual::constant(2.0); 4]).unwrap();
        x.map2(two, Binary::Powf).value().iter().map(|z| z.eps).collect::<Vec<_>>()
    });
    assert_eq!(tangent, exact);
}

#[test]
fn hand_written_partials_agree_with_forward_mode_and_pass_the_dot_product_test() {
    use rewind_field::stencil::check_stencil;
    use rewind_field::stencils::*;
    let (p, z, m) = ([Face::Periodic; 2], [Face::Zero; 2], [Face::Mirror; 2]);
    let (x_walls, y_walls) = (Faces::new(z, p, p).unwrap(), Faces::new(p, z, p).unwrap());
    for g in [Grid::new(9, 7, 0.3, 0.5).unwrap(), Grid::line(11, 2.0).unwrap()] {
        // (a line has no y to mirror across: one point, no image)
        let y = if g.ny > 1 { m } else { p };
        let (mirrors, mixed) = (Faces::new(m, y, p).unwrap(), Faces::new([Face::Mirror, Face::Zero], y, p).unwrap());
        let x = inputs(&g, 0.4);
        let (one, two) = ([&x.a[..]], [&x.d[..], &x.b[..]]);
        let checks = [
            ("flux divergence", check_stencil(FluxDivergence, g, &two, 1).unwrap()),
            ("dx+", check_stencil(DxPlus, g, &one, 2).unwrap()),
            ("dx-", check_stencil(DxMinus, g, &one, 3).unwrap()),
            ("dy+", check_stencil(DyPlus, g, &one, 4).unwrap()),
            ("dy-", check_stencil(DyMinus, g, &one, 5).unwrap()),
            ("avg x+", check_stencil(AvgXPlus, g, &one, 6).unwrap()),
            ("avg x-", check_stencil(AvgXMinus, g, &one, 7).unwrap()),
            ("avg y+", check_stencil(AvgYPlus, g, &one, 8).unwrap()),
            ("avg y-", check_stencil(AvgYMinus, g, &one, 9).unwrap()),
            ("automatic", check_stencil(Skewed(0.3), g, &two, 10).unwrap()),
            ("automatic, walls", check_stencil(SkewedWalls, g, &two, 11).unwrap()),
            (
                "automatic, walls along x only",
                check_stencil(WithFaces::new(Skewed(0.3), x_walls), g, &two, 12).unwrap(),
            ),
            (
                "automatic, walls along y only",
                check_stencil(WithFaces::new(Skewed(0.3), y_walls), g, &two, 13).unwrap(),
            ),
            ("automatic, mirrors", check_stencil(WithFaces::new(Skewed(0.3), mirrors), g, &two, 14).unwrap()),
            ("automatic, mirror and wall", check_stencil(WithFaces::new(Skewed(0.3), mixed), g, &two, 15).unwrap()),
            ("dx+, mirrors", check_stencil(WithFaces::new(DxPlus, mirrors), g, &one, 16).unwrap()),
            ("avg y-, mirror and wall", check_stencil(WithFaces::new(AvgYMinus, mixed), g, &one, 17).unwrap()),
            ("laplacian, mirrors", check_stencil(WithFaces::new(Laplacian, mirrors), g, &one, 18).unwrap()),
        ];
        for (name, c) in checks {
            assert!(c.passes(1e-12), "{name} on {g:?}: {c:?}");
        }
    }
    // a wrong closed form is caught by both measures
    #[derive(Clone, Copy)]
    struct Wrong;
    impl Stencil for Wrong {
        const INPUTS: usize = 1;
        const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0]];
        fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
            l[0] * l[1]
        }
        fn partial<R: Real>(&self, _: &Grid, l: &[R], _: usize) -> R {
            l[1] // right for i = 0 only: ∂/∂l[1] is l[0]
        }
    }
    let g = Grid::periodic_square(6, 1.0).unwrap();
    let x = inputs(&g, 0.2);
    let c = rewind_field::stencil::check_stencil(Wrong, g, &[&x.a], 1).unwrap();
    assert!(c.partial > 1e-3 && c.dot_product > 1e-3, "{c:?}");
    // and so is a stencil that claims to be linear but is not (its value
    // and VJP would both be the linear form of its partials at zero
    // inputs — consistent with each other, so the dot-product test cannot
    // see it; the partials at the points and the value can)
    #[derive(Clone, Copy)]
    struct NotLinear;
    impl Stencil for NotLinear {
        const INPUTS: usize = 1;
        const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0]];
        const LINEAR: bool = true;
        fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
            l[0] * l[1]
        }
        fn partial<R: Real>(&self, _: &Grid, l: &[R], i: usize) -> R {
            l[1 - i]
        }
    }
    let c = rewind_field::stencil::check_stencil(NotLinear, g, &[&x.a], 1).unwrap();
    assert!(c.partial > 1e-3 && !c.passes(1e-3), "{c:?}");
}

#[test]
fn flux_divergence_with_unit_coefficient_is_the_laplacian_and_cgrid_differences_conserve() {
    let g = Grid::new(10, 8, 0.4, 0.3).unwrap();
    let x = inputs(&g, 0.7);
    let mut tape = FieldTape::<f64>::new(g);
    tape.eval(Par::Seq, |c| {
        let (a, one) = (c.input(&x.a).unwrap(), c.input(&vec![1.0; g.len()]).unwrap());
        let (fd, lap) = (a.flux_divergence(one), a.laplacian());
        for (p, q) in fd.value().iter().zip(lap.value()) {
            assert!((p - q).abs() <= 1e-12 * q.abs().max(1.0), "{p} vs {q}");
        }
        // the flux form sums to zero (mass conservation) to round-off, for
        // any κ, and so do the backward differences of face fluxes
        let kappa = c.input(&x.d).unwrap();
        let scale: f64 = x.a.iter().map(|v| v.abs()).sum::<f64>() / (g.dx * g.dx);
        for total in [a.flux_divergence(kappa).sum(), a.dx_minus().sum(), (a * kappa).dy_minus().sum()] {
            assert!(total.value().abs() <= 1e-13 * scale, "{}", total.value());
        }
    });
}

#[test]
fn user_operations_refuse_what_does_not_fit() {
    #[derive(Clone, Copy)]
    struct Far;
    impl Stencil for Far {
        const INPUTS: usize = 1;
        const OFFSETS: &'static [[isize; 3]] = &[[0, 9, 0]];
        fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
            l[0]
        }
    }
    #[derive(Clone, Copy)]
    struct Wide;
    impl Stencil for Wide {
        const INPUTS: usize = 7;
        const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]];
        fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
            l[0]
        }
    }
    let g = Grid::periodic_square(8, 1.0).unwrap();
    let mut tape = FieldTape::<f64>::new(g);
    tape.eval(Par::Seq, |c| {
        let a = c.input(&vec![1.0; g.len()]).unwrap();
        assert!(matches!(
            c.apply(Skewed(1.0), &[a]),
            Err(rewind_field::FieldError::Length { expected: 2, got: 1, .. })
        ));
        assert!(matches!(c.apply(Far, &[a]), Err(rewind_field::FieldError::StencilReach { dj: 9, .. })));
        assert!(matches!(c.apply(Wide, &[a; 7]), Err(rewind_field::FieldError::StencilSize { local: 35, .. })));
    });
}
