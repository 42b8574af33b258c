//! The fused engine: what it computes is the same bits as every operation
//! on its own (`unfused`), on the paths where fusion makes choices — a
//! stencil of a lazy expression read through a window of rows, halos too
//! deep for one loop, more fields than one loop writes, results written
//! straight into the caller's slices — and it makes fewer passes over
//! memory.

use rewind_field::{Ctx, Field, FieldError, FieldTape, Grid, Par, Real, Scalar, Stencil, Unary, unfused};
use rewind_tape::Dual;

/// `a[i+1, j] · b[i−1, j+1] + sin a`: reads two inputs at offsets in both
/// directions (the automatic VJP).
#[derive(Clone, Copy)]
struct Cross;
impl Stencil for Cross {
    const INPUTS: usize = 2;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0], [-1, 1, 0]];
    fn eval<R: Real>(&self, _: &Grid, l: &[R]) -> R {
        l[1] * l[5] + l[0].sin()
    }
}

/// A chain of stencils of lazy expressions: each level reads the one
/// before at offsets, so the halo grows by a row a level (deeper than one
/// loop takes, from level 5 on).
fn chain<'id, T: rewind_field::Components>(c: &'id Ctx<'id, T>, a: Field<'id, T>, s: Scalar<'id, T>) -> Scalar<'id, T> {
    let mut x = a * s + 0.5;
    for level in 0..8 {
        let y = (x * x).map(Unary::Tanh);
        x = if level % 2 == 0 { y.avg_x_plus() + x.dy_minus() * 0.1 } else { c.apply(Cross, &[y, x]).unwrap() };
    }
    (x * a).sum() + x.laplacian0().sqnorm() * 0.01
}

fn run(g: Grid, a0: &[f64]) -> (u64, Vec<u64>, u64) {
    let mut tape = FieldTape::<f64>::new(g);
    let (j, grad, ds) = tape.record(Par::Seq, |c| {
        let a = c.input(a0).unwrap();
        let s = c.scalar(0.7);
        let j = chain(c, a, s);
        let adj = c.gradient(j).unwrap();
        (j.value(), adj.field(a).to_vec(), adj.scalar(s))
    });
    (j.to_bits(), grad.iter().map(|v| v.to_bits()).collect(), ds.to_bits())
}

#[test]
fn deep_halos_and_windows_give_the_same_bits_as_unfused() {
    for g in [
        Grid::new(13, 11, 0.3, 0.2).unwrap(),
        Grid::new(40, 24, 0.1, 0.1).unwrap(),
        Grid::line(17, 2.0).unwrap(),
        Grid::new3(11, 5, 6, 0.3, 0.2, 0.25).unwrap(),
    ] {
        let a0 = g.sample3(|x, y, z| (2.0 * x).sin() * (y + 0.3).cos() + 0.2 + 0.1 * (z - x).sin());
        let fused = run(g, &a0);
        assert_eq!(fused, unfused(|| run(g, &a0)), "{g:?}");
        // and on threads (rows split into pieces): the same bits
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let threaded = pool.install(|| {
            let mut tape = FieldTape::<f64>::new(g);
            tape.record(Par::Pool, |c| {
                let a = c.input(&a0).unwrap();
                let j = chain(c, a, c.scalar(0.7));
                j.value().to_bits()
            })
        });
        assert_eq!(threaded, fused.0, "{g:?}");
    }
}

#[test]
fn the_chain_is_differentiated_right() {
    // forward mode over the same chain against the reverse sweep: ⟨∇J, v⟩,
    // in 2D and 3D
    for g in [Grid::new(12, 10, 0.3, 0.2).unwrap(), Grid::new3(9, 6, 5, 0.3, 0.2, 0.4).unwrap()] {
        chain_checks(g);
    }
}

