//! Ctrl-C during a long call: the computation runs on a thread of its own
//! while the calling thread waits without the GIL and asks Python every
//! 50 ms whether a signal came ([`Python::check_signals`], which runs the
//! handlers on the main thread: `KeyboardInterrupt` for SIGINT). On one,
//! it sets the problem's stop flag; the model ([`Interruptible`]) refuses
//! its next step, the checkpointed run stops as on any step error (its
//! disk snapshots removed), and the call raises the signal's exception.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use pyo3::prelude::*;
use rewind_checkpoint::StepError;
use rewind_field::SparseSpd;
use rewind_sim::{Layout, Model, Number, ParamSet, SimError, State, StepAt};

/// A model that stops at its next step once `stop` is set.
#[derive(Debug, Clone)]
pub(crate) struct Interruptible<M> {
    pub(crate) inner: M,
    pub(crate) stop: Arc<AtomicBool>,
}

impl<M: Model> Model for Interruptible<M> {
    fn layout(&self) -> Layout {
        self.inner.layout()
    }
    fn params(&self) -> ParamSet {
        self.inner.params()
    }
    fn sparse(&self) -> Result<Option<SparseSpd>, SimError> {
        self.inner.sparse()
    }
    fn fixed(&self) -> impl Iterator<Item = &[f64]> {
        self.inner.fixed()
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        if self.stop.load(Relaxed) {
            return Err(StepError::Stopped("interrupted").into());
        }
        self.inner.step(at, x)
    }
}

/// `work` on a thread of its own while this one waits without the GIL,
/// checking for signals; on a signal `stop` is set, the work runs to its
/// next step and stops, and the signal's exception is returned.
pub(crate) fn interruptible<R: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    work: impl FnOnce() -> PyResult<R> + Send,
) -> PyResult<R> {
    stop.store(false, Relaxed);
    std::thread::scope(|s| {
        let waiting = std::thread::current();
        let worker = s.spawn(move || {
            let r = work();
            waiting.unpark();
            r
        });
        let mut signal = None;
        while !worker.is_finished() {
            py.detach(|| std::thread::park_timeout(Duration::from_millis(50)));
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                stop.store(true, Relaxed);
                signal = Some(e);
            }
        }
        let r = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        stop.store(false, Relaxed);
        match signal {
            Some(e) => Err(e),
            None => r,
        }
    })
}
