//! Decomposed runs on 1–4 ranks (threads of this process, `Threads`)
//! against one process: the same bits for the primal, the gradient and a
//! Hessian-vector product (shallow water, Gray–Scott, and ns2d with its
//! Poisson solve across the ranks); the step's adjoint by the dot-product
//! test across ranks; errors agreed by every rank. The same on real MPI
//! ranks: tests/mpi.rs.

use std::rc::Rc;

#[path = "support/between.rs"]
mod between;

use rewind_checkpoint::{DiskStore, RamStore, SnapshotStore, Stepper, StoreError, Strategy, gradient, hvp};
use rewind_decompose::{Agreed, Comm, DecomposeError, Decomposed, Misfit, Serial, Slabs, Threads, gather, slab_of};
use rewind_field::{Dual, Par};
use rewind_gray_scott::GrayScott;
use rewind_shallow_water::{Config, ShallowWater};
use rewind_sim::{Layout, Model, Sim};

/// `f` run on every rank of a group of `size` threads, results in rank order.
fn on_ranks<R: Send>(size: usize, f: impl Fn(&Rc<Threads>) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let f = &f;
        let hs: Vec<_> = Threads::group(size).into_iter().map(|c| s.spawn(move || f(&Rc::new(c)))).collect();
        hs.into_iter().map(|h| h.join().expect("a rank panicked")).collect()
    })
}

/// A target and a direction of the state's length.
fn target_and_direction(x0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = x0.iter().enumerate().map(|(i, &v)| v + 0.01 * (i as f64 * 0.37).sin()).collect();
    let v = (0..x0.len()).map(|i| (i as f64 * 0.11).cos()).collect();
    (d, v)
}

/// (objective, final state, gradient, hvp, the gradient with respect to
/// every field parameter) of one run.
type Run = (f64, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

const BINOMIAL: Strategy = Strategy::Binomial { snapshots: 3 };

/// The run in one process: the model's own stepper.
fn one_process<M: Model + Clone>(m: &M, x0: &[f64], steps: usize, s: Strategy) -> Run {
    let layout = m.layout();
    let (d, v) = target_and_direction(x0);
    let mut loss = Misfit::new(&Serial, &layout, &d).unwrap();
    let g = gradient(&mut Sim::<_, f64>::new(m.clone(), Par::Seq).unwrap(), &mut loss, s, steps, x0).unwrap();
    let h = hvp(&mut Sim::<_, Dual<f64>>::new(m.clone(), Par::Seq).unwrap(), &mut loss, s, steps, x0, &v).unwrap();
    // the field parameters' parts of the parameter gradient
    let params = m.params();
    let fields: Vec<f64> = params
        .entries()
        .iter()
        .filter(|(_, v)| v.is_field())
        .flat_map(|(name, _)| g.grad_params[params.range(name).unwrap()].to_vec())
        .collect();
    (g.objective, g.final_state, g.grad_x0, h.hvp, fields)
}

/// The same run split over `comm`'s ranks, gathered.
fn decomposed<M: Model + Clone, C: Comm + Clone + 'static>(
    comm: &C,
    m: &M,
    x0: &[f64],
    steps: usize,
    s: Strategy,
) -> Run {
    let layout = m.layout();
    let (d, v) = target_and_direction(x0);
    let own = Slabs::new(layout.grid().nx, comm.size()).unwrap().owned(comm.rank());
    let (x0s, vs) = (slab_of(&layout, own.clone(), x0).unwrap(), slab_of(&layout, own, &v).unwrap());
    let mut loss = Misfit::new(comm, &layout, &d).unwrap();
    let mut st = Decomposed::<_, f64, _>::new(m.clone(), comm, Par::Seq, &x0s).unwrap();
    let g = rewind_decompose::gradient(comm, &mut st, &mut loss, s, steps, &x0s).unwrap();
    let mut st2 = Decomposed::<_, Dual<f64>, _>::new(m.clone(), comm, Par::Seq, &x0s).unwrap();
    let h = rewind_decompose::hvp(comm, &mut st2, &mut loss, s, steps, &x0s, &vs).unwrap();
    let all = |v: &[f64]| gather(comm, &layout, v).unwrap();
    // each field parameter's slab, gathered as a one-field state
    let one = Layout::new(*layout.grid()).field("p");
    let per = st.owned().len() * layout.grid().ny * layout.grid().nz;
    let fields = g.grad_params.chunks(per).flat_map(|p| gather(comm, &one, p).unwrap()).collect();
    (g.objective, all(&g.final_state), all(&g.grad_x0), all(&h.hvp), fields)
}

