//! Fields on 3D grids: the grid's layout, stencils (user and built-in) on
//! the compiled path against their definitions and the dot-product test,
//! the FFT Poisson solve, shifts, sparse solves, threads, and the
//! operations that are 2D by nature refusing a 3D grid by name.

use rewind_field::stencil::check_stencil;
use rewind_field::stencils::{Ddz, Laplacian3D, Laplacian3D4, Laplacian3D8};
use rewind_field::{Face, Faces, FieldError, FieldTape, Grid, Par, Points, Real, SparseSpd, Stencil, WithFaces};

fn grid() -> Grid {
    Grid::new3(6, 5, 4, 0.3, 0.25, 0.2).unwrap()
}

/// A nonlinear stencil that reads along every axis and diagonally:
/// `a · b[+x, −z] + sin(a[−y, +z]) · b[−x, +y]`.
#[derive(Clone, Copy)]
struct Skew<const ZERO: bool>;
impl<const ZERO: bool> Stencil for Skew<ZERO> {
    const INPUTS: usize = 2;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, -1], [0, -1, 1], [-1, 1, 0]];
    fn faces(&self) -> Faces {
        if ZERO { Faces::ZERO } else { Faces::PERIODIC }
    }
    fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
        l[0] * l[5] + l[2].sin() * l[7]
    }
}

fn fields(g: &Grid) -> (Vec<f64>, Vec<f64>) {
    (
        g.sample3(|x, y, z| (2.0 * x).sin() + (y - z).cos() * 0.5 + x * z),
        g.sample3(|x, y, z| (x + 2.0 * y).cos() - 0.3 * (3.0 * z).sin()),
    )
}

#[test]
fn the_layout_is_x_slowest_and_z_contiguous() {
    let g = grid();
    assert_eq!((g.len(), g.dims()), (120, 3));
    assert_eq!((Grid::new(4, 3, 1.0, 1.0).unwrap().dims(), Grid::line(4, 1.0).unwrap().dims()), (2, 1));
    assert_eq!(g.idx3(1, 2, 3), (5 + 2) * 4 + 3);
    let s = g.sample3(|x, y, z| 100.0 * x / g.dx + 10.0 * y / g.dy + z / g.dz);
    for (p, &v) in s.iter().enumerate() {
        let (x, y, z) = g.point(p);
        assert!((v - (100.0 * x / g.dx + 10.0 * y / g.dy + z / g.dz)).abs() < 1e-9);
    }
    assert!((s[g.idx3(1, 2, 3)] - 123.0).abs() < 1e-9);
    // every other point along each axis, in storage order
    assert_eq!(g.strided(2), vec![0, 2, 8, 10, 16, 18, 40, 42, 48, 50, 56, 58, 80, 82, 88, 90, 96, 98]);
    assert!(matches!(Grid::new3(2, 2, 0, 1.0, 1.0, 1.0), Err(FieldError::EmptyGrid { nz: 0, .. })));
    assert!(matches!(Grid::new3(2, 2, 2, 1.0, 1.0, -1.0), Err(FieldError::BadSpacing { what: "dz", .. })));
}

#[test]
fn stencils_pass_the_partial_and_dot_product_checks_in_3d() {
    let g = grid();
    let (a, b) = fields(&g);
    let checks = [
        ("skew periodic", check_stencil(Skew::<false>, g, &[&a, &b], 1).unwrap()),
        ("skew walls", check_stencil(Skew::<true>, g, &[&a, &b], 2).unwrap()),
        ("laplacian", check_stencil(Laplacian3D, g, &[&a], 3).unwrap()),
        ("laplacian walls", check_stencil(WithFaces::new(Laplacian3D, Faces::ZERO), g, &[&a], 4).unwrap()),
        ("ddz", check_stencil(Ddz, g, &[&a], 5).unwrap()),
        ("ddz walls", check_stencil(WithFaces::new(Ddz, Faces::ZERO), g, &[&a], 6).unwrap()),
    ];
    for (name, c) in checks {
        assert!(c.passes(1e-13), "{name}: {c:?}");
    }
    // a stencil that reaches across the grid along z is refused by axis
    #[derive(Clone, Copy)]
    struct Far;
    impl Stencil for Far {
        const INPUTS: usize = 1;
        const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 5]];
        fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
            l[0]
        }
    }
    let e = check_stencil(Far, g, &[&a], 1).unwrap_err();
    assert!(matches!(e, FieldError::StencilReach { dk: 5, nz: 4, .. }), "{e}");
}