fn chain_checks(g: Grid) {
    let a0 = g.sample3(|x, y, z| (2.0 * x).sin() * (y + 0.3).cos() + 0.2 + 0.1 * (z + y).cos());
    let v = g.sample3(|x, y, z| (x - 2.0 * y + z).cos());
    let mut tape = FieldTape::<f64>::new(g);
    let grad = tape.record(Par::Seq, |c| {
        let a = c.input(&a0).unwrap();
        let j = chain(c, a, c.scalar(0.7));
        c.gradient(j).unwrap().field(a).to_vec()
    });
    let ad: Vec<Dual<f64>> = a0.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let jv = FieldTape::<Dual<f64>>::new(g).eval(Par::Seq, |c| {
        let a = c.input(&ad).unwrap();
        chain(c, a, c.scalar(Dual::constant(0.7))).value().eps
    });
    let gv: f64 = grad.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((gv - jv).abs() <= 1e-12 * jv.abs().max(1.0), "⟨∇J, v⟩ = {gv}, J'v = {jv}");
}

#[test]
fn many_fields_written_together_and_into_slices() {
    let g = Grid::new(9, 7, 0.5, 0.5).unwrap();
    let n = g.len();
    let a0 = g.sample(|x, y| x - y * y);
    let mut tape = FieldTape::<f64>::new(g);
    tape.eval(Par::Seq, |c| {
        let a = c.input(&a0).unwrap();
        // more fields than one loop writes, one of them twice, one in memory
        let fields: Vec<Field<'_, f64>> =
            (0..11).map(|k| (a * (k as f64) + 1.0).avg_y_minus()).chain([a, a.avg_x_plus()]).collect();
        let mut all = fields.clone();
        all.push(fields[3]);
        let mut out = vec![0.0; all.len() * n];
        c.write_into(&all, &mut out).unwrap();
        for (k, f) in all.iter().enumerate() {
            assert_eq!(&out[k * n..(k + 1) * n], f.value(), "field {k}");
        }
        c.materialise(&fields);
        assert!(matches!(c.write_into(&all, &mut out[1..]), Err(FieldError::Length { .. })));
    });
}

#[test]
fn products_folded_into_sums_give_the_same_bits() {
    // every way a product meets a sum: scaled by a constant, by a recorded
    // scalar, or a product of fields; on either side of a sum and of a
    // difference; read once (folded) or twice, or kept (not folded)
    let g = Grid::new(11, 9, 0.4, 0.3).unwrap();
    let (a0, b0) = (g.sample(|x, y| (3.0 * x).sin() + y), g.sample(|x, y| (x * y).cos() - 0.3));
    let run = || {
        let mut tape = FieldTape::<f64>::new(g);
        tape.eval(Par::Seq, |c| {
            let (a, b) = (c.input(&a0).unwrap(), c.input(&b0).unwrap());
            let s = c.scalar(1.3);
            let kept = a * b;
            let fields = [
                a * 0.7 + b,
                b + a * s,
                a * b - b,
                b - a * b,
                (a * 0.3 - b * s) + a * b,
                kept + b,
                kept - a,
                (a * b + b) * (b * 0.5 - a * 0.25).dx_plus(),
            ];
            let mut out = vec![0.0; fields.len() * g.len()];
            c.write_into(&fields, &mut out).unwrap();
            out.iter().map(|v| v.to_bits()).collect::<Vec<u64>>()
        })
    };
    assert_eq!(run(), unfused(run));
}

#[test]
fn fusion_saves_passes_over_memory() {
    let g = Grid::periodic_square(32, 1.0).unwrap();
    let a0 = g.sample(|x, y| (6.0 * x).sin() + y);
    let passes = || {
        let mut tape = FieldTape::<f64>::new(g);
        tape.record(Par::Seq, |c| {
            let a = c.input(&a0).unwrap();
            let s = c.scalar(0.7);
            let j = chain(c, a, s);
            c.gradient(j).unwrap();
        });
        tape.passes()
    };
    let (fused, alone) = (passes(), unfused(passes));
    println!("passes: fused {fused:?}, unfused {alone:?}");
    // (measured: 37 fields written and 124 read, against 121 and 203)
    assert!(
        fused.writes * 3 < alone.writes && fused.total() * 3 < alone.total() * 2,
        "fused {fused:?}, unfused {alone:?}"
    );
}
