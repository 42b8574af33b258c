//! The array-level tape.
//!
//! A simulation step is a few dozen whole-array operations. Taping every
//! scalar would cost memory and time per grid point, so rewind records
//! **operations on arrays**: each appends one node (its kind and the ids
//! of its operands) and one output buffer. The reverse sweep applies each
//! node's VJP rule — written once, generically over [`Real`] — from last to
//! first. Running the same code with `T = Dual<f64>` gives tangents
//! (forward mode, the JVP), and sweeping that tape gives Hessian-vector
//! products (forward-over-reverse).
//!
//! All buffers — values, adjoints, temporaries of the rules, the node list
//! itself — live in a bump arena owned by the [`FieldTape`], reset in O(1)
//! at the start of every step; a tape reused step after step performs no
//! heap allocation once its arena has grown to the size of a step (a test
//! counts allocations).
//!
//! **One code path.** [`FieldTape::eval`] runs the same step function
//! without recording: the values are computed by the same kernels, only
//! the node list is not written (and [`Ctx::backward`] reports
//! [`FieldError::NotRecording`]).
//!
//! Handles ([`Field`], [`Scalar`], [`Obs`]) are branded with the lifetime
//! of their recording, as in the scalar tape: they cannot outlive it or be
//! mixed with another one. A [`Field`] always has one value per grid point,
//! so the arithmetic between fields needs no length checks.
//!
//! A handle cannot leave its recording:
//!
//! ```compile_fail,E0521
//! use rewind_field::{FieldTape, Grid, Par};
//! let mut tape = FieldTape::<f64>::new(Grid::line(4, 1.0).unwrap());
//! let mut escaped = None;
//! tape.record(Par::Seq, |c| escaped = Some(c.input(&[0.0; 4]).unwrap())); // error: the handle escapes
//! ```
//!
//! and handles of two recordings cannot be combined:
//!
//! ```compile_fail,E0521
//! use rewind_field::{FieldTape, Grid, Par};
//! let g = Grid::line(4, 1.0).unwrap();
//! let (mut t1, mut t2) = (FieldTape::<f64>::new(g), FieldTape::<f64>::new(g));
//! t1.record(Par::Seq, |a| {
//!     let x = a.input(&[1.0; 4]).unwrap();
//!     t2.record(Par::Seq, |b| {
//!         let y = b.input(&[2.0; 4]).unwrap();
//!         let _ = x + y; // error: the brands 'a and 'b differ
//!     });
//! });
//! ```

mod combine;
mod field;
mod scalar;
pub mod stencil;
mod sweep;

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

use bumpalo::Bump;
use bumpalo::collections::Vec as BVec;

use crate::components::Components;
use crate::fft::{PoissonFft, PoissonWork};
use crate::par::{Par, fill_rows, weight};
use crate::sparse::SparseSpd;
use crate::{FieldError, Grid};

pub use combine::Coef;
use sweep::{Node, Op, Sweep};

struct State<'id, T> {
    // ManuallyDrop: the arena reclaims the memory at the next reset and the
    // contents need no destructor, so the context has no drop glue.
    vals: ManuallyDrop<BVec<'id, &'id [T]>>,
    nodes: ManuallyDrop<BVec<'id, Node<'id, T>>>,
}

/// A reusable array tape for fields on one grid.
pub struct FieldTape<T> {
    grid: Grid,
    poisson: PoissonFft,
    /// The FFT work space, kept across steps (zeroing it every solve cost
    /// 32 bytes of sequential writes per point).
    work: RefCell<PoissonWork>,
    sparse: Option<SparseSpd>,
    arena: Bump,
    hint: (usize, usize),
    _t: PhantomData<T>,
}

impl<T> fmt::Debug for FieldTape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldTape")
            .field("grid", &self.grid)
            .field("arena_bytes", &self.arena.allocated_bytes())
            .finish()
    }
}

impl<T: Components> FieldTape<T> {
    /// A tape for fields on `grid` (with its FFT Poisson solver planned);
    /// the arena grows on first use.
    pub fn new(grid: Grid) -> Self {
        let poisson = PoissonFft::new(grid);
        let work = RefCell::new(poisson.work());
        FieldTape { grid, poisson, work, sparse: None, arena: Bump::new(), hint: (0, 0), _t: PhantomData }
    }

