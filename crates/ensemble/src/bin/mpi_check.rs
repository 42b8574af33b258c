//! The ensemble layer checked on real MPI ranks (run by `tests/mpi.rs`
//! under `mpirun -n 1, 2, 3, 4`):
//!
//! * `sum N` — the ensemble sum of `N` members whose sum depends on the
//!   order of addition equals, bit for bit, the sum each rank computes
//!   alone in member order; rank 0 prints the result's bits, which the
//!   test compares across rank counts;
//! * `fail M`, `panic M` — member `M` fails (an error, a panic): every rank
//!   must stop with the same error naming member `M` and rank `M mod R`;
//! * `everywhere R` — rank `R`'s own set-up fails: every rank must stop;
//! * `lbfgs N` — L-BFGS on the [`Sum`] of `N` members, replicated on every
//!   rank: every rank must end at the same iterate, and rank 0 prints its
//!   bits (compared across rank counts by the test).
//!
//! Exits 0 when the check holds on this rank, 1 with a message otherwise.

use rewind_ensemble::{Ensemble, EnsembleError, Sum};
use rewind_optim::{Lbfgs, OptimError, Options, Problem, minimize};

/// `fₘ(x) = Σᵢ (1 + m) (xᵢ − sin(m + i))² + (xᵢ₊₁ − xᵢ²)²`: a member.
struct Member(usize);

impl Problem for Member {
    fn dim(&self) -> usize {
        6
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        let mut g = vec![0.0; x.len()];
        self.value_grad(x, &mut g)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        let a = 1.0 + self.0 as f64;
        let mut f = 0.0;
        g.iter_mut().for_each(|g| *g = 0.0);
        for i in 0..x.len() {
            let r = x[i] - ((self.0 + i) as f64).sin();
            f += a * r * r;
            g[i] += 2.0 * a * r;
            if i + 1 < x.len() {
                let q = x[i + 1] - x[i] * x[i];
                f += q * q;
                g[i + 1] += 2.0 * q;
                g[i] -= 4.0 * q * x[i];
            }
        }
        Ok(f)
    }
}

fn member(m: usize) -> Vec<f64> {
    (0..64).map(|i| ((m * 7 + i) as f64).sin() * 10f64.powi((m % 4) as i32 * 5 - 8)).collect()
}

fn check(e: &Ensemble, mode: &str, arg: usize) -> Result<String, String> {
    let (rank, size) = (e.rank(), e.size());
    match mode {
        "sum" => {
            let mut done = Vec::new();
            let s = e.sum(arg, |m| Ok::<_, String>(member(m)), |d, _| done.push(d)).map_err(|e| e.to_string())?;
            let mut reference = member(0);
            for m in 1..arg {
                reference.iter_mut().zip(member(m)).for_each(|(t, x)| *t += x);
            }
            if s.iter().zip(&reference).any(|(a, b)| a.to_bits() != b.to_bits()) {
                return Err(format!("rank {rank} of {size}: the ensemble sum differs from the member-order sum"));
            }
            if done.last() != Some(&arg) || done.len() != arg.div_ceil(size) {
                return Err(format!("rank {rank}: progress {done:?}"));
            }
            let bits = s.iter().fold(0u64, |h, x| h.rotate_left(5) ^ x.to_bits());
            Ok(format!("sum of {arg} members on {size} rank(s): bits {bits:016x}"))
        }
        "fail" | "panic" => {
            let err = e
                .map(
                    8,
                    |m| {
                        if m == arg {
                            if mode == "panic" {
                                panic!("member {m} panicked on purpose");
                            }
                            return Err(format!("simulation blew up at step {}", 10 + m));
                        }
                        Ok(member(m))
                    },
                    |_, _| {},
                )
                .err()
                .ok_or("the failing member was not reported")?;
            match &err {
                EnsembleError::Member { member, rank: r, size: s, .. }
                    if *member == arg && *r == arg % size && *s == size =>
                {
                    Ok(err.to_string())
                }
                _ => Err(format!("rank {rank}: unexpected error {err}")),
            }
        }
        "everywhere" => {
            let err = e
                .everywhere(|| if rank == arg { Err("cannot read snapshot 3: checksum mismatch") } else { Ok(()) })
                .err()
                .ok_or("the failing rank was not reported")?;
            match &err {
                EnsembleError::Rank { rank: r, .. } if *r == arg => Ok(err.to_string()),
                _ => Err(format!("rank {rank}: unexpected error {err}")),
            }
        }
        "lbfgs" => {
            let mut sum = Sum::new(e, (0..arg).map(Member).collect()).map_err(|e| e.to_string())?;
            let opts = Options { grad_tol: 1e-10, max_iter: 100 };
            let r = minimize(&mut Lbfgs::new(5), &mut sum, &[0.0; 6], &opts).map_err(|e| e.to_string())?;
            let bits = r.state.x.iter().fold(0u64, |h, x| h.rotate_left(5) ^ x.to_bits());
            let iters = r.state.iter;
            let evals = r.counts.grad;
            Ok(format!(
                "L-BFGS on a sum of {arg} members on {size} rank(s): {iters} iterations, {evals} gradients, x bits {bits:016x}, f {:.17e}",
                r.state.f
            ))
        }
        _ => Err(format!("unknown mode {mode} (sum N | fail M | panic M | everywhere R | lbfgs N)")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("sum");
    let arg: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let e = match Ensemble::mpi() {
        Ok(e) => e,
        Err(err) => {
            eprintln!("mpi_check: {err}");
            std::process::exit(1);
        }
    };
    if mode == "panic" {
        // the panic is expected: keep its report off the output
        std::panic::set_hook(Box::new(|_| {}));
    }
    let result = check(&e, mode, arg);
    let root = e.is_root();
    drop(e); // finalises MPI before exit
    match result {
        Ok(line) => {
            if root {
                println!("{line}");
            }
        }
        Err(msg) => {
            eprintln!("mpi_check: {msg}");
            std::process::exit(1);
        }
    }
}