/// `Σ_m c_m a[p + o_m]` by the definition, indices wrapped or zero outside.
fn direct(g: &Grid, a: &[f64], p: [usize; 3], terms: &[([isize; 3], f64)], walls: bool) -> f64 {
    let n = [g.nx, g.ny, g.nz];
    let mut s = 0.0;
    for (o, c) in terms {
        let q: Vec<isize> = (0..3).map(|d| p[d] as isize + o[d]).collect();
        if walls && (0..3).any(|d| q[d] < 0 || q[d] >= n[d] as isize) {
            continue;
        }
        let w: Vec<usize> = (0..3).map(|d| q[d].rem_euclid(n[d] as isize) as usize).collect();
        s += c * a[g.idx3(w[0], w[1], w[2])];
    }
    s
}

#[test]
fn the_laplacian_and_ddz_are_their_definitions_and_run_the_same_on_threads() {
    // (above the size where the kernels go parallel)
    let g = Grid::new3(19, 17, 16, 0.3, 0.25, 0.2).unwrap();
    assert!(g.len() > rewind_field::par::PAR_MIN_POINTS);
    let (a, _) = fields(&g);
    let run = |par: Par| {
        FieldTape::<f64>::new(g).eval(par, |c| {
            let f = c.input(&a).unwrap();
            [f.laplacian(), f.laplacian0(), f.ddz(), f.ddz0(), f.shift(2, -3)].map(|x| x.value().to_vec())
        })
    };
    let [lap, lap0, dz, dz0, shifted] = run(Par::Seq);
    let [cx, cy, cz] = [g.dx, g.dy, g.dz].map(|h| 1.0 / (h * h));
    let star = [
        ([0, 0, 0], -2.0 * (cx + cy + cz)),
        ([-1, 0, 0], cx),
        ([1, 0, 0], cx),
        ([0, -1, 0], cy),
        ([0, 1, 0], cy),
        ([0, 0, -1], cz),
        ([0, 0, 1], cz),
    ];
    let central = [([0, 0, 1], 0.5 / g.dz), ([0, 0, -1], -0.5 / g.dz)];
    for i in 0..g.nx {
        for j in 0..g.ny {
            for k in 0..g.nz {
                let p = g.idx3(i, j, k);
                let tol = 1e-12 * cz;
                assert!((lap[p] - direct(&g, &a, [i, j, k], &star, false)).abs() < tol, "{i} {j} {k}");
                assert!((lap0[p] - direct(&g, &a, [i, j, k], &star, true)).abs() < tol, "{i} {j} {k}");
                assert!((dz[p] - direct(&g, &a, [i, j, k], &central, false)).abs() < 1e-12 * cz);
                assert!((dz0[p] - direct(&g, &a, [i, j, k], &central, true)).abs() < 1e-12 * cz);
                let from = g.idx3((i + g.nx - 2) % g.nx, (j + 3) % g.ny, k);
                assert_eq!(shifted[p], a[from]);
            }
        }
    }
    // threads split the planes: the same bits
    assert_eq!(run(Par::Threads(2)), [lap, lap0, dz, dz0, shifted]);
}

#[test]
fn the_poisson_solve_inverts_the_7_point_laplacian_and_is_symmetric() {
    for g in [Grid::new3(18, 16, 20, 0.3, 0.25, 0.2).unwrap(), Grid::new3(5, 7, 3, 0.5, 0.4, 0.6).unwrap()] {
        let (a, b) = fields(&g);
        let mean = a.iter().sum::<f64>() / g.len() as f64;
        let (lap, pa, pb) = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
            let (fa, fb) = (c.input(&a).unwrap(), c.input(&b).unwrap());
            let psi = fa.poisson();
            (psi.laplacian().value().to_vec(), psi.value().to_vec(), fb.poisson().value().to_vec())
        });
        // Δψ = −(a − ā), ψ of zero mean
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (l, v) in lap.iter().zip(&a) {
            assert!((l + (v - mean)).abs() < 1e-11 * scale, "{l} vs {}", -(v - mean));
        }
        assert!(pa.iter().sum::<f64>().abs() < 1e-11 * g.len() as f64 * scale);
        // ⟨P a, b⟩ = ⟨a, P b⟩
        let (x, y) =
            (pa.iter().zip(&b).map(|(p, q)| p * q).sum::<f64>(), a.iter().zip(&pb).map(|(p, q)| p * q).sum::<f64>());
        assert!((x - y).abs() < 1e-12 * x.abs().max(y.abs()), "{x} vs {y}");
        // and on threads, the same bits
        let threaded =
            FieldTape::<f64>::new(g).eval(Par::Threads(2), |c| c.input(&a).unwrap().poisson().value().to_vec());
        assert_eq!(threaded, pa);
    }
}

