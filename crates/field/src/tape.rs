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

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Add, Div, Mul, Neg, Sub};

use bumpalo::Bump;
use bumpalo::collections::Vec as BVec;
use rewind_tape::{Dual, Real};

use crate::components::Components;
use crate::fft::{PoissonFft, PoissonWork};
use crate::kernels::{self, Store};
use crate::par::{Par, for_rows, sum_rows, update, weight};
use crate::sparse::SparseSpd;
use crate::{FieldError, Grid};

/// An elementwise function of the [`Real`] trait.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Unary {
    Exp,
    Ln,
    Log1p,
    Expm1,
    Sqrt,
    Cbrt,
    Powi(i32),
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Abs,
    Recip,
}

impl Unary {
    /// Applies the function to any scalar.
    #[inline]
    pub fn apply<R: Real>(self, x: R) -> R {
        match self {
            Unary::Exp => x.exp(),
            Unary::Ln => x.ln(),
            Unary::Log1p => x.log1p(),
            Unary::Expm1 => x.expm1(),
            Unary::Sqrt => x.sqrt(),
            Unary::Cbrt => x.cbrt(),
            Unary::Powi(n) => x.powi(n),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tan => x.tan(),
            Unary::Asin => x.asin(),
            Unary::Acos => x.acos(),
            Unary::Atan => x.atan(),
            Unary::Sinh => x.sinh(),
            Unary::Cosh => x.cosh(),
            Unary::Tanh => x.tanh(),
            Unary::Abs => x.abs(),
            Unary::Recip => x.recip(),
        }
    }
    /// Its derivative, by forward mode on the scalar rules.
    #[inline]
    pub fn derivative<R: Real>(self, x: R) -> R {
        self.apply(Dual::variable(x)).eps
    }
}

/// An elementwise function of two arguments of the [`Real`] trait.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Binary {
    /// `aᵇ`
    Powf,
    /// `atan2(a, b)` (the angle of the point `(b, a)`)
    Atan2,
    Min,
    Max,
    /// `√(a² + b²)`
    Hypot,
}

impl Binary {
    /// Applies the function to any scalars.
    #[inline]
    pub fn apply<R: Real>(self, a: R, b: R) -> R {
        match self {
            Binary::Powf => a.powf(b),
            Binary::Atan2 => a.atan2(b),
            Binary::Min => a.min(b),
            Binary::Max => a.max(b),
            Binary::Hypot => a.hypot(b),
        }
    }

    /// `∂f/∂a`, by forward mode on the scalar rules.
    #[inline]
    pub fn d_first<R: Real>(self, a: R, b: R) -> R {
        self.apply(Dual::variable(a), Dual::constant(b)).eps
    }

    /// `∂f/∂b`, by forward mode on the scalar rules.
    #[inline]
    pub fn d_second<R: Real>(self, a: R, b: R) -> R {
        self.apply(Dual::constant(a), Dual::variable(b)).eps
    }
}

/// One recorded operation; operands are value ids.
#[derive(Clone, Copy)]
enum Op<'id> {
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    ScaleC(u32, f64),
    Pass(u32),
    ScaleS(u32, u32),
    AddS(u32, u32),
    Axpy(f64, u32, u32),
    AxpyS(u32, u32, u32),
    Combine(&'id [(CoefId, u32)]),
    Map(Unary, u32),
    Map2(Binary, u32, u32),
    Sum(u32),
    Dot(u32, u32),
    Shift(u32, isize, isize),
    Laplacian(u32),
    Ddx(u32),
    Ddy(u32),
    Laplacian0(u32),
    Ddx0(u32),
    Ddy0(u32),
    Arakawa(u32, u32),
    Upwind(u32, u32, u32),
    SemiLag(u32, u32, u32, f64),
    Sample(u32, &'id [usize]),
    Mask(u32, &'id [f64]),
    Poisson(u32),
    Sparse(u32),
    SAdd(u32, u32),
    SMul(u32, u32),
}

/// A recorded coefficient of [`Op::Combine`].
#[derive(Clone, Copy)]
enum CoefId {
    Const(f64),
    Scalar(u32),
}

/// A coefficient of a linear combination ([`Ctx::combine`]): a constant
/// or a scalar on the tape (a parameter, a reduction).
#[derive(Debug)]
pub enum Coef<'id, T> {
    /// A constant.
    Const(f64),
    /// A scalar on the tape: the combination is differentiated in it too.
    Scalar(Scalar<'id, T>),
}

impl<T> Clone for Coef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Coef<'_, T> {}

impl<T> From<f64> for Coef<'_, T> {
    fn from(c: f64) -> Self {
        Coef::Const(c)
    }
}
impl<'id, T> From<Scalar<'id, T>> for Coef<'id, T> {
    fn from(s: Scalar<'id, T>) -> Self {
        Coef::Scalar(s)
    }
}