fn assert_same_bits(a: &Run, b: &Run, what: &str) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(a.0.to_bits(), b.0.to_bits(), "{what}: objective {} vs {}", a.0, b.0);
    assert_eq!(bits(&a.1), bits(&b.1), "{what}: final state");
    assert_eq!(bits(&a.2), bits(&b.2), "{what}: gradient");
    assert_eq!(bits(&a.3), bits(&b.3), "{what}: hvp");
    assert_eq!(bits(&a.4), bits(&b.4), "{what}: field parameters' gradient");
}

#[test]
fn shallow_water_gives_the_same_bits_on_one_to_four_ranks() {
    // 34 planes: slabs of 34, 17, 11–12 and 8–9; the step reads 4 planes
    // each way (4 stages of C-grid operators reaching one), the recorded
    // step's halo is 8: the thinnest slab just holds it
    let m = ShallowWater::new(Config { n: 34, dt: 0.02, ..Config::default() }).unwrap();
    let x0 = m.bump(0.1).unwrap();
    let reference = one_process(&m, &x0, 6, BINOMIAL);
    // the run changes the state and has a gradient worth comparing
    assert!(reference.2.iter().any(|&g| g.abs() > 1e-6));
    for ranks in 1..=4 {
        for (r, run) in on_ranks(ranks, |c| decomposed(c, &m, &x0, 6, BINOMIAL)).iter().enumerate() {
            assert_same_bits(run, &reference, &format!("rank {r} of {ranks}"));
        }
    }
}

/// ns2d at `n × n` (its benchmark's physics, the forcing a field
/// parameter) and a smooth initial vorticity.
fn ns2d(n: usize) -> (rewind_ns2d::Ns2d, Vec<f64>) {
    let g = rewind_field::Grid::periodic_square(n, 2.0 * std::f64::consts::PI).unwrap();
    let forcing = g.sample(|_, y| 0.1 * (4.0 * y).sin());
    let p = rewind_ns2d::Params { n, dt: 0.02, nu: 1e-3, alpha: 0.1, forcing, max_cfl: 0.9 };
    let x0 = g.sample(|x, y| x.cos() * y.cos() + 0.3 * (2.0 * x + 0.5).sin() * (3.0 * y).cos());
    (rewind_ns2d::Ns2d::new(p).unwrap(), x0)
}

#[test]
fn ns2d_with_its_poisson_solve_across_ranks_gives_the_same_bits_on_one_to_four_ranks() {
    // 32 planes: slabs of 32, 16, 10–11 and 8. Each RK4 stage solves a
    // Poisson equation across the ranks, which makes its result exact on
    // the whole box: the reach counts from it again, and its operand is
    // needed on the slab only. The Arakawa Jacobian and the Laplacian reach
    // one plane per stage: 4 each way, the recorded step's halo 8.
    let (m, x0) = ns2d(32);
    let reference = one_process(&m, &x0, 5, BINOMIAL);
    assert!(reference.2.iter().any(|&g| g.abs() > 1e-6));
    assert!(reference.4.iter().any(|&g| g.abs() > 1e-9), "the forcing's gradient is not zero");
    for ranks in 1..=4 {
        for (r, run) in on_ranks(ranks, |c| decomposed(c, &m, &x0, 5, BINOMIAL)).iter().enumerate() {
            assert_same_bits(run, &reference, &format!("ns2d, rank {r} of {ranks}"));
        }
    }
    let own = Slabs::new(32, 2).unwrap();
    let reach = on_ranks(2, |c| {
        let xs = slab_of(&m.layout(), own.owned(c.rank()), &x0).unwrap();
        Decomposed::<_, f64, _>::new(m.clone(), c, Par::Seq, &xs).unwrap().reach()
    });
    assert_eq!(reach, [[4, 4], [4, 4]]);
}