#[test]
fn gradients_through_3d_stencils_poisson_and_shifts_match_forward_mode() {
    use rewind_tape::Dual;
    let g = Grid::new3(7, 6, 5, 0.3, 0.25, 0.2).unwrap();
    let (a, v) = fields(&g);
    fn j<'id, T: rewind_field::Components>(
        c: &'id rewind_field::Ctx<'id, T>,
        x: rewind_field::Field<'id, T>,
    ) -> rewind_field::Scalar<'id, T> {
        let y = (x * x).laplacian() * 0.1 + x.poisson().ddz() + x.shift(1, 2);
        let s = c.apply(Skew::<true>, &[y, x]).unwrap();
        (s * s).sum() + y.laplacian0().sqnorm() * 0.01
    }
    let grad = FieldTape::<f64>::new(g).record(Par::Seq, |c| {
        let x = c.input(&a).unwrap();
        let r = j(c, x);
        c.gradient(r).unwrap().field(x).to_vec()
    });
    let ad: Vec<Dual<f64>> = a.iter().zip(&v).map(|(&x, &d)| Dual::new(x, d)).collect();
    let jv = FieldTape::<Dual<f64>>::new(g).eval(Par::Seq, |c| j(c, c.input(&ad).unwrap()).value().eps);
    let gv: f64 = grad.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((gv - jv).abs() <= 1e-12 * jv.abs().max(1.0), "⟨∇J, v⟩ = {gv}, J'v = {jv}");
}

#[test]
fn the_sparse_dirichlet_laplacian_is_the_7_point_one_with_walls() {
    let g = Grid::new3(5, 4, 6, 0.3, 0.25, 0.2).unwrap();
    let (b, _) = fields(&g);
    let solver = SparseSpd::dirichlet_laplacian(&g).unwrap();
    let (x, back) = FieldTape::<f64>::new(g).with_sparse(solver).unwrap().eval(Par::Seq, |c| {
        let x = c.input(&b).unwrap().solve_sparse().unwrap();
        (x.value().to_vec(), x.laplacian0().value().to_vec())
    });
    // −L₀ x = b
    assert!(x.iter().all(|v| v.is_finite()));
    for (l, v) in back.iter().zip(&b) {
        assert!((l + v).abs() < 1e-10 * v.abs().max(1.0), "{l} vs {v}");
    }
}

#[test]
fn operations_that_are_2d_by_nature_refuse_a_3d_grid_by_name() {
    let g = grid();
    let (a, _) = fields(&g);
    let errors = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
        let f = c.input(&a).unwrap();
        [f.arakawa(f).map(|_| ()), f.upwind(f, f).map(|_| ()), f.semi_lagrangian(f, f, 0.1).map(|_| ())]
    });
    for e in errors {
        assert!(matches!(e, Err(FieldError::Dims { nz: 4, .. })), "{e:?}");
    }
}

/// Positions inside the grid's cells (none on the last, periodic, cell).
fn positions(g: &Grid) -> Vec<[f64; 3]> {
    let pick = |k: usize, n: usize, h: f64| {
        if n == 1 { 0.0 } else { ((k * 7 + 3) % (n - 1)) as f64 * h + h * (0.13 + 0.29 * (k % 3) as f64) }
    };
    (0..9).map(|k| [pick(k, g.nx, g.dx), pick(k + 1, g.ny, g.dy), pick(k + 2, g.nz, g.dz)]).collect()
}

