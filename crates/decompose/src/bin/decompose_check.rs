//! A decomposed run on real MPI ranks (run by `tests/mpi.rs` under
//! `mpirun -n 1…4`, oversubscribed), and the timing of one.
//!
//! `decompose_check same <n> <steps> [ns2d]`: shallow water (or ns2d, whose
//! Poisson solve is split across the ranks) on an `n × n` grid split over
//! the ranks — the final state, the gradient of a terminal misfit
//! (binomial:3) and a Hessian-vector product — gathered on every rank and
//! compared bit for bit with one process (computed on rank 0); prints
//! `same bits …` or exits 1.
//!
//! `decompose_check fault <n> <rank>`: a state that breaks the CFL bound
//! in the slab of `rank` only; every rank must stop with one message.
//! `decompose_check nan <n> <rank>`: a NaN in that rank's slab of the
//! initial state (the driver's own check, agreed), likewise.
//! `decompose_check between <n> <rank>`: a model whose check between two
//! Poisson solves fails in that rank's slab only; likewise (the rank makes
//! the rest of the step's exchanges with zeros); `between <n> <rank> probe`:
//! the same in the first step, the probe `Decomposed::new` records (the
//! ranks agree before each of its exchanges).
//!
//! `decompose_check comm`: what messages cost here — the ring exchange
//! per message size and the agreement — printed by rank 0.
//!
//! `decompose_check time <n> <steps> <threads> [plain] [ns2d|acoustic]`:
//! seconds of one gradient (binomial:32) of the decomposed run, best of 3,
//! printed by rank 0; with `plain` (one rank), of the model's own stepper
//! instead (no slabs, no ghost planes: one process as it runs without
//! MPI). `acoustic`: the 3D acoustic model on an `n³` grid (8th order, a
//! sponge of 10 points, a Ricker source at the centre, walls along x).
//! `decompose_check same <n> <steps> acoustic` compares it bit for bit.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use rewind_checkpoint::{Strategy, gradient, hvp};
use rewind_decompose::{Comm, Decomposed, Misfit, gather, slab_of};
use rewind_ensemble::Mpi;
use rewind_field::{Dual, Par};
use rewind_shallow_water::{Config, ShallowWater};
use rewind_sim::{Model, Sim};

#[path = "../../tests/support/between.rs"]
mod checks;