#[derive(Clone, Copy)]
struct Node<'id> {
    out: u32,
    op: Op<'id>,
}

struct State<'id, T> {
    // ManuallyDrop: the arena reclaims the memory at the next reset and the
    // contents need no destructor, so the context has no drop glue.
    vals: ManuallyDrop<BVec<'id, &'id [T]>>,
    nodes: ManuallyDrop<BVec<'id, Node<'id>>>,
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
            _ => self.ctx.zeros(),
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

    /// Whether operations are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    fn zeros(&self) -> &'id [T] {
        self.arena.alloc_slice_fill_copy(self.grid.len(), T::zero())
    }

    fn push(&'id self, vals: &'id [T], op: Option<Op<'id>>) -> u32 {
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

    fn field(&'id self, vals: &'id [T], op: Option<Op<'id>>) -> Field<'id, T> {
        Field { id: self.push(vals, op), ctx: self }
    }

    fn scalar_of(&'id self, v: T, op: Option<Op<'id>>) -> Scalar<'id, T> {
        let vals = self.arena.alloc_slice_fill_copy(1, v);
        Scalar { id: self.push(vals, op), ctx: self }
    }

    /// A new zero buffer of one value per point, filled by `f`.
    fn compute(&self, f: impl FnOnce(&mut [T])) -> &'id [T] {
        let out = self.arena.alloc_slice_fill_copy(self.grid.len(), T::zero());
        f(out);
        out
    }

    /// A new buffer of one value per point, `f(k)` at point `k`: written
    /// once, without a zero-fill, on one thread; zero-filled and then
    /// written by rows where the kernels go parallel.
    fn pointwise(&self, f: impl Fn(usize) -> T + Sync + Send) -> &'id [T] {
        let (n, ny) = (self.grid.len(), self.grid.ny);
        if self.par.parallel::<T>(n, weight::ELEMENTWISE) {
            self.compute(|o| update(self.par, weight::ELEMENTWISE, o, ny, |k, d| *d = f(k)))
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
            return self.compute(|o| for_rows(self.par, weight::ELEMENTWISE, o, ny, |i, row| fill(i * ny, row)));
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

    /// `Σᵢ cᵢ xᵢ` for coefficients that are constants or tape scalars, in
    /// one pass over memory and as one node: the fused form of a sum of
    /// scaled fields (a Runge–Kutta stage combination, the terms of a
    /// right-hand side). The terms are added in order, `((c₀x₀ + c₁x₁) +
    /// c₂x₂) + …`. An empty list is the zero field.
    pub fn combine(&'id self, terms: &[(Coef<'id, T>, Field<'id, T>)]) -> Field<'id, T> {
        let Some(&(c0, x0)) = terms.first() else {
            let zeros = self.zeros();
            return self.field(zeros, None);
        };
        let coef = |c: Coef<'id, T>| match c {
            Coef::Const(c) => CoefId::Const(c),
            Coef::Scalar(s) => CoefId::Scalar(s.id),
        };
        let rec: &'id [(CoefId, u32)] = self.arena.alloc_slice_fill_iter(terms.iter().map(|&(c, x)| (coef(c), x.id)));
        let vals =
            |c: CoefId, x: u32| (c, self.val(x), if let CoefId::Scalar(s) = c { self.val(s)[0] } else { T::zero() });
        let first = vals(coef(c0), x0.id);
        let rest: &[(CoefId, &[T], T)] =
            self.arena.alloc_slice_fill_iter(terms[1..].iter().map(|&(c, x)| vals(coef(c), x.id)));
        let v = self.chunked(|start, out| {
            let len = out.len();
            let xs = |x: &'id [T]| &x[start..start + len];
            match first {
                (CoefId::Const(c), x, _) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o = x * c),
                (CoefId::Scalar(_), x, s) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o = x * s),
            }
            for &(c, x, s) in rest {
                match c {
                    CoefId::Const(c) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o += x * c),
                    CoefId::Scalar(_) => out.iter_mut().zip(xs(x)).for_each(|(o, &x)| *o += x * s),
                }
            }
        });
        self.field(v, Some(Op::Combine(rec)))
    }

    /// An input field (a copy of `data`): the state, a parameter field, a
    /// target. Its adjoint is available after a sweep.
    pub fn input(&'id self, data: &[T]) -> Result<Field<'id, T>, FieldError> {
        self.grid.check("field input", data.len())?;
        Ok(self.field(self.arena.alloc_slice_copy(data), None))
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

    /// `α x + y` with a constant `α`, in one pass.
    pub fn axpy(&'id self, alpha: f64, x: Field<'id, T>, y: Field<'id, T>) -> Field<'id, T> {
        let v = self.map2(self.val(x.id), self.val(y.id), |a, b| a * alpha + b);
        self.field(v, Some(Op::Axpy(alpha, x.id, y.id)))
    }

    /// `α x + y` with a scalar variable `α`, in one pass.
    pub fn axpy_s(&'id self, alpha: Scalar<'id, T>, x: Field<'id, T>, y: Field<'id, T>) -> Field<'id, T> {
        let s = self.val(alpha.id)[0];
        let v = self.map2(self.val(x.id), self.val(y.id), |a, b| a * s + b);
        self.field(v, Some(Op::AxpyS(alpha.id, x.id, y.id)))
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

/// The state of a reverse sweep.
struct Sweep<'a, 'id, T> {
    ctx: &'id Ctx<'id, T>,
    vals: &'a [&'id [T]],
    adj: BVec<'id, Option<&'id mut [T]>>,
}

impl<'id, T: Components> Sweep<'_, 'id, T> {
    /// The adjoint buffer of value `id` (allocated as zeros on first use).
    fn acc(&mut self, id: u32, len: usize) -> &mut [T] {
        let arena = self.ctx.arena;
        self.adj[id as usize].get_or_insert_with(|| arena.alloc_slice_fill_copy(len, T::zero()))
    }

    fn tmp(&self) -> &'id mut [T] {
        self.ctx.arena.alloc_slice_fill_copy(self.ctx.grid.len(), T::zero())
    }

    /// Adds `f(k)` to the adjoint of value `id`, elementwise (by rows for
    /// fields, sequentially for scalars and observation vectors).
    ///
    /// The first contribution to an adjoint is written, not added to zeros
    /// (one pass instead of a zero-fill and a read-modify-write).
    fn add_with(&mut self, id: u32, f: impl Fn(usize) -> T + Sync + Send) {
        let (par, n, ny) = (self.ctx.par, self.ctx.grid.len(), self.ctx.grid.ny);
        let len = self.vals[id as usize].len();
        if self.adj[id as usize].is_none() && !(len == n && par.parallel::<T>(n, weight::ELEMENTWISE)) {
            self.adj[id as usize] = Some(self.ctx.arena.alloc_slice_fill_with(len, f));
            return;
        }
        let a = self.acc(id, len);
        if len == n {
            update(par, weight::ELEMENTWISE, a, ny, |k, d| *d += f(k));
        } else {
            a.iter_mut().enumerate().for_each(|(k, d)| *d += f(k));
        }
    }

    /// Adds a linear kernel's output into the adjoint of field `id`, in
    /// place: `kernel(adjoint, Store::Add)` (or the given sign), with no
    /// temporary.
    fn add_kernel(&mut self, id: u32, sign: Store, kernel: impl FnOnce(&mut [T], Store)) {
        let n = self.ctx.grid.len();
        kernel(self.acc(id, n), sign);
    }

    /// Adds `Σₖ f(k)` over a field's points to the adjoint of scalar `id`
    /// (row sums added in row order: deterministic).
    fn add_sum(&mut self, id: u32, f: impl Fn(usize) -> T + Sync + Send) {
        let g = self.ctx.grid;
        let partials = self.ctx.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let total = sum_rows(self.ctx.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            (i * g.ny..(i + 1) * g.ny).fold(T::zero(), |s, k| s + f(k))
        });
        self.acc(id, 1)[0] += total;
    }

    fn node(&mut self, node: &Node<'id>) {
        let Some(o) = self.adj[node.out as usize].take() else { return };
        self.rule(node.op, o, self.vals[node.out as usize]);
        self.adj[node.out as usize] = Some(o);
    }

    #[allow(clippy::many_single_char_names)]
    fn rule(&mut self, op: Op<'id>, o: &[T], out: &[T]) {
        let v = |id: u32| self.vals[id as usize];
        let (g, par) = (self.ctx.grid, self.ctx.par);
        match op {
            Op::Add(a, b) => {
                self.add_with(a, |k| o[k]);
                self.add_with(b, |k| o[k]);
            }
            Op::Sub(a, b) => {
                self.add_with(a, |k| o[k]);
                self.add_with(b, |k| -o[k]);
            }
            Op::Mul(a, b) => {
                let (va, vb) = (v(a), v(b));
                self.add_with(a, |k| o[k] * vb[k]);
                self.add_with(b, |k| o[k] * va[k]);
            }
            Op::Div(a, b) => {
                let vb = v(b);
                self.add_with(a, |k| o[k] / vb[k]);
                self.add_with(b, |k| -(o[k] * out[k] / vb[k]));
            }
            Op::Neg(a) => self.add_with(a, |k| -o[k]),
            Op::ScaleC(a, c) => self.add_with(a, |k| o[k] * c),
            Op::Pass(a) => self.add_with(a, |k| o[k]),
            Op::ScaleS(f, s) => {
                let (vf, vs) = (v(f), v(s)[0]);
                self.add_with(f, |k| o[k] * vs);
                self.add_sum(s, |k| o[k] * vf[k]);
            }
            Op::AddS(f, s) => {
                self.add_with(f, |k| o[k]);
                self.add_sum(s, |k| o[k]);
            }
            Op::Axpy(alpha, x, y) => {
                self.add_with(x, |k| o[k] * alpha);
                self.add_with(y, |k| o[k]);
            }
            Op::AxpyS(s, x, y) => {
                let (vx, vs) = (v(x), v(s)[0]);
                self.add_with(x, |k| o[k] * vs);
                self.add_with(y, |k| o[k]);
                self.add_sum(s, |k| o[k] * vx[k]);
            }
            Op::Combine(terms) => {
                for &(c, x) in terms {
                    match c {
                        CoefId::Const(c) => self.add_with(x, |k| o[k] * c),
                        CoefId::Scalar(s) => {
                            let (vx, vs) = (v(x), v(s)[0]);
                            self.add_with(x, |k| o[k] * vs);
                            self.add_sum(s, |k| o[k] * vx[k]);
                        }
                    }
                }
            }
            Op::Map(u, a) => {
                let va = v(a);
                self.add_with(a, |k| o[k] * u.derivative(va[k]));
            }
            Op::Map2(f, a, b) => {
                let (va, vb) = (v(a), v(b));
                // one dual evaluation per partial and point
                self.add_with(a, |k| o[k] * f.d_first(va[k], vb[k]));
                self.add_with(b, |k| o[k] * f.d_second(va[k], vb[k]));
            }
            Op::Sum(a) => {
                let s = o[0];
                self.add_with(a, |_| s);
            }
            Op::Dot(a, b) => {
                // fields or observation vectors
                let (va, vb, s) = (v(a), v(b), o[0]);
                self.add_with(a, |k| vb[k] * s);
                self.add_with(b, |k| va[k] * s);
            }
            Op::Shift(a, di, dj) => self.add_kernel(a, Store::Add, |t, st| kernels::shift(&g, o, -di, -dj, t, st, par)),
            Op::Laplacian(a) => self.add_kernel(a, Store::Add, |t, st| kernels::laplacian(&g, o, t, st, par)),
            Op::Ddx(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddx(&g, o, t, st, par)),
            Op::Ddy(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddy(&g, o, t, st, par)),
            Op::Laplacian0(a) => self.add_kernel(a, Store::Add, |t, st| kernels::laplacian0(&g, o, t, st, par)),
            Op::Ddx0(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddx0(&g, o, t, st, par)),
            Op::Ddy0(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddy0(&g, o, t, st, par)),
            Op::Arakawa(p, q) => {
                // ⟨ō, J(p, q)⟩ = ⟨p, J(q, ō)⟩ = ⟨q, J(ō, p)⟩
                let (vp, vq) = (v(p), v(q));
                self.add_kernel(p, Store::Add, |t, st| kernels::arakawa(&g, vq, o, t, st, par));
                self.add_kernel(q, Store::Add, |t, st| kernels::arakawa(&g, o, vp, t, st, par));
            }
            Op::Upwind(q, u, w) => {
                let (qb, ub, wb) = (self.tmp(), self.tmp(), self.tmp());
                kernels::upwind_vjp(&g, v(q), v(u), v(w), o, qb, ub, wb, par);
                self.add_with(q, |k| qb[k]);
                self.add_with(u, |k| ub[k]);
                self.add_with(w, |k| wb[k]);
            }
            Op::SemiLag(q, u, w, dt) => {
                let (qb, ub, wb) = (self.tmp(), self.tmp(), self.tmp());
                kernels::semi_lagrangian_vjp(&g, v(q), v(u), v(w), dt, o, qb, ub, wb);
                self.add_with(q, |k| qb[k]);
                self.add_with(u, |k| ub[k]);
                self.add_with(w, |k| wb[k]);
            }
            Op::Sample(a, idx) => {
                let n = g.len();
                let d = self.acc(a, n);
                for (&i, &x) in idx.iter().zip(o) {
                    d[i] += x;
                }
            }
            Op::Mask(a, m) => self.add_with(a, |k| o[k] * m[k]),
            Op::Poisson(a) => {
                // P is symmetric: its adjoint is another solve
                let (solver, work) = (self.ctx.poisson, self.ctx.work);
                self.add_kernel(a, Store::Add, |t, st| solver.solve_checked(o, t, &mut work.borrow_mut(), st, par));
            }
            Op::Sparse(a) => {
                // A symmetric: b̄ = A⁻¹ x̄, with the same factorisation
                if let Some(solver) = self.ctx.sparse {
                    let t = self.tmp();
                    solver.solve_checked(o, t);
                    self.add_with(a, |k| t[k]);
                }
            }
            Op::SAdd(a, b) => {
                self.acc(a, 1)[0] += o[0];
                self.acc(b, 1)[0] += o[0];
            }
            Op::SMul(a, b) => {
                let (va, vb) = (v(a)[0], v(b)[0]);
                self.acc(a, 1)[0] += o[0] * vb;
                self.acc(b, 1)[0] += o[0] * va;
            }
        }
    }
}