#[test]
fn receivers_interpolate_linear_fields_exactly_and_sources_are_their_adjoint() {
    use rewind_field::Points;
    for g in [grid(), Grid::new(7, 6, 0.3, 0.25).unwrap(), Grid::line(9, 2.0).unwrap()] {
        let pos = positions(&g);
        let pts = Points::new(&g, &pos).unwrap();
        assert_eq!(pts.len(), 9);
        // n-linear interpolation reproduces an affine field inside a cell
        let affine = g.sample3(|x, y, z| 1.0 + 2.0 * x - 3.0 * y + 0.5 * z);
        let (a, b) = fields(&g);
        let s: Vec<f64> = (0..9).map(|k| (k as f64 * 0.7).sin()).collect();
        let (at, ia, is) = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
            let f = c.input(&affine).unwrap();
            let at = f.interpolate(&pts).unwrap().value().to_vec();
            let ia = c.input(&a).unwrap().interpolate(&pts).unwrap().value().to_vec();
            let is = c.inject(&pts, c.observations(&s)).unwrap().value().to_vec();
            (at, ia, is)
        });
        for (v, p) in at.iter().zip(&pos) {
            assert!((v - (1.0 + 2.0 * p[0] - 3.0 * p[1] + 0.5 * p[2])).abs() < 1e-12, "{g:?}: {v} at {p:?}");
        }
        // ⟨I a, s⟩ = ⟨a, Iᵀ s⟩ with Iᵀ the injection
        let lhs: f64 = ia.iter().zip(&s).map(|(x, y)| x * y).sum();
        let rhs: f64 = a.iter().zip(&is).map(|(x, y)| x * y).sum();
        assert!((lhs - rhs).abs() < 1e-13 * lhs.abs().max(1.0), "{g:?}: {lhs} vs {rhs}");
        // read lazily inside a fused loop by a stencil (its halo rows, the
        // periodic wrap), the same bits as the same values from memory
        let (fused, stored) = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
            let lap = |f: rewind_field::Field<'_, f64>| (f.laplacian() * 2.0 + f).value().to_vec();
            (lap(c.inject(&pts, c.observations(&s)).unwrap()), lap(c.input(&is).unwrap()))
        });
        assert_eq!(fused, stored, "{g:?}");
        // at a grid point, the value there
        let on = Points::new(&g, &[[2.0 * g.dx, if g.dims() > 1 { g.dy } else { 0.0 }, 0.0]]).unwrap();
        let v = FieldTape::<f64>::new(g).eval(Par::Seq, |c| c.input(&b).unwrap().interpolate(&on).unwrap().value()[0]);
        assert_eq!(v, b[g.idx(2, usize::from(g.dims() > 1))]);
    }
}

#[test]
fn gradients_through_sources_and_receivers_match_forward_mode() {
    use rewind_field::{Dual, Points};
    let g = Grid::new3(7, 6, 5, 0.3, 0.25, 0.2).unwrap();
    let (a, v) = fields(&g);
    let pts = Points::new(&g, &positions(&g)).unwrap();
    let data: Vec<f64> = (0..9).map(|k| 0.1 * k as f64).collect();
    // a source whose amplitudes are the receivers' readings of the field:
    // J = ‖I (a² + Δ S(I a)) − d‖²
    fn j<'id, T: rewind_field::Components>(
        c: &'id rewind_field::Ctx<'id, T>,
        x: rewind_field::Field<'id, T>,
        pts: &Points,
        data: &[f64],
    ) -> rewind_field::Scalar<'id, T> {
        let src = c.inject(pts, x.interpolate(pts).unwrap()).unwrap();
        (x * x + src.laplacian()).interpolate(pts).unwrap().misfit(data).unwrap()
    }
    let grad = FieldTape::<f64>::new(g).record(Par::Seq, |c| {
        let x = c.input(&a).unwrap();
        let r = j(c, x, &pts, &data);
        c.gradient(r).unwrap().field(x).to_vec()
    });
    let ad: Vec<Dual<f64>> = a.iter().zip(&v).map(|(&x, &d)| Dual::new(x, d)).collect();
    let jv = FieldTape::<Dual<f64>>::new(g).eval(Par::Seq, |c| j(c, c.input(&ad).unwrap(), &pts, &data).value().eps);
    let gv: f64 = grad.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((gv - jv).abs() <= 1e-12 * jv.abs().max(1.0), "⟨∇J, v⟩ = {gv}, J'v = {jv}");
}