#[test]
fn a_field_parameter_is_cut_with_the_slab_and_its_gradient_is_the_same_bits() {
    // Gray–Scott: the feed rate varies across the grid; SSP-RK3 on the
    // 5-point Laplacian reaches 3 planes, the halo is 6
    let m = GrayScott::new(rewind_gray_scott::Config::default()).unwrap();
    let x0 = m.initial().unwrap();
    let reference = one_process(&m, &x0, 4, BINOMIAL);
    assert_eq!(reference.4.len(), 32 * 32);
    assert!(reference.4.iter().any(|&g| g.abs() > 1e-9), "the feed rate's gradient is not zero");
    for ranks in [2, 3] {
        for run in on_ranks(ranks, |c| decomposed(c, &m, &x0, 4, BINOMIAL)) {
            assert_same_bits(&run, &reference, &format!("{ranks} ranks"));
        }
    }
}

/// RAM and disk: each rank's snapshots of its slab in files of its own.
const TWO_LEVELS: Strategy = Strategy::MultiLevel { ram: 1, disk: 3, write_cost: 0.1, read_cost: 0.1 };

/// The first state the schedule of `steps` steps writes to disk.
fn first_on_disk(steps: usize) -> usize {
    let schedule = TWO_LEVELS.schedule(steps).unwrap();
    schedule
        .iter()
        .find_map(|a| match *a {
            rewind_checkpoint::Action::Store { step, level: rewind_checkpoint::Level::Disk } => Some(step),
            _ => None,
        })
        .expect("the schedule writes to disk")
}

#[test]
fn snapshots_on_disk_per_rank_give_the_same_bits() {
    let m = ShallowWater::new(Config { n: 34, dt: 0.02, ..Config::default() }).unwrap();
    let x0 = m.bump(0.1).unwrap();
    first_on_disk(12);
    let reference = one_process(&m, &x0, 12, TWO_LEVELS);
    for run in on_ranks(3, |c| decomposed(c, &m, &x0, 12, TWO_LEVELS)) {
        assert_same_bits(&run, &reference, "3 ranks, RAM and disk");
    }
}

/// A disk store whose snapshot of state `bad` gets a flipped byte after
/// it is written (on the ranks that use it).
struct Corrupting {
    inner: DiskStore<f64>,
    bad: usize,
}

