//! Snapshot stores whose every operation the ranks agree on, and the
//! driver's entry points over them: a decomposed run's checkpoints.
//!
//! Every rank runs the same schedule, so every rank writes, reads and
//! drops the snapshot of the same step at the same moment — of its own
//! slab: a snapshot costs `1/R` of the state per rank, a RAM budget is per
//! rank, and a disk level writes one checksummed file per rank and
//! snapshot (each rank's [`DiskStore`] in its own directory). [`Agreed`]
//! gathers every operation's outcome: a snapshot that fails its checksum
//! on one rank is every rank's error, naming the rank and the step,
//! instead of one rank stopping while the others wait for it in the next
//! exchange.

use rewind_checkpoint::{
    DiskScalar, DiskStore, DriverError, HvpOutcome, Objective, Outcome, RamStore, SnapshotStore, StepError, Stepper,
    StoreError, Strategy,
};
use rewind_field::{Dual, Real};

use crate::{Comm, agree};

/// The store `S` on this rank, each operation's outcome agreed by every
/// rank (a collective per operation).
#[derive(Debug)]
pub struct Agreed<'c, S, C> {
    inner: S,
    comm: &'c C,
}

impl<'c, S, C: Comm> Agreed<'c, S, C> {
    /// `inner`, agreed over `comm`'s ranks.
    pub fn new(inner: S, comm: &'c C) -> Self {
        Agreed { inner, comm }
    }

    fn agreed(&self, step: usize, r: Result<(), StoreError>) -> Result<(), StoreError> {
        agree(self.comm, step, r.map_err(|e| e.to_string()))
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))
    }
}

impl<T, S: SnapshotStore<T>, C: Comm> SnapshotStore<T> for Agreed<'_, S, C> {
    fn put(&mut self, step: usize, state: &[T]) -> Result<(), StoreError> {
        let r = self.inner.put(step, state);
        self.agreed(step, r)
    }
    fn get(&mut self, step: usize, out: &mut [T]) -> Result<(), StoreError> {
        let r = self.inner.get(step, out);
        self.agreed(step, r)
    }
    fn remove(&mut self, step: usize) -> Result<(), StoreError> {
        let r = self.inner.remove(step);
        self.agreed(step, r)
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn bytes(&self) -> usize {
        self.inner.bytes()
    }
}

/// [`rewind_checkpoint::run_strategy`] for a decomposed run: `strategy`
/// over `stepper` (this rank's [`Decomposed`](crate::Decomposed)) from this
/// rank's slab `x0`, snapshots in RAM and, where the strategy has a disk
/// level, in this rank's [`DiskStore`] under `disk_dir` — every store
/// operation agreed by all ranks.
pub fn run_strategy<T, S, O, C>(
    comm: &C,
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[T],
    disk_dir: &std::path::Path,
) -> Result<Outcome<T>, DriverError>
where
    T: DiskScalar + Real + 'static,
    S: Stepper<T> + ?Sized,
    O: Objective<T> + ?Sized,
    C: Comm,
{
    let schedule = strategy.schedule(steps)?;
    let mut ram = RamStore::new();
    let disk = if strategy.budget(steps)[1] > 0 { DiskStore::new(disk_dir).map(Some) } else { Ok(None) };
    let local = disk.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let failed = |e: &dyn std::fmt::Display| DriverError::Store {
        step: 0,
        source: StoreError::Io(std::io::Error::other(e.to_string())),
    };
    agree(comm, 0, local).map_err(|e| failed(&e))?;
    match disk.map_err(|e| failed(&e))? {
        Some(mut d) => run_on(comm, stepper, objective, &schedule, x0, [&mut ram, &mut d]),
        None => run_on(comm, stepper, objective, &schedule, x0, [&mut ram, &mut RamStore::new()]),
    }
}

/// The driver ([`rewind_checkpoint::run`]) over `schedule` with this rank's
/// snapshots in `stores` (RAM, then disk), every store operation agreed by
/// all ranks ([`Agreed`]): what [`run_strategy`] runs once its stores are
/// made, for a caller with stores of its own.
pub fn run_on<T, S, O, C>(
    comm: &C,
    stepper: &mut S,
    objective: &mut O,
    schedule: &rewind_checkpoint::Schedule,
    x0: &[T],
    stores: [&mut dyn SnapshotStore<T>; 2],
) -> Result<Outcome<T>, DriverError>
where
    T: Real + 'static,
    S: Stepper<T> + ?Sized,
    O: Objective<T> + ?Sized,
    C: Comm,
{
    // what the driver checks first, on each rank alone, agreed
    let local = if x0.len() != stepper.state_len() {
        Err(format!("the initial state has {} values, this rank's slab {}", x0.len(), stepper.state_len()))
    } else {
        match rewind_checkpoint::first_non_finite(x0) {
            Some(i) => {
                Err(format!("the initial state (or its tangent) is not finite at index {i} of this rank's slab"))
            }
            None => Ok(()),
        }
    };
    agree(comm, 0, local).map_err(|e| DriverError::Step { step: 0, source: StepError::model(e) })?;
    let [ram, disk] = stores;
    rewind_checkpoint::run(
        stepper,
        objective,
        schedule,
        x0,
        [&mut Agreed::new(ram, comm), &mut Agreed::new(disk, comm)],
    )
}

/// The objective and its gradient with respect to this rank's slab of the
/// initial state (a disk level in the system's temporary directory).
pub fn gradient<S, O, C>(
    comm: &C,
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[f64],
) -> Result<Outcome<f64>, DriverError>
where
    S: Stepper<f64> + ?Sized,
    O: Objective<f64> + ?Sized,
    C: Comm,
{
    run_strategy(comm, stepper, objective, strategy, steps, x0, &std::env::temp_dir())
}

/// A Hessian-vector product `∇²J(x₀) v` on this rank's slab (of `x0` and
/// `v`), by the same schedule over dual numbers
/// ([`rewind_checkpoint::hvp`], decomposed).
pub fn hvp<S, O, C>(
    comm: &C,
    stepper: &mut S,
    objective: &mut O,
    strategy: Strategy,
    steps: usize,
    x0: &[f64],
    v: &[f64],
) -> Result<HvpOutcome, DriverError>
where
    S: Stepper<Dual<f64>> + ?Sized,
    O: Objective<Dual<f64>> + ?Sized,
    C: Comm,
{
    // the direction's length agreed (its values are checked with the
    // initial state's, as tangents)
    let local =
        (v.len() != x0.len()).then(|| format!("the direction v has {} values, this rank's slab {}", v.len(), x0.len()));
    agree(comm, 0, local.map_or(Ok(()), Err))
        .map_err(|e| DriverError::Step { step: 0, source: StepError::model(e) })?;
    let xd: Vec<Dual<f64>> = x0.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let out = run_strategy(comm, stepper, objective, strategy, steps, &xd, &std::env::temp_dir())?;
    Ok(HvpOutcome {
        objective: out.objective.re,
        gradient: out.grad_x0.iter().map(|d| d.re).collect(),
        hvp: out.grad_x0.iter().map(|d| d.eps).collect(),
        counters: out.counters,
    })
}