#[test]
fn positions_outside_the_grid_and_points_of_another_grid_are_refused() {
    use rewind_field::Points;
    let g = grid();
    for bad in [[-0.1, 0.1, 0.1], [0.1, 5.0 * 0.25, 0.1], [f64::NAN, 0.1, 0.1]] {
        assert!(matches!(Points::new(&g, &[[0.1, 0.1, 0.1], bad]), Err(FieldError::Position { index: 1, .. })));
    }
    let flat = Grid::new(6, 5, 0.3, 0.25).unwrap();
    assert!(matches!(Points::new(&flat, &[[0.1, 0.1, 0.2]]), Err(FieldError::Position { index: 0, .. })));
    let pts = Points::new(&flat, &[[0.1, 0.1, 0.0]]).unwrap();
    let (a, _) = fields(&g);
    FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
        let f = c.input(&a).unwrap();
        assert!(matches!(f.interpolate(&pts), Err(FieldError::GridMismatch { .. })));
        let own = Points::new(&g, &[[0.1, 0.1, 0.1]]).unwrap();
        assert!(matches!(c.inject(&own, c.observations(&[1.0, 2.0])), Err(FieldError::Length { .. })));
    });
}

#[test]
fn the_high_order_laplacians_pass_the_checks_and_converge_at_their_order() {
    let g = Grid::new3(9, 10, 11, 0.3, 0.25, 0.2).unwrap();
    let (a, _) = fields(&g);
    for (name, c) in [
        ("4th", check_stencil(Laplacian3D4, g, &[&a], 7).unwrap()),
        ("8th", check_stencil(Laplacian3D8, g, &[&a], 8).unwrap()),
    ] {
        assert!(c.passes(1e-13), "{name}: {c:?}");
    }
    // Δ of sin x sin 2y sin z on the periodic cube [0, 2π)³ is −6 times it;
    // the error falls by 2^p when h halves
    let error = |n: usize, order: usize| {
        let g = Grid::periodic_cube(n, 2.0 * std::f64::consts::PI).unwrap();
        let f = g.sample3(|x, y, z| x.sin() * (2.0 * y).sin() * z.sin());
        let lap = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
            let x = c.input(&f).unwrap();
            let l = if order == 4 { c.apply(Laplacian3D4, &[x]) } else { c.apply(Laplacian3D8, &[x]) };
            l.unwrap().value().to_vec()
        });
        lap.iter().zip(&f).fold(0.0f64, |m, (l, v)| m.max((l + 6.0 * v).abs()))
    };
    for order in [4, 8] {
        let (coarse, fine) = (error(16, order), error(32, order));
        let rate = (coarse / fine).log2();
        assert!((rate - order as f64).abs() < 0.3, "order {order}: errors {coarse:.2e}, {fine:.2e}, rate {rate:.2}");
    }
}

#[test]
fn faces_are_data_per_face_and_every_mix_passes_the_dot_product_test() {
    let g = Grid::new3(9, 10, 11, 0.3, 0.25, 0.2).unwrap();
    let (a, b) = fields(&g);
    let (p, z) = ([Face::Periodic; 2], [Face::Zero; 2]);
    let mixes =
        [Faces::new(z, p, p), Faces::new(p, z, p), Faces::new(p, p, z), Faces::new(z, p, z)].map(Result::unwrap);
    for (m, faces) in mixes.into_iter().enumerate() {
        for (name, c) in [
            ("skew", check_stencil(WithFaces::new(Skew::<false>, faces), g, &[&a, &b], 20 + m as u64).unwrap()),
            ("8th", check_stencil(WithFaces::new(Laplacian3D8, faces), g, &[&a], 30 + m as u64).unwrap()),
        ] {
            assert!(c.passes(1e-13), "{name} with {faces:?}: {c:?}");
        }
    }
    // walls read zero beyond the face: the 8th-order Laplacian of a field
    // that is 1 everywhere is −Σ of the weights it lost, at the corner
    // three axes' worth (4 of 8 outer weights beyond each face), in the
    // middle nothing
    let ones = vec![1.0; g.len()];
    let lap = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
        let x = c.input(&ones).unwrap();
        c.apply(WithFaces::new(Laplacian3D8, Faces::ZERO), &[x]).unwrap().value().to_vec()
    });
    let w = Laplacian3D8::WEIGHTS;
    let lost: f64 = w[1..].iter().sum();
    let corner = -lost * [g.dx, g.dy, g.dz].iter().map(|h| 1.0 / (h * h)).sum::<f64>();
    assert!((lap[0] - corner).abs() < 1e-9 * corner.abs(), "{} vs {corner}", lap[0]);
    assert!(lap[g.idx3(4, 5, 5)].abs() < 1e-9, "{}", lap[g.idx3(4, 5, 5)]);
    // one face periodic and its opposite not is refused
    assert!(matches!(Faces::new(p, [Face::Periodic, Face::Zero], p), Err(FieldError::Faces { axis: 'y' })));
}