impl SnapshotStore<f64> for Corrupting {
    fn put(&mut self, step: usize, state: &[f64]) -> Result<(), StoreError> {
        self.inner.put(step, state)?;
        if step == self.bad {
            let path = self.inner.path(step);
            let mut b = std::fs::read(&path).unwrap();
            let last = b.len() - 1;
            b[last] ^= 0x40;
            std::fs::write(&path, b).unwrap();
        }
        Ok(())
    }
    fn get(&mut self, step: usize, out: &mut [f64]) -> Result<(), StoreError> {
        self.inner.get(step, out)
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        self.inner.remove(step)
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn bytes(&self) -> usize {
        self.inner.bytes()
    }
}

#[test]
fn a_corrupted_snapshot_on_one_rank_stops_every_rank_with_one_message() {
    let m = ShallowWater::new(Config { n: 34, dt: 0.02, ..Config::default() }).unwrap();
    let layout = m.layout();
    let x0 = m.bump(0.1).unwrap();
    let (d, _) = target_and_direction(&x0);
    let schedule = TWO_LEVELS.schedule(12).unwrap();
    let bad = first_on_disk(12);
    let errs = on_ranks(3, |c| {
        let own = Slabs::new(34, 3).unwrap().owned(c.rank());
        let xs = slab_of(&layout, own, &x0).unwrap();
        let mut st = Decomposed::<_, f64, _>::new(m, c, Par::Seq, &xs).unwrap();
        let mut loss = Misfit::new(c, &layout, &d).unwrap();
        let inner = DiskStore::new(std::env::temp_dir()).unwrap();
        let disk = Corrupting { inner, bad: if c.rank() == 1 { bad } else { usize::MAX } };
        let mut ram = Agreed::new(RamStore::new(), c);
        let mut disk = Agreed::new(disk, c);
        rewind_checkpoint::run(&mut st, &mut loss, &schedule, &xs, [&mut ram, &mut disk]).unwrap_err().to_string()
    });
    for e in &errs {
        assert_eq!(e, &errs[0]);
    }
    let want = format!("rank 1 of 3 failed at step {bad}: snapshot of state {bad} is corrupt");
    assert!(errs[0].contains(&want), "{}", errs[0]);
}

/// `(⟨J u, w⟩, ⟨u, Jᵀ w⟩)` for one step of `m` from `x0`: `J u` by dual
/// numbers, `Jᵀ w` by the reverse step, both split over `ranks` ranks; the
/// inner products of the gathered vectors.
fn dot_product_across_ranks<M: Model + Clone + Sync>(m: &M, x0: &[f64], ranks: usize) -> (f64, f64) {
    let layout: Layout = m.layout();
    let u: Vec<f64> = (0..x0.len()).map(|i| (i as f64 * 0.73).sin()).collect();
    let w: Vec<f64> = (0..x0.len()).map(|i| (i as f64 * 0.29).cos()).collect();
    let out = on_ranks(ranks, |c| {
        let own = Slabs::new(layout.grid().nx, ranks).unwrap().owned(c.rank());
        let (xs, us, ws) = (
            slab_of(&layout, own.clone(), x0).unwrap(),
            slab_of(&layout, own.clone(), &u).unwrap(),
            slab_of(&layout, own, &w).unwrap(),
        );
        let mut tl = Decomposed::<_, Dual<f64>, _>::new(m.clone(), c, Par::Seq, &xs).unwrap();
        let xd: Vec<Dual<f64>> = xs.iter().zip(&us).map(|(&a, &b)| Dual::new(a, b)).collect();
        let mut next = xd.clone();
        tl.step(0, &xd, &mut next).unwrap();
        let ju: Vec<f64> = next.iter().map(|d| d.eps).collect();
        let mut adj = Decomposed::<_, f64, _>::new(m.clone(), c, Par::Seq, &xs).unwrap();
        let (mut n1, mut xbar, mut pbar) = (xs.clone(), vec![0.0; xs.len()], vec![0.0; adj.param_len()]);
        let mut seed = |_: &[f64], yb: &mut [f64]| {
            yb.copy_from_slice(&ws);
            Ok(())
        };
        adj.step_vjp(0, &xs, &mut n1, &mut seed, &mut xbar, &mut pbar).unwrap();
        (gather(c, &layout, &ju).unwrap(), gather(c, &layout, &xbar).unwrap())
    });
    let (ju, jtw) = &out[0];
    let lhs: f64 = ju.iter().zip(&w).map(|(a, b)| a * b).sum();
    let rhs: f64 = u.iter().zip(jtw).map(|(a, b)| a * b).sum();
    (lhs, rhs)
}

#[test]
fn the_decomposed_step_s_adjoint_passes_the_dot_product_test_across_ranks() {
    let sw = ShallowWater::new(Config { n: 48, dt: 0.02, ..Config::default() }).unwrap();
    let (ns, w0) = ns2d(32);
    let (ac, u0) = acoustic(8, 16.0);
    for (what, (lhs, rhs)) in [
        // walls, the sponge and the source on the slabs
        ("acoustic, 3 ranks", dot_product_across_ranks(&ac, &u0, 3)),
        ("shallow water, 3 ranks", dot_product_across_ranks(&sw, &sw.bump(0.1).unwrap(), 3)),
        // the Poisson solve's adjoint (another solve) across the ranks
        ("ns2d, 3 ranks", dot_product_across_ranks(&ns, &w0, 3)),
    ] {
        assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "{what}: ⟨Ju, w⟩ = {lhs}, ⟨u, Jᵀw⟩ = {rhs}");
        assert!(lhs.abs() > 1e-2, "{what}: a test that can fail: ⟨Ju, w⟩ = {lhs}");
    }
}