impl<'id, T: Components> Field<'id, T> {
    /// The recording this field belongs to.
    pub fn ctx(&self) -> &'id Ctx<'id, T> {
        self.ctx
    }

    /// The values.
    pub fn value(&self) -> &'id [T] {
        self.ctx.val(self.id)
    }
    /// The grid the field lives on.
    pub fn grid(&self) -> &'id Grid {
        &self.ctx.grid
    }
    /// `Δa`, the 5-point Laplacian (periodic).
    pub fn laplacian(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::laplacian(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Laplacian(self.id)))
    }
    /// `∂a/∂x`, central (periodic).
    pub fn ddx(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddx(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddx(self.id)))
    }
    /// `∂a/∂y`, central (periodic).
    pub fn ddy(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddy(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddy(self.id)))
    }
    /// `Δa` with zero values outside the grid (walls).
    pub fn laplacian0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::laplacian0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Laplacian0(self.id)))
    }
    /// `∂a/∂x`, central, with zero values outside the grid.
    pub fn ddx0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddx0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddx0(self.id)))
    }
    /// `∂a/∂y`, central, with zero values outside the grid.
    pub fn ddy0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddy0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddy0(self.id)))
    }
    /// The divergence `∂u/∂x + ∂v/∂y` of `(self, v)`, central.
    pub fn divergence(self, v: Self) -> Self {
        self.ddx() + v.ddy()
    }
    /// The Arakawa Jacobian `J(self, q)` (square grids).
    pub fn arakawa(self, q: Self) -> Result<Self, FieldError> {
        let c = self.ctx;
        if c.grid.dx != c.grid.dy {
            return Err(FieldError::NotSquare { what: "the Arakawa Jacobian", dx: c.grid.dx, dy: c.grid.dy });
        }
        let v = c.compute(|o| kernels::arakawa(&c.grid, self.value(), q.value(), o, Store::Overwrite, c.par));
        Ok(c.field(v, Some(Op::Arakawa(self.id, q.id))))
    }
    /// Upwind advection `u ∂a/∂x + v ∂a/∂y`.
    pub fn upwind(self, u: Self, v: Self) -> Self {
        let c = self.ctx;
        let out = c.compute(|o| kernels::upwind(&c.grid, self.value(), u.value(), v.value(), o, c.par));
        c.field(out, Some(Op::Upwind(self.id, u.id, v.id)))
    }
    /// Semi-Lagrangian advection over `dt` by bilinear interpolation.
    pub fn semi_lagrangian(self, u: Self, v: Self, dt: f64) -> Self {
        let c = self.ctx;
        let out = c.compute(|o| kernels::semi_lagrangian(&c.grid, self.value(), u.value(), v.value(), dt, o, c.par));
        c.field(out, Some(Op::SemiLag(self.id, u.id, v.id, dt)))
    }
    /// Periodic roll: `out[i, j] = a[i − di, j − dj]`.
    pub fn shift(self, di: isize, dj: isize) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::shift(&c.grid, self.value(), di, dj, o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Shift(self.id, di, dj)))
    }
    /// An elementwise function.
    pub fn map(self, f: Unary) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), move |x| f.apply(x));
        c.field(v, Some(Op::Map(f, self.id)))
    }
    /// An elementwise function of two fields, `f(self, other)`.
    pub fn map2(self, other: Self, f: Binary) -> Self {
        let c = self.ctx;
        let v = c.map2(self.value(), other.value(), move |a, b| f.apply(a, b));
        c.field(v, Some(Op::Map2(f, self.id, other.id)))
    }
    /// `m ⊙ a` with a fixed mask (or weight field) `m`.
    pub fn mask(self, m: &[f64]) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.check("mask", m.len())?;
        let m: &'id [f64] = c.arena.alloc_slice_copy(m);
        let a = self.value();
        let v = c.compute(|o| update(c.par, weight::ELEMENTWISE, o, c.grid.ny, |k, d| *d = a[k] * m[k]));
        Ok(c.field(v, Some(Op::Mask(self.id, m))))
    }
    /// The values at the given linear indices (an observation operator).
    pub fn sample(self, idx: &[usize]) -> Result<Obs<'id, T>, FieldError> {
        let c = self.ctx;
        let n = c.grid.len();
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            return Err(FieldError::OutOfRange { what: "sample", index: bad, len: n });
        }
        let idx: &'id [usize] = c.arena.alloc_slice_copy(idx);
        let a = self.value();
        let vals = c.arena.alloc_slice_fill_iter(idx.iter().map(|&i| a[i]));
        Ok(Obs { id: c.push(vals, Some(Op::Sample(self.id, idx))), ctx: c })
    }
    /// The zero-mean solution `ψ` of `Δψ = −(a − mean a)` for the 5-point
    /// Laplacian (periodic, exact, by FFT; see [`PoissonFft`]).
    pub fn poisson(self) -> Self {
        let c = self.ctx;
        let out = c.arena.alloc_slice_fill_copy(c.grid.len(), T::zero());
        c.poisson.solve_checked(self.value(), out, &mut c.work.borrow_mut(), Store::Overwrite, c.par);
        c.field(out, Some(Op::Poisson(self.id)))
    }
    /// `A⁻¹ a` with the sparse SPD operator attached to the tape
    /// ([`FieldTape::with_sparse`]).
    pub fn solve_sparse(self) -> Result<Self, FieldError> {
        let c = self.ctx;
        let solver = c.sparse.ok_or(FieldError::NoSolver)?;
        let out = c.arena.alloc_slice_fill_copy(c.grid.len(), T::zero());
        solver.solve_checked(self.value(), out);
        Ok(c.field(out, Some(Op::Sparse(self.id))))
    }

    /// `Σ a`.
    pub fn sum(self) -> Scalar<'id, T> {
        let c = self.ctx;
        let (g, a) = (c.grid, self.value());
        let partials = c.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let s = sum_rows(c.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            a[i * g.ny..(i + 1) * g.ny].iter().fold(T::zero(), |s, &x| s + x)
        });
        c.scalar_of(s, Some(Op::Sum(self.id)))
    }
    /// `Σ a / n`.
    pub fn mean(self) -> Scalar<'id, T> {
        self.sum() * (1.0 / self.ctx.grid.len() as f64)
    }
    /// `⟨a, b⟩ = Σ aᵢbᵢ`.
    pub fn dot(self, b: Self) -> Scalar<'id, T> {
        let c = self.ctx;
        let (g, x, y) = (c.grid, self.value(), b.value());
        let partials = c.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let s = sum_rows(c.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            (i * g.ny..(i + 1) * g.ny).fold(T::zero(), |s, k| s + x[k] * y[k])
        });
        c.scalar_of(s, Some(Op::Dot(self.id, b.id)))
    }
    /// `‖a‖² = Σ aᵢ²`.
    pub fn sqnorm(self) -> Scalar<'id, T> {
        self.dot(self)
    }
}