#[test]
fn mirror_faces_read_the_mirrored_values_and_pass_the_dot_product_test_in_every_mix() {
    let (p, z, m) = ([Face::Periodic; 2], [Face::Zero; 2], [Face::Mirror; 2]);
    let (mz, zm) = ([Face::Mirror, Face::Zero], [Face::Zero, Face::Mirror]);
    let mixes =
        [Faces::new(m, m, m), Faces::new(m, p, p), Faces::new(p, m, z), Faces::new(mz, zm, m), Faces::new(z, p, mz)]
            .map(Result::unwrap);
    // 9 × 10 × 11, and a grid as short as the 8th order allows (reach 4 of 5 points)
    for g in [Grid::new3(9, 10, 11, 0.3, 0.25, 0.2).unwrap(), Grid::new3(5, 6, 7, 0.3, 0.25, 0.2).unwrap()] {
        let (a, b) = fields(&g);
        for (k, faces) in mixes.into_iter().enumerate() {
            for (name, c) in [
                ("skew", check_stencil(WithFaces::new(Skew::<false>, faces), g, &[&a, &b], 40 + k as u64).unwrap()),
                ("8th", check_stencil(WithFaces::new(Laplacian3D8, faces), g, &[&a], 50 + k as u64).unwrap()),
                ("7-point", check_stencil(WithFaces::new(Laplacian3D, faces), g, &[&a], 60 + k as u64).unwrap()),
            ] {
                assert!(c.passes(1e-13), "{name} with {faces:?} on {g:?}: {c:?}");
            }
        }
    }
    // u(−k) = u(k): the 7-point Laplacian at a corner is the one-sided
    // 2 (u₁ − u₀)/h² along each axis, and a field even about every face
    // (cos(π x / L) cos(π y / L') cos(π z / L'')) has the Laplacian of its
    // continuous extension, to second order everywhere
    let g = Grid::new3(9, 10, 11, 0.3, 0.25, 0.2).unwrap();
    let (a, _) = fields(&g);
    let lap = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
        let x = c.input(&a).unwrap();
        c.apply(WithFaces::new(Laplacian3D, Faces::MIRROR), &[x]).unwrap().value().to_vec()
    });
    let corner = 2.0 * (a[g.idx3(1, 0, 0)] - a[0]) / (g.dx * g.dx)
        + 2.0 * (a[g.idx3(0, 1, 0)] - a[0]) / (g.dy * g.dy)
        + 2.0 * (a[g.idx3(0, 0, 1)] - a[0]) / (g.dz * g.dz);
    assert!((lap[0] - corner).abs() < 1e-12 * corner.abs(), "{} vs {corner}", lap[0]);
    let error = |n: usize| {
        let g = Grid::new3(n, n, n, 1.0 / (n - 1) as f64, 1.0 / (n - 1) as f64, 1.0 / (n - 1) as f64).unwrap();
        let pi = std::f64::consts::PI;
        let f = g.sample3(|x, y, z| (pi * x).cos() * (pi * y).cos() * (pi * z).cos());
        let lap = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
            let x = c.input(&f).unwrap();
            c.apply(WithFaces::new(Laplacian3D4, Faces::MIRROR), &[x]).unwrap().value().to_vec()
        });
        lap.iter().zip(&f).fold(0.0f64, |m, (l, v)| m.max((l + 3.0 * pi * pi * v).abs()))
    };
    let (coarse, fine) = (error(9), error(17));
    assert!(coarse / fine > 3.5, "errors {coarse:.2e}, {fine:.2e}: not second order at the faces");
    // a stencil reaching past a mirror as far as the axis is long has no image
    let short = Grid::new3(4, 6, 7, 0.3, 0.25, 0.2).unwrap();
    let (a, _) = fields(&short);
    assert!(matches!(
        check_stencil(WithFaces::new(Laplacian3D8, Faces::MIRROR), short, &[&a], 1),
        Err(FieldError::StencilReach { .. })
    ));
    assert!(check_stencil(WithFaces::new(Laplacian3D8, Faces::ZERO), short, &[&a], 1).is_ok());
}