#[test]
fn a_failure_on_one_rank_stops_every_rank_with_one_message() {
    let m = ShallowWater::new(Config { n: 64, dt: 0.02, ..Config::default() }).unwrap();
    let layout = m.layout();
    let calm = m.bump(0.1).unwrap();
    // a jet in rank 2's slab (planes 32..48 of 4 × 16), 8 planes from its
    // edges (beyond its neighbours' halos), breaks the CFL bound
    let mut x0 = calm.clone();
    let u = layout.range("u").unwrap();
    x0[u.start + 40 * 64 + 5] = 1e3;
    let (d, _) = target_and_direction(&x0);
    let errs = on_ranks(4, |c| {
        let own = Slabs::new(64, 4).unwrap().owned(c.rank());
        let mut st =
            Decomposed::<_, f64, _>::new(m, c, Par::Seq, &slab_of(&layout, own.clone(), &calm).unwrap()).unwrap();
        let xs = slab_of(&layout, own, &x0).unwrap();
        let mut loss = Misfit::new(c, &layout, &d).unwrap();
        gradient(&mut st, &mut loss, Strategy::Binomial { snapshots: 3 }, 5, &xs).unwrap_err().to_string()
    });
    for e in &errs {
        assert_eq!(e, &errs[0]);
    }
    assert!(errs[0].contains("rank 2 of 4 failed at step 0") && errs[0].contains("CFL"), "{}", errs[0]);
}

/// The acoustic model on a small 3D grid: walls along x (its Laplacian's
/// zero faces), a sponge (constant data laid out on the whole grid) and a
/// Ricker source at a point between planes `x_plane` and `x_plane + 1`;
/// a pressure bump to start from.
fn acoustic(order: usize, x_plane: f64) -> (rewind_acoustic::Acoustic, Vec<f64>) {
    let cfg = rewind_acoustic::Config {
        n: [34, 10, 10],
        order,
        sponge: 3,
        source: [(x_plane + 0.4) * 10.0, 35.0, 42.0],
        ..Default::default()
    };
    let m = rewind_acoustic::Acoustic::new(cfg).unwrap();
    let g = *m.grid();
    let mut x0 = m.at_rest();
    let u =
        g.sample3(|x, y, z| 1e-3 * (-((x - 120.0).powi(2) + (y - 40.0).powi(2) + (z - 30.0).powi(2)) / 400.0).exp());
    x0[..g.len()].copy_from_slice(&u);
    (m, x0)
}

#[test]
fn the_acoustic_model_splits_between_walls_with_its_sponge_and_source_the_same_bits() {
    // 34 planes, the 8th-order Laplacian reaching 4: a step reads 4 planes
    // each way, the recorded step's halo is 8; slabs of 34, 17, 11–12 and
    // 8–9. The first and last ranks take no ghost planes beyond the walls.
    // The source sits between planes 16 and 17 (on the edge of two slabs
    // on 2 ranks, inside one on 3) and between 8 and 9 (an edge on 4).
    for x_plane in [16.0, 8.0] {
        let (m, x0) = acoustic(8, x_plane);
        let reference = one_process(&m, &x0, 6, BINOMIAL);
        assert!(reference.2.iter().any(|&g| g.abs() > 1e-9));
        assert!(reference.4.iter().any(|&g| g.abs() > 1e-12), "the slowness's gradient is not zero");
        for ranks in 1..=4 {
            for (r, run) in on_ranks(ranks, |c| decomposed(c, &m, &x0, 6, BINOMIAL)).iter().enumerate() {
                assert_same_bits(run, &reference, &format!("source at {x_plane}, rank {r} of {ranks}"));
            }
        }
    }
    let (m, x0) = acoustic(4, 16.0);
    let walls = on_ranks(3, |c| {
        let xs = slab_of(&m.layout(), Slabs::new(34, 3).unwrap().owned(c.rank()), &x0).unwrap();
        let st = Decomposed::<_, f64, _>::new(m.clone(), c, Par::Seq, &xs).unwrap();
        (st.reach(), st.walls(), st.halo())
    });
    assert_eq!(walls, [([2, 2], true, 4); 3]);
}

/// A model that reads across x both periodically and between walls.
#[derive(Debug, Clone, Copy)]
struct Mixed(rewind_field::Grid);

impl Model for Mixed {
    fn layout(&self) -> Layout {
        Layout::new(self.0).field("u")
    }
    fn step<'id, T: rewind_sim::Number>(
        &self,
        at: &rewind_sim::StepAt<'_, 'id, T>,
        x: &rewind_sim::State<'id, T>,
    ) -> Result<rewind_sim::State<'id, T>, rewind_sim::SimError> {
        use rewind_field::{Face, Faces, WithFaces, stencils::Laplacian};
        let u = x.fields()[0];
        let walls = Faces::new([Face::Zero; 2], [Face::Periodic; 2], [Face::Periodic; 2])?;
        let w = at.ctx().apply(WithFaces::new(Laplacian, walls), &[u])?;
        Ok(rewind_sim::State::new(&[u + (w + u.laplacian()) * 0.01], &[]))
    }
}