    /// Attaches a factorised sparse SPD operator for [`Field::solve_sparse`]
    /// (e.g. [`SparseSpd::dirichlet_laplacian`]); it must have one unknown
    /// per grid point.
    pub fn with_sparse(mut self, solver: SparseSpd) -> Result<Self, FieldError> {
        self.grid.check("sparse operator", solver.len())?;
        self.sparse = Some(solver);
        Ok(self)
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Bytes the arena holds from the system (its capacity).
    pub fn arena_bytes(&self) -> usize {
        self.arena.allocated_bytes()
    }

    /// Records one computation (typically one time step); the arena is
    /// reset first. Nothing recorded can outlive the closure.
    pub fn record<R>(&mut self, par: Par, f: impl for<'id> FnOnce(&'id Ctx<'id, T>) -> R) -> R {
        self.run(par, true, f)
    }

    /// Runs the same kind of closure without recording (the primal).
    pub fn eval<R>(&mut self, par: Par, f: impl for<'id> FnOnce(&'id Ctx<'id, T>) -> R) -> R {
        self.run(par, false, f)
    }

    fn run<R>(&mut self, par: Par, recording: bool, f: impl for<'id> FnOnce(&'id Ctx<'id, T>) -> R) -> R {
        self.arena.reset();
        let ctx = Ctx {
            arena: &self.arena,
            poisson: &self.poisson,
            work: &self.work,
            sparse: self.sparse.as_ref(),
            grid: self.grid,
            par,
            recording,
            st: RefCell::new(State {
                vals: ManuallyDrop::new(BVec::with_capacity_in(self.hint.0, &self.arena)),
                nodes: ManuallyDrop::new(BVec::with_capacity_in(self.hint.1, &self.arena)),
            }),
        };
        let out = f(&ctx);
        let st = ctx.st.borrow();
        self.hint = (self.hint.0.max(st.vals.len()), self.hint.1.max(st.nodes.len()));
        out
    }
}

/// The recording (or evaluating) context handed to a step function.
pub struct Ctx<'id, T> {
    arena: &'id Bump,
    poisson: &'id PoissonFft,
    work: &'id RefCell<PoissonWork>,
    sparse: Option<&'id SparseSpd>,
    grid: Grid,
    par: Par,
    recording: bool,
    st: RefCell<State<'id, T>>,
}

impl<T> fmt::Debug for Ctx<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st.borrow();
        f.debug_struct("Ctx")
            .field("grid", &self.grid)
            .field("values", &st.vals.len())
            .field("nodes", &st.nodes.len())
            .finish()
    }
}

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        pub struct $name<'id, T> {
            id: u32,
            ctx: &'id Ctx<'id, T>,
        }
        impl<T> Clone for $name<'_, T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $name<'_, T> {}
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(#{})", stringify!($name), self.id)
            }
        }
    };
}

handle!(
    /// A field on the context's grid: one value per point.
    Field
);
handle!(
    /// A scalar (a reduction, a parameter).
    Scalar
);
handle!(
    /// A vector of observations (point samples of a field).
    Obs
);

/// Adjoints from a reverse sweep.
pub struct Adjoints<'id, T> {
    ctx: &'id Ctx<'id, T>,
    adj: BVec<'id, Option<&'id mut [T]>>,
}

impl<T> fmt::Debug for Adjoints<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adjoints").field("values", &self.adj.len()).finish()
    }
}

impl<'id, T: Components> Adjoints<'id, T> {
    /// The adjoint of a field (zeros if the output does not depend on it).
    pub fn field(&self, f: Field<'id, T>) -> &[T] {
        match self.adj.get(f.id as usize) {
            Some(Some(a)) => a,
            _ => self.ctx.zeroed(),
        }
    }
    /// The adjoint of a scalar.
    pub fn scalar(&self, s: Scalar<'id, T>) -> T {
        match self.adj.get(s.id as usize) {
            Some(Some(a)) => a[0],
            _ => T::zero(),
        }
    }
}

impl<'id, T: Components> Ctx<'id, T> {
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// How the kernels of this recording use threads (for a model's own
    /// loops over field values, with [`crate::par`]).
    pub fn par(&self) -> Par {
        self.par
    }