#[test]
fn mirror_faces_on_lazy_inputs_over_tiles_and_threads_give_the_transpose_and_the_same_bits() {
    // a stencil with mirror faces read from a lazy expression (windows of
    // planes, the halo mirrored inside them) on a grid of several tiles:
    // ⟨J v, w⟩ = ⟨v, Jᵀ w⟩ for J: (a, b) ↦ L(a ⊙ b) + Skew(a, b), and the
    // same bits fused, unfused and on two threads
    let g = big_planes();
    let (a, b) = fields(&g);
    let faces = Faces::new([Face::Mirror; 2], [Face::Zero, Face::Mirror], [Face::Mirror; 2]).unwrap();
    let v: Vec<f64> = (0..g.len()).map(|k| (k * 37 % 101) as f64 / 50.0 - 1.0).collect();
    let w: Vec<f64> = (0..g.len()).map(|k| (k * 53 % 97) as f64 / 48.0 - 1.0).collect();
    let jv_w = FieldTape::<rewind_field::Dual<f64>>::new(g).eval(Par::Seq, |c| {
        let dual =
            |x: &[f64], t: &[f64]| x.iter().zip(t).map(|(&x, &t)| rewind_field::Dual::new(x, t)).collect::<Vec<_>>();
        let (x, y) = (c.input(&dual(&a, &v)).unwrap(), c.input(&dual(&b, &v)).unwrap());
        let out = c.apply(WithFaces::new(Laplacian3D8, faces), &[x * y]).unwrap()
            + c.apply(WithFaces::new(Skew::<false>, faces), &[x, y + x]).unwrap();
        out.value().iter().zip(&w).map(|(o, &w)| o.eps * w).sum::<f64>()
    });
    let run = |par: Par| {
        FieldTape::<f64>::new(g).record(par, |c| {
            let (x, y) = (c.input(&a).unwrap(), c.input(&b).unwrap());
            let out = c.apply(WithFaces::new(Laplacian3D8, faces), &[x * y]).unwrap()
                + c.apply(WithFaces::new(Skew::<false>, faces), &[x, y + x]).unwrap();
            let adj = c.backward(&[(out, &w)], &[]).unwrap();
            (adj.field(x).to_vec(), adj.field(y).to_vec(), out.value().to_vec())
        })
    };
    let seq = run(Par::Seq);
    let v_jtw: f64 = seq.0.iter().chain(&seq.1).zip(v.iter().chain(&v)).map(|(a, b)| a * b).sum();
    assert!((jv_w - v_jtw).abs() < 1e-12 * jv_w.abs(), "⟨Jv, w⟩ = {jv_w}, ⟨v, Jᵀw⟩ = {v_jtw}");
    assert_eq!(rewind_field::unfused(|| run(Par::Seq)), seq);
    assert_eq!(run(Par::Threads(2)), seq);
}

/// A grid whose planes hold more points than a fused loop's tile, split
/// over two threads by planes.
fn big_planes() -> Grid {
    let g = Grid::new3(6, 40, 48, 0.3, 0.25, 0.2).unwrap();
    assert!(g.ny * g.nz > 1024, "planes larger than a tile");
    g
}

