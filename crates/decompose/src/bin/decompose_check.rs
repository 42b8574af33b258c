//! A decomposed run on real MPI ranks (run by `tests/mpi.rs` under
//! `mpirun -n 1…4`, oversubscribed), and the timing of one.
//!
//! `decompose_check same <n> <steps>`: shallow water on an `n × n` grid
//! split over the ranks — the final state, the gradient of a terminal
//! misfit (binomial:3) and a Hessian-vector product — gathered on every
//! rank and compared bit for bit with one process (computed on rank 0);
//! prints `same bits …` or exits 1.
//!
//! `decompose_check fault <n> <rank>`: a state that breaks the CFL bound
//! in the slab of `rank` only; every rank must stop with one message.
//! `decompose_check nan <n> <rank>`: a NaN in that rank's slab of the
//! initial state (the driver's own check, agreed), likewise.
//!
//! `decompose_check comm`: what messages cost here — the ring exchange
//! per message size and the agreement — printed by rank 0.
//!
//! `decompose_check time <n> <steps> <threads>`: seconds of one gradient
//! (binomial:32) of the decomposed run, best of 3, printed by rank 0;
//! with a fifth argument `plain` (one rank), of the model's own stepper
//! instead (no slabs, no ghost planes: one process as it runs without MPI).

use std::process::ExitCode;
use std::time::Instant;

use rewind_checkpoint::{Strategy, gradient, hvp};
use rewind_decompose::{Comm, Decomposed, Misfit, gather, slab_of};
use rewind_ensemble::Mpi;
use rewind_field::{Dual, Par};
use rewind_shallow_water::{Config, ShallowWater};
use rewind_sim::{Model, Sim};

fn main() -> ExitCode {
    let comm = match Mpi::init() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let out = match args.first().map(String::as_str) {
        Some("same") => same(&comm, num(1, 24), num(2, 6)),
        Some("fault") => fault(&comm, num(1, 24), num(2, 1), false),
        Some("nan") => fault(&comm, num(1, 24), num(2, 1), true),
        Some("comm") => comm_costs(&comm),
        Some("time") => time(&comm, num(1, 128), num(2, 100), num(3, 1), args.get(4).is_some_and(|a| a == "plain")),
        _ => Err("usage: decompose_check same|fault|time|comm …".into()),
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
type Data = (Vec<f64>, Vec<f64>, Vec<f64>);

fn model(n: usize) -> Result<ShallowWater, Box<dyn std::error::Error>> {
    Ok(ShallowWater::new(Config { n, dt: 0.02, ..Config::default() })?)
}

/// An initial state, a target and a direction on the whole grid.
fn data(m: &ShallowWater) -> Result<Data, Box<dyn std::error::Error>> {
    let x0 = m.bump(0.1)?;
    let d: Vec<f64> = x0.iter().enumerate().map(|(i, &v)| v + 0.01 * (i as f64 * 0.37).sin()).collect();
    let v: Vec<f64> = (0..x0.len()).map(|i| (i as f64 * 0.11).cos()).collect();
    Ok((x0, d, v))
}

fn bits(v: &[f64]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, x| (h ^ x.to_bits()).wrapping_mul(0x100_0000_01b3))
}

fn same(comm: &Mpi, n: usize, steps: usize) -> Res {
    let m = model(n)?;
    let layout = m.layout();
    let (x0, d, v) = data(&m)?;
    let own = rewind_decompose::Slabs::new(n, comm.size())?.owned(comm.rank());
    let (x0s, vs) = (slab_of(&layout, own.clone(), &x0)?, slab_of(&layout, own, &v)?);
    let s = Strategy::Binomial { snapshots: 3 };
    let mut st = Decomposed::<_, f64, _>::new(m, comm, Par::Seq, &x0s)?;
    let mut loss = Misfit::new(comm, &layout, &d)?;
    let g = rewind_decompose::gradient(comm, &mut st, &mut loss, s, steps, &x0s)?;
    let mut st2 = Decomposed::<_, Dual<f64>, _>::new(m, comm, Par::Seq, &x0s)?;
    let h = rewind_decompose::hvp(comm, &mut st2, &mut loss, s, steps, &x0s, &vs)?;
    let fin: Vec<f64> = g.final_state.clone();
    let (fin, grad, hv) =
        (gather(comm, &layout, &fin)?, gather(comm, &layout, &g.grad_x0)?, gather(comm, &layout, &h.hvp)?);
    if comm.rank() == 0 {
        // one process: the model's own stepper, the same objective alone
        let one = rewind_ensemble::Serial;
        let mut sim = Sim::<_, f64>::new(m, Par::Seq)?;
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
                    "{what} differs from one process on {} ranks (largest difference {worst:e})",
                    comm.size()
                )
                .into());
            }
        }
        println!(
            "same bits on {} ranks: objective, final state, gradient and hvp bits {:016x}",
            comm.size(),
            bits(&pairs[2].1)
        );
    }
    Ok(())
}

fn fault(comm: &Mpi, n: usize, bad: usize, nan: bool) -> Res {
    let m = model(n)?;
    let layout = m.layout();
    let (mut x0, d, _) = data(&m)?;
    let own = rewind_decompose::Slabs::new(n, comm.size())?.owned(bad);
    // a fast jet (or a NaN) in the middle of rank `bad`'s slab
    let u = layout.range("u")?;
    let mid = (own.start + own.end) / 2 * n;
    x0[u.start + mid] = if nan { f64::NAN } else { 1e3 };
    let mine = rewind_decompose::Slabs::new(n, comm.size())?.owned(comm.rank());
    let calm = slab_of(&layout, mine.clone(), &m.bump(0.1)?)?;
    let x0s = slab_of(&layout, mine, &x0)?;
    let mut st = Decomposed::<_, f64, _>::new(m, comm, Par::Seq, &calm)?;
    let mut loss = Misfit::new(comm, &layout, &d)?;
    rewind_decompose::gradient(comm, &mut st, &mut loss, Strategy::Binomial { snapshots: 3 }, 5, &x0s)?;
    Err("the run did not fail".into())
}

fn time(comm: &Mpi, n: usize, steps: usize, threads: usize, plain: bool) -> Res {
    let m = model(n)?;
    let layout = m.layout();
    let (x0, d, _) = data(&m)?;
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
            "shallow water {n}² × {steps}, gradient binomial:32, {} rank(s) × {threads} thread(s): {best:.3} s (best of 3; {what})",
            comm.size()
        );
    }
    Ok(())
}

/// Message costs on this machine: the ring exchange (each rank sends
/// `bytes` to each neighbour) per message size, and the agreement (an
/// all-gather of one byte), each the median of many.
fn comm_costs(comm: &Mpi) -> Res {
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