    /// Whether operations are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// A new buffer of one zero per point, zero-filled by rows by the
    /// threads that go on to write it (see [`fill_rows`]).
    pub(super) fn zeroed(&self) -> &'id mut [T] {
        self.fill(weight::ELEMENTWISE, |_, _| {})
    }

    /// A new buffer of one value per point, each row zeroed and then written
    /// by `f(i, row)` (on threads where the work of `weight` pays).
    pub(super) fn fill(&self, weight: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) -> &'id mut [T] {
        let n = self.grid.len();
        let out = self.arena.alloc_slice_fill_copy(n, MaybeUninit::uninit());
        fill_rows(self.par, weight, out, self.grid.ny, T::zero(), f)
    }

    fn push(&'id self, vals: &'id [T], op: Option<Op<'id, T>>) -> u32 {
        let mut st = self.st.borrow_mut();
        let id = st.vals.len() as u32;
        st.vals.push(vals);
        if let (true, Some(op)) = (self.recording, op) {
            st.nodes.push(Node { out: id, op });
        }
        id
    }

    #[inline]
    fn val(&self, id: u32) -> &'id [T] {
        self.st.borrow().vals[id as usize]
    }

    fn field(&'id self, vals: &'id [T], op: Option<Op<'id, T>>) -> Field<'id, T> {
        Field { id: self.push(vals, op), ctx: self }
    }

    fn scalar_of(&'id self, v: T, op: Option<Op<'id, T>>) -> Scalar<'id, T> {
        let vals = self.arena.alloc_slice_fill_copy(1, v);
        Scalar { id: self.push(vals, op), ctx: self }
    }

    /// A new zero buffer of one value per point, filled by `f`.
    fn compute(&self, f: impl FnOnce(&mut [T])) -> &'id [T] {
        let out = self.zeroed();
        f(out);
        out
    }

    /// A new buffer of one value per point, `f(k)` at point `k`: written
    /// once, without a zero-fill, on one thread; by rows (each zeroed in
    /// cache first) where the kernels go parallel.
    fn pointwise(&self, f: impl Fn(usize) -> T + Sync + Send) -> &'id [T] {
        let (n, ny) = (self.grid.len(), self.grid.ny);
        if self.par.parallel::<T>(n, weight::ELEMENTWISE) {
            self.fill(weight::ELEMENTWISE, |i, row| row.iter_mut().enumerate().for_each(|(j, d)| *d = f(i * ny + j)))
        } else {
            self.arena.alloc_slice_fill_with(n, f)
        }
    }

    /// An elementwise map of one or two fields into a new buffer.
    fn map1(&self, a: &[T], f: impl Fn(T) -> T + Sync + Send) -> &'id [T] {
        self.pointwise(|k| f(a[k]))
    }

    fn map2(&self, a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync + Send) -> &'id [T] {
        self.pointwise(|k| f(a[k], b[k]))
    }

    /// A new buffer of one value per point, written by `fill(start, out)`
    /// in pieces (`out` the values from point `start` on; `fill` must
    /// overwrite all of it). On one thread the pieces go through a small
    /// buffer that stays in L1 and are appended: no zero-fill, one pass
    /// over the output however many passes `fill` makes over its piece.
    fn chunked(&self, fill: impl Fn(usize, &mut [T]) + Sync + Send) -> &'id [T] {
        const CHUNK: usize = 256;
        let (n, ny) = (self.grid.len(), self.grid.ny);
        if self.par.parallel::<T>(n, weight::ELEMENTWISE) {
            return self.fill(weight::ELEMENTWISE, |i, row| fill(i * ny, row));
        }
        let mut out = BVec::with_capacity_in(n, self.arena);
        let mut buf = [T::zero(); CHUNK];
        for start in (0..n).step_by(CHUNK) {
            let piece = &mut buf[..CHUNK.min(n - start)];
            fill(start, piece);
            out.extend_from_slice(piece);
        }
        out.into_bump_slice()
    }

    /// An input field (a copy of `data`): the state, a parameter field, a
    /// target. Its adjoint is available after a sweep.
    pub fn input(&'id self, data: &[T]) -> Result<Field<'id, T>, FieldError> {
        self.grid.check("field input", data.len())?;
        let ny = self.grid.ny;
        let copy = self.fill(weight::ELEMENTWISE, |i, row| row.copy_from_slice(&data[i * ny..(i + 1) * ny]));
        Ok(self.field(copy, None))
    }

    /// A field sampled from `f(x, y)` at the grid points (a constant).
    pub fn sampled(&'id self, f: impl Fn(f64, f64) -> f64) -> Field<'id, T> {
        let g = self.grid;
        let vals = self.arena.alloc_slice_fill_with(g.len(), |k| {
            let (i, j) = (k / g.ny, k % g.ny);
            T::from_f64(f(i as f64 * g.dx, j as f64 * g.dy))
        });
        self.field(vals, None)
    }

    /// An input scalar (a parameter such as a viscosity).
    pub fn scalar(&'id self, v: T) -> Scalar<'id, T> {
        self.scalar_of(v, None)
    }

    /// Reverse sweep seeded with `d(output)/d(scalar) = 1`.
    pub fn gradient(&'id self, s: Scalar<'id, T>) -> Result<Adjoints<'id, T>, FieldError> {
        self.backward(&[], &[(s, T::one())])
    }

    /// Reverse sweep seeded with adjoints on fields and scalars: the
    /// adjoints of `Σ ⟨f̄, f⟩ + Σ s̄ s`.
    pub fn backward(
        &'id self,
        fields: &[(Field<'id, T>, &[T])],
        scalars: &[(Scalar<'id, T>, T)],
    ) -> Result<Adjoints<'id, T>, FieldError> {
        if !self.recording {
            return Err(FieldError::NotRecording);
        }
        let st = self.st.borrow();
        let n = self.grid.len();
        let mut adj = BVec::with_capacity_in(st.vals.len(), self.arena);
        adj.extend((0..st.vals.len()).map(|_| None));
        let mut sweep = Sweep { ctx: self, vals: &st.vals, adj };
        for &(f, seed) in fields {
            self.grid.check("field seed", seed.len())?;
            let a = sweep.acc(f.id, n);
            for (x, &s) in a.iter_mut().zip(seed) {
                *x += s;
            }
        }
        for &(s, seed) in scalars {
            sweep.acc(s.id, 1)[0] += seed;
        }
        for node in st.nodes.iter().rev() {
            sweep.node(node);
        }
        Ok(Adjoints { ctx: self, adj: sweep.adj })
    }
}