#[test]
fn written_fields_copies_and_sums_give_the_same_bits_fused_unfused_and_on_threads() {
    let g = big_planes();
    let (a, b) = fields(&g);
    // a source between grid points in the second tile of a plane
    let src = Points::new(&g, &[[1.1, 8.3, 7.9]]).unwrap();
    let run = |par: Par| {
        FieldTape::<f64>::new(g).eval(par, |c| {
            let (u, v) = (c.input(&a).unwrap(), c.input(&b).unwrap());
            let q = c.inject(&src, c.observations(&[2.5])).unwrap();
            let lap = c.apply(WithFaces::new(Laplacian3D8, Faces::ZERO), &[u]).unwrap();
            let w = (lap + q) * v + u * 0.5;
            let mut out = vec![0.0; 2 * g.len()];
            c.write_into(&[w, u], &mut out).unwrap();
            (out, w.sum().value(), (w * w).sum().value())
        })
    };
    let seq = run(Par::Seq);
    // the written copy of `u` is `u`, and the sum is the rows' folds added
    assert_eq!(&seq.0[g.len()..], &a[..]);
    let w = &seq.0[..g.len()];
    let plane = g.ny * g.nz;
    let rows: Vec<f64> = w.chunks(plane).map(|r| r.iter().fold(0.0, |s, &x| s + x)).collect();
    assert_eq!(seq.1, rows.iter().fold(0.0, |s, &x| s + x));
    assert_eq!(rewind_field::unfused(|| run(Par::Seq)), seq);
    assert_eq!(run(Par::Threads(2)), seq);
}

#[test]
fn fixed_data_is_read_in_place_and_never_differentiated() {
    let g = big_planes();
    let (a, e) = fields(&g);
    let mut tape = FieldTape::<f64>::new(g);
    let (same_memory, de, da, value) = tape.record_on(Par::Seq, &[], &[&e], |c, _| {
        let u = c.input(&a).unwrap();
        let d = c.data(&e).unwrap();
        let j = (u * d).sum() + u.mask(&e).unwrap().sum();
        let adj = c.gradient(j).unwrap();
        let zero = adj.field(d).iter().all(|&x| x == 0.0);
        (std::ptr::eq(d.value().as_ptr(), e.as_ptr()), zero, adj.field(u).to_vec(), j.value())
    });
    assert!(same_memory, "lent fixed data is read where it is");
    assert!(de, "fixed data has no adjoint");
    // J = 2 Σ u e: dJ/du = 2e
    assert!(da.iter().zip(&e).all(|(&d, &x)| d == 2.0 * x));
    // not lent: the same values, copied
    let copied = FieldTape::<f64>::new(g).eval(Par::Seq, |c| {
        let d = c.data(&e).unwrap();
        ((c.input(&a).unwrap() * d).sum() + c.input(&a).unwrap().mask(&e).unwrap().sum()).value()
    });
    assert_eq!(copied, value);
    assert!(matches!(
        FieldTape::<f64>::new(g).eval(Par::Seq, |c| c.data(&e[1..]).map(|_| ())),
        Err(FieldError::Length { .. })
    ));
}

#[test]
fn a_checked_write_finds_the_first_value_that_is_not_finite() {
    let g = big_planes();
    let (a, _) = fields(&g);
    let cases = [(None, Par::Seq), (Some(g.idx3(4, 30, 3)), Par::Seq), (Some(g.idx3(5, 39, 47)), Par::Threads(2))];
    for (bad, par) in cases {
        let mut x = a.clone();
        if let Some(p) = bad {
            x[p] = f64::INFINITY;
        }
        let write = |checked: bool| {
            FieldTape::<f64>::new(g).eval(par, |c| {
                let u = c.input(&x).unwrap();
                let fields = [c.apply(Laplacian3D8, &[u]).unwrap(), u * 2.0 + 1.0];
                let mut out = vec![0.0; 2 * g.len()];
                let found = match checked {
                    true => c.write_into_checked(&fields, &mut out).unwrap(),
                    false => c.write_into(&fields, &mut out).map(|_| None).unwrap(),
                };
                (found, out)
            })
        };
        let ((found, out), (_, plain)) = (write(true), write(false));
        assert_eq!(out, plain, "the same values written");
        // (∞ in the stencil's sum gives ∞ or, beside −∞ terms, NaN)
        assert_eq!(found, plain.iter().position(|v| !v.is_finite()), "{bad:?}");
        assert_eq!(found.is_some(), bad.is_some());
    }
}