impl<'id, T: Components> Scalar<'id, T> {
    /// The value.
    pub fn value(&self) -> T {
        self.ctx.val(self.id)[0]
    }
}

impl<'id, T: Components> Obs<'id, T> {
    /// The values.
    pub fn value(&self) -> &'id [T] {
        self.ctx.val(self.id)
    }
    /// `‖obs − data‖²`: the misfit to observed values.
    pub fn misfit(self, data: &[f64]) -> Result<Scalar<'id, T>, FieldError> {
        let c = self.ctx;
        let v = self.value();
        if data.len() != v.len() {
            return Err(FieldError::Length { what: "observations", expected: v.len(), got: data.len() });
        }
        let d = c.arena.alloc_slice_fill_iter(v.iter().zip(data).map(|(&x, &y)| x - y));
        let diff = Obs { id: c.push(d, Some(Op::Pass(self.id))), ctx: c };
        // Σ dₖ² as a dot product of the difference with itself
        let s = diff.value().iter().fold(T::zero(), |s, &x| s + x * x);
        let sq = c.arena.alloc_slice_fill_copy(1, s);
        Ok(Scalar { id: c.push(sq, Some(Op::Dot(diff.id, diff.id))), ctx: c })
    }
}

macro_rules! field_binop {
    ($tr:ident, $m:ident, $op:ident, $f:expr) => {
        impl<'id, T: Components> $tr for Field<'id, T> {
            type Output = Self;
            fn $m(self, b: Self) -> Self {
                let c = self.ctx;
                let v = c.map2(self.value(), b.value(), $f);
                c.field(v, Some(Op::$op(self.id, b.id)))
            }
        }
    };
}
field_binop!(Add, add, Add, |a, b| a + b);
field_binop!(Sub, sub, Sub, |a, b| a - b);
field_binop!(Mul, mul, Mul, |a, b| a * b);
field_binop!(Div, div, Div, |a, b| a / b);