fn main() -> ExitCode {
    let comm = match Mpi::init() {
        Ok(c) => Rc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    // numbers by position after the mode; words anywhere after it
    let nums: Vec<usize> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    let num = |i: usize, d: usize| nums.get(i).copied().unwrap_or(d);
    let word = |w: &str| args.iter().skip(1).any(|a| a == w);
    let out = match (args.first().map(String::as_str), word("ns2d")) {
        (Some("same"), _) if word("acoustic") => acoustic_case(num(0, 34)).and_then(|c| same(&comm, c, num(1, 6))),
        (Some("time"), _) if word("acoustic") => {
            acoustic_case(num(0, 128)).and_then(|c| time(&comm, c, num(1, 100), num(2, 1), word("plain")))
        }
        (Some("same"), true) => ns2d_case(num(0, 32)).and_then(|c| same(&comm, c, num(1, 4))),
        (Some("same"), false) => sw_case(num(0, 24)).and_then(|c| same(&comm, c, num(1, 6))),
        (Some("fault"), _) => fault(&comm, num(0, 24), num(1, 1), false),
        (Some("nan"), _) => fault(&comm, num(0, 24), num(1, 1), true),
        (Some("between"), _) => between(&comm, num(0, 32), num(1, 1), word("probe")),
        (Some("comm"), _) => comm_costs(&comm),
        (Some("time"), true) => {
            ns2d_case(num(0, 256)).and_then(|c| time(&comm, c, num(1, 100), num(2, 1), word("plain")))
        }
        (Some("time"), false) => {
            sw_case(num(0, 128)).and_then(|c| time(&comm, c, num(1, 100), num(2, 1), word("plain")))
        }
        _ => Err("usage: decompose_check same|fault|nan|between|time|comm …".into()),
    };
    match out {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // one write of the whole line: the ranks' lines must not
            // interleave mid-line on mpirun's shared stderr
            use std::io::Write;
            let line = format!("rank {}: error: {e}\n", comm.rank());
            let _ = std::io::stderr().write_all(line.as_bytes());
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// A model, its name, and on its whole grid an initial state, a target and
/// a direction.
struct Case<M> {
    name: &'static str,
    model: M,
    x0: Vec<f64>,
    d: Vec<f64>,
    v: Vec<f64>,
}

fn sw(n: usize) -> Result<ShallowWater, Box<dyn std::error::Error>> {
    Ok(ShallowWater::new(Config { n, dt: 0.02, ..Config::default() })?)
}

/// A target near `x0` and a direction.
fn near(x0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = x0.iter().enumerate().map(|(i, &v)| v + 0.01 * (i as f64 * 0.37).sin()).collect();
    let v = (0..x0.len()).map(|i| (i as f64 * 0.11).cos()).collect();
    (d, v)
}

fn sw_case(n: usize) -> Result<Case<ShallowWater>, Box<dyn std::error::Error>> {
    let model = sw(n)?;
    let x0 = model.bump(0.1)?;
    let (d, v) = near(&x0);
    Ok(Case { name: "shallow water", model, x0, d, v })
}

/// The acoustic model on an `n³` grid (10 m spacing, 8th order, a sponge
/// of 10 points — 3 below 34 points —, the source at the centre) from a
/// pressure bump off the centre.
fn acoustic_case(n: usize) -> Result<Case<rewind_acoustic::Acoustic>, Box<dyn std::error::Error>> {
    let h = 10.0;
    let centre = n as f64 * h / 2.0;
    let cfg = rewind_acoustic::Config {
        n: [n; 3],
        order: 8,
        sponge: if n >= 64 { 10 } else { 3 },
        source: [centre + 0.4 * h, centre, centre],
        ..Default::default()
    };
    let model = rewind_acoustic::Acoustic::new(cfg)?;
    let g = *model.grid();
    let mut x0 = model.at_rest();
    let (c, w) = (centre * 0.7, (n as f64 * h / 8.0).powi(2));
    let u = g.sample3(|x, y, z| 1e-3 * (-((x - c).powi(2) + (y - centre).powi(2) + (z - centre).powi(2)) / w).exp());
    x0[..g.len()].copy_from_slice(&u);
    let (d, v) = near(&x0);
    Ok(Case { name: "acoustic", model, x0, d, v })
}

/// ns2d with the benchmark's physics (dt 0.005, its forcing) at `n × n`,
/// from its initial condition A.
fn ns2d_case(n: usize) -> Result<Case<rewind_ns2d::Ns2d>, Box<dyn std::error::Error>> {
    use rewind_ns2d::spec;
    let p = spec::params(spec::Size::L);
    let h = 2.0 * std::f64::consts::PI / n as f64;
    let forcing = rewind_field::Grid::new(n, n, h, h)?.sample(|_, y| 0.1 * (4.0 * y).sin());
    let model = rewind_ns2d::Ns2d::new(rewind_ns2d::Params { n, forcing, ..p })?;
    let x0 = spec::field_a(n);
    let (d, v) = near(&x0);
    Ok(Case { name: "ns2d", model, x0, d, v })
}

fn bits(v: &[f64]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, x| (h ^ x.to_bits()).wrapping_mul(0x100_0000_01b3))
}

fn same<M: Model + Clone + 'static>(comm: &Rc<Mpi>, case: Case<M>, steps: usize) -> Res {
    let Case { name, model: m, x0, d, v } = case;
    let layout = m.layout();
    let n = layout.grid().nx;
    let own = rewind_decompose::Slabs::new(n, comm.size())?.owned(comm.rank());
    let (x0s, vs) = (slab_of(&layout, own.clone(), &x0)?, slab_of(&layout, own, &v)?);
    let s = Strategy::Binomial { snapshots: 3 };
    let mut st = Decomposed::<_, f64, _>::new(m.clone(), comm, Par::Seq, &x0s)?;
    let mut loss = Misfit::new(comm, &layout, &d)?;
    let g = rewind_decompose::gradient(comm, &mut st, &mut loss, s, steps, &x0s)?;
    let mut st2 = Decomposed::<_, Dual<f64>, _>::new(m.clone(), comm, Par::Seq, &x0s)?;
    let h = rewind_decompose::hvp(comm, &mut st2, &mut loss, s, steps, &x0s, &vs)?;
    let fin: Vec<f64> = g.final_state.clone();
    let (fin, grad, hv) =
        (gather(comm, &layout, &fin)?, gather(comm, &layout, &g.grad_x0)?, gather(comm, &layout, &h.hvp)?);
    if comm.rank() == 0 {
        // one process: the model's own stepper, the same objective alone
        let one = rewind_ensemble::Serial;
        let mut sim = Sim::<_, f64>::new(m.clone(), Par::Seq)?;
        let mut l1 = Misfit::new(&one, &layout, &d)?;
        let g1 = gradient(&mut sim, &mut l1, s, steps, &x0)?;
        let mut sim2 = Sim::<_, Dual<f64>>::new(m, Par::Seq)?;
        let h1 = hvp(&mut sim2, &mut l1, s, steps, &x0, &v)?;
        let pairs = [
            ("objective", vec![g.objective], vec![g1.objective]),
            ("final state", fin, g1.final_state),
            ("gradient", grad, g1.grad_x0),
            ("hvp", hv, h1.hvp),
        ];
        for (what, a, b) in &pairs {
            if bits(a) != bits(b) {
                let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
                return Err(format!(
                    "{name}: {what} differs from one process on {} ranks (largest difference {worst:e})",
                    comm.size()
                )
                .into());
            }
        }
        println!(
            "same bits on {} ranks ({name}): objective, final state, gradient and hvp bits {:016x}",
            comm.size(),
            bits(&pairs[2].1)
        );
    }
    Ok(())
}

fn fault(comm: &Rc<Mpi>, n: usize, bad: usize, nan: bool) -> Res {
    let Case { model: m, x0: calm, d, .. } = sw_case(n)?;
    let layout = m.layout();
    let mut x0 = calm.clone();
    let own = rewind_decompose::Slabs::new(n, comm.size())?.owned(bad);
    // a fast jet (or a NaN) in the middle of rank `bad`'s slab
    let u = layout.range("u")?;
    let mid = (own.start + own.end) / 2 * n;
    x0[u.start + mid] = if nan { f64::NAN } else { 1e3 };
    let mine = rewind_decompose::Slabs::new(n, comm.size())?.owned(comm.rank());
    let calm = slab_of(&layout, mine.clone(), &calm)?;
    let x0s = slab_of(&layout, mine, &x0)?;
    let mut st = Decomposed::<_, f64, _>::new(m, comm, Par::Seq, &calm)?;
    let mut loss = Misfit::new(comm, &layout, &d)?;
    rewind_decompose::gradient(comm, &mut st, &mut loss, Strategy::Binomial { snapshots: 3 }, 5, &x0s)?;
    Err("the run did not fail".into())
}

fn between(comm: &Rc<Mpi>, n: usize, bad: usize, probe: bool) -> Res {
    let g = rewind_field::Grid::periodic_square(n, 2.0 * std::f64::consts::PI)?;
    let m = checks::CheckBetweenSolves(g);
    let slabs = rewind_decompose::Slabs::new(n, comm.size())?;
    let (b, own) = (slabs.owned(bad), slabs.owned(comm.rank()));
    let (calm, bump) = checks::calm_and_bump(&g, (b.start + b.end) / 2);
    // with `probe`, the first step (recorded by Decomposed::new) fails
    let first = if probe { &bump } else { &calm };
    let mut st = Decomposed::<_, f64, _>::new(m, comm, Par::Seq, &slab_of(&m.layout(), own.clone(), first)?)?;
    let xs = slab_of(&m.layout(), own, &bump)?;
    let mut next = xs.clone();
    rewind_checkpoint::Stepper::step(&mut st, 0, &xs, &mut next)?;
    Err("the step did not fail".into())
}

fn time<M: Model + Clone + 'static>(comm: &Rc<Mpi>, case: Case<M>, steps: usize, threads: usize, plain: bool) -> Res {
    let Case { name, model: m, x0, d, .. } = case;
    let layout = m.layout();
    let n = layout.grid().nx;
    let own = rewind_decompose::Slabs::new(n, comm.size())?.owned(comm.rank());
    let x0s = slab_of(&layout, own, &x0)?;
    let par = if threads > 1 { Par::Threads(threads) } else { Par::Seq };
    let s = Strategy::Binomial { snapshots: 32 };
    let mut best = f64::INFINITY;
    let mut loss = Misfit::new(comm, &layout, &d)?;
    let what = if plain && comm.size() == 1 {
        let mut st = Sim::<_, f64>::new(m, par)?;
        for _ in 0..3 {
            let t0 = Instant::now();
            gradient(&mut st, &mut loss, s, steps, &x0s)?;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        "one process, the model's own stepper".to_string()
    } else {
        let mut st = Decomposed::<_, f64, _>::new(m, comm, par, &x0s)?;
        for _ in 0..3 {
            let t0 = Instant::now();
            rewind_decompose::gradient(comm, &mut st, &mut loss, s, steps, &x0s)?;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        format!("decomposed, halo {} planes", st.halo())
    };
    if comm.rank() == 0 {
        println!(
            "{name} {n}{} × {steps}, gradient binomial:32, {} rank(s) × {threads} thread(s): {best:.3} s (best of 3; {what})",
            if layout.grid().nz > 1 { "³" } else { "²" },
            comm.size()
        );
    }
    Ok(())
}

/// Message costs on this machine: the ring exchange (each rank sends
/// `bytes` to each neighbour) per message size, and the agreement (an
/// all-gather of one byte), each the median of many.
fn comm_costs(comm: &Rc<Mpi>) -> Res {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if comm.rank() == 0 {
        println!("{} ranks: µs per operation (median), effective bandwidth per rank", comm.size());
    }
    for bytes in [8usize, 1 << 10, 8 << 10, 64 << 10, 512 << 10, 4 << 20] {
        let msg = vec![1u8; bytes];
        let reps = ((64usize << 20) / bytes.max(1 << 10)).clamp(20, 2000);
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps + 5 {
            let t0 = Instant::now();
            comm.ring(&msg, &msg)?;
            times.push(t0.elapsed().as_secs_f64());
        }
        let t = median(times.split_off(5));
        if comm.rank() == 0 {
            println!("ring, {bytes:>8} B each way: {:9.2} µs, {:6.2} GB/s", t * 1e6, 2.0 * bytes as f64 / t / 1e9);
        }
    }
    let mut times = Vec::new();
    for _ in 0..2005 {
        let t0 = Instant::now();
        comm.all_gather(&[0u8])?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let t = median(times.split_off(5));
    if comm.rank() == 0 {
        println!("agreement (all-gather of 1 B): {:.2} µs", t * 1e6);
    }
    Ok(())
}