#[test]
fn a_step_that_cannot_be_split_is_refused_by_name() {
    let g = rewind_field::Grid::periodic_square(16, 1.0).unwrap();
    let m = Mixed(g);
    let x0 = vec![0.5; g.len()];
    let errs = on_ranks(2, |c| {
        let own = Slabs::new(16, 2).unwrap().owned(c.rank());
        Decomposed::<_, f64, _>::new(m, c, Par::Seq, &slab_of(&m.layout(), own, &x0).unwrap()).unwrap_err().to_string()
    });
    assert!(
        errs[0].contains("rank 0 of 2 failed") && errs[0].contains("both periodically and between walls"),
        "{}",
        errs[0]
    );
    assert_eq!(errs[0], errs[1]);
}

#[test]
fn a_slab_thinner_than_the_halo_is_refused_with_the_ranks_that_fit() {
    let m = ShallowWater::new(Config { n: 28, dt: 0.02, ..Config::default() }).unwrap();
    let layout = m.layout();
    let x0 = m.bump(0.1).unwrap();
    let errs = on_ranks(4, |c| {
        let own = Slabs::new(28, 4).unwrap().owned(c.rank());
        let xs = slab_of(&layout, own, &x0).unwrap();
        Decomposed::<_, f64, _>::new(m, c, Par::Seq, &xs).unwrap_err()
    });
    for e in errs {
        assert!(matches!(e, DecomposeError::TooThin { planes: 7, halo: 8, below: 4, above: 4, most: 3 }), "{e}");
    }
}

#[test]
fn a_bad_initial_state_on_one_rank_is_every_rank_s_error() {
    let m = ShallowWater::new(Config { n: 34, dt: 0.02, ..Config::default() }).unwrap();
    let layout = m.layout();
    let x0 = m.bump(0.1).unwrap();
    let (d, _) = target_and_direction(&x0);
    let errs = on_ranks(3, |c| {
        let own = Slabs::new(34, 3).unwrap().owned(c.rank());
        let mut xs = slab_of(&layout, own, &x0).unwrap();
        let mut st = Decomposed::<_, f64, _>::new(m, c, Par::Seq, &xs).unwrap();
        if c.rank() == 1 {
            xs[7] = f64::NAN;
        }
        let mut loss = Misfit::new(c, &layout, &d).unwrap();
        rewind_decompose::gradient(c, &mut st, &mut loss, BINOMIAL, 4, &xs).unwrap_err().to_string()
    });
    for e in &errs {
        // the agreed message, not "rank 1 left" (which is what a rank that
        // stopped alone would leave the others with)
        assert!(
            e.contains("rank 1 of 3 failed at step 0: the initial state (or its tangent) is not finite at index 7"),
            "{e}"
        );
    }
}

/// A model whose state has a scalar beside its field.
#[derive(Debug, Clone, Copy)]
struct WithScalar(rewind_field::Grid);

impl Model for WithScalar {
    fn layout(&self) -> Layout {
        Layout::new(self.0).field("u").scalar("s")
    }
    fn step<'id, T: rewind_sim::Number>(
        &self,
        _at: &rewind_sim::StepAt<'_, 'id, T>,
        x: &rewind_sim::State<'id, T>,
    ) -> Result<rewind_sim::State<'id, T>, rewind_sim::SimError> {
        let (u, s) = (x.fields()[0], x.scalars()[0]);
        Ok(rewind_sim::State::new(&[u.laplacian() * s + u], &[s]))
    }
}

#[test]
fn a_state_with_scalars_is_refused_not_split_wrongly() {
    let g = rewind_field::Grid::periodic_square(16, 1.0).unwrap();
    let m = WithScalar(g);
    let x0 = vec![0.5; g.len() + 1];
    let errs = on_ranks(2, |c| {
        let own = Slabs::new(16, 2).unwrap().owned(c.rank());
        Decomposed::<_, f64, _>::new(m, c, Par::Seq, &slab_of(&m.layout(), own, &x0).unwrap()).unwrap_err()
    });
    for e in errs {
        assert!(matches!(e, DecomposeError::NotSplit { what: "a state with scalars" }), "{e}");
    }
}