impl<T: Components> Neg for Field<'_, T> {
    type Output = Self;
    fn neg(self) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), |a| -a);
        c.field(v, Some(Op::Neg(self.id)))
    }
}
impl<T: Components> Mul<f64> for Field<'_, T> {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), move |a| a * s);
        c.field(v, Some(Op::ScaleC(self.id, s)))
    }
}
impl<'id, T: Components> Mul<Field<'id, T>> for f64 {
    type Output = Field<'id, T>;
    fn mul(self, f: Field<'id, T>) -> Field<'id, T> {
        f * self
    }
}
impl<T: Components> Add<f64> for Field<'_, T> {
    type Output = Self;
    fn add(self, s: f64) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), move |a| a + s);
        c.field(v, Some(Op::Pass(self.id)))
    }
}
impl<T: Components> Sub<f64> for Field<'_, T> {
    type Output = Self;
    fn sub(self, s: f64) -> Self {
        self + (-s)
    }
}
impl<'id, T: Components> Mul<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn mul(self, s: Scalar<'id, T>) -> Self {
        let c = self.ctx;
        let sv = s.value();
        let v = c.map1(self.value(), move |a| a * sv);
        c.field(v, Some(Op::ScaleS(self.id, s.id)))
    }
}
impl<'id, T: Components> Add<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn add(self, s: Scalar<'id, T>) -> Self {
        let c = self.ctx;
        let sv = s.value();
        let v = c.map1(self.value(), move |a| a + sv);
        c.field(v, Some(Op::AddS(self.id, s.id)))
    }
}
impl<T: Components> Add for Scalar<'_, T> {
    type Output = Self;
    fn add(self, b: Self) -> Self {
        self.ctx.scalar_of(self.value() + b.value(), Some(Op::SAdd(self.id, b.id)))
    }
}
impl<T: Components> Mul for Scalar<'_, T> {
    type Output = Self;
    fn mul(self, b: Self) -> Self {
        self.ctx.scalar_of(self.value() * b.value(), Some(Op::SMul(self.id, b.id)))
    }
}
impl<T: Components> Mul<f64> for Scalar<'_, T> {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        self.ctx.scalar_of(self.value() * s, Some(Op::ScaleC(self.id, s)))
    }
}