#[test]
fn each_rank_keeps_snapshots_of_its_slab_only() {
    // store-all: one process keeps every state; each of 4 ranks its slab of
    // every state, so the ranks' snapshot bytes add up to one process's
    let m = ShallowWater::new(Config { n: 34, dt: 0.02, ..Config::default() }).unwrap();
    let layout = m.layout();
    let x0 = m.bump(0.1).unwrap();
    let (d, _) = target_and_direction(&x0);
    let mut loss = Misfit::new(&Serial, &layout, &d).unwrap();
    let one = gradient(&mut Sim::<_, f64>::new(m, Par::Seq).unwrap(), &mut loss, Strategy::StoreAll, 6, &x0).unwrap();
    let per_rank = on_ranks(4, |c| {
        let own = Slabs::new(34, 4).unwrap().owned(c.rank());
        let xs = slab_of(&layout, own.clone(), &x0).unwrap();
        let mut st = Decomposed::<_, f64, _>::new(m, c, Par::Seq, &xs).unwrap();
        let mut loss = Misfit::new(c, &layout, &d).unwrap();
        let g = rewind_decompose::gradient(c, &mut st, &mut loss, Strategy::StoreAll, 6, &xs).unwrap();
        (own.len(), g.counters.peak_snapshot_bytes)
    });
    let total: usize = per_rank.iter().map(|r| r.1).sum();
    assert_eq!(total, one.counters.peak_snapshot_bytes);
    for (planes, bytes) in per_rank {
        assert_eq!(
            bytes * 34,
            one.counters.peak_snapshot_bytes * planes,
            "a rank of {planes} planes keeps {bytes} bytes"
        );
    }
}

#[test]
fn a_step_that_fails_on_one_rank_between_two_solves_stops_every_rank_with_its_message() {
    // w passes the bound near x = 1.25π only (plane 20: rank 2 of 4's
    // slab): rank 2 stops after the first solve; the others' second solve
    // is matched by its zeros, and every rank reports rank 2's failure
    let g = rewind_field::Grid::periodic_square(32, 2.0 * std::f64::consts::PI).unwrap();
    let m = between::CheckBetweenSolves(g);
    let (calm, bump) = between::calm_and_bump(&g, 20);
    let errs = on_ranks(4, |c| {
        let own = Slabs::new(32, 4).unwrap().owned(c.rank());
        let mut st =
            Decomposed::<_, f64, _>::new(m, c, Par::Seq, &slab_of(&m.layout(), own.clone(), &calm).unwrap()).unwrap();
        let xs = slab_of(&m.layout(), own, &bump).unwrap();
        let mut next = xs.clone();
        st.step(0, &xs, &mut next).unwrap_err().to_string()
    });
    for e in &errs {
        assert_eq!(e, &errs[0]);
    }
    assert!(errs[0].contains("rank 2 of 4 failed at step 0") && errs[0].contains("|w|"), "{}", errs[0]);
}

#[test]
fn a_probe_that_fails_on_one_rank_between_two_solves_stops_every_rank_with_its_message() {
    // the first step, recorded by Decomposed::new, fails on rank 1 of 3
    // between its two solves: before each exchange of the probe the ranks
    // agree, so the others learn it there instead of waiting for rank 1
    let g = rewind_field::Grid::periodic_square(30, 2.0 * std::f64::consts::PI).unwrap();
    let m = between::CheckBetweenSolves(g);
    let (_, bump) = between::calm_and_bump(&g, 15);
    let errs = on_ranks(3, |c| {
        let own = Slabs::new(30, 3).unwrap().owned(c.rank());
        Decomposed::<_, f64, _>::new(m, c, Par::Seq, &slab_of(&m.layout(), own, &bump).unwrap())
            .unwrap_err()
            .to_string()
    });
    for e in &errs {
        assert_eq!(e, &errs[0]);
    }
    assert!(errs[0].contains("rank 1 of 3 failed at step 0") && errs[0].contains("|w|"), "{}", errs[0]);
}
