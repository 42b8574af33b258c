//! A model written in Python: its right-hand side is called once with
//! symbolic fields ([`Expr`]), which record every operation into a graph;
//! the graph is then a Rust [`Model`] ([`Traced`]) that the engine steps
//! on the tape — the primal, the recorded step and the sweep, for `f64`
//! and for dual numbers, under every schedule — with no Python in the loop.
//! Each node is the field operation a Rust model would call, in the order
//! the Python code wrote them, so a right-hand side written the way a Rust
//! one is gives the same bits.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rewind_field::{Components, Field, Grid, Scalar, Unary};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, SimError, State, StepAt};
use smallvec::SmallVec;

/// A named field operation of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op1 {
    Neg,
    Map(Unary),
    Laplacian,
    Ddx,
    Ddy,
    DxPlus,
    DxMinus,
    DyPlus,
    DyMinus,
    AvgXPlus,
    AvgXMinus,
    AvgYPlus,
    AvgYMinus,
    Shift(isize, isize),
}

/// An arithmetic operation of two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op2 {
    Add,
    Sub,
    Mul,
    Div,
}

/// One node of a traced right-hand side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Node {
    /// Field `k` of the stage's state.
    State(usize),
    /// Scalar parameter `k`.
    Param(usize),
    /// A number.
    Const(f64),
    One(Op1, usize),
    Two(Op2, usize, usize),
}

/// The graph being traced: each node and whether it is a field.
pub(crate) type Graph = Arc<Mutex<Vec<(Node, bool)>>>;

/// A symbolic field (or scalar parameter) of a right-hand side being
/// traced: arithmetic with fields, parameters and numbers, the `Real`
/// functions and the built-in stencils record operations.
#[pyclass(module = "rewind", frozen)]
pub(crate) struct Expr {
    graph: Graph,
    id: usize,
    field: bool,
}

/// An operand of arithmetic: a traced value or a number.
#[derive(FromPyObject)]
pub(crate) enum Operand<'py> {
    Expr(PyRef<'py, Expr>),
    Number(f64),
}

fn push(graph: &Graph, node: Node, field: bool) -> Expr {
    let mut g = graph.lock().unwrap_or_else(|e| e.into_inner());
    g.push((node, field));
    Expr { graph: graph.clone(), id: g.len() - 1, field }
}

impl Expr {
    pub(crate) fn leaf(graph: &Graph, node: Node, field: bool) -> Expr {
        push(graph, node, field)
    }
    pub(crate) fn id(&self) -> usize {
        self.id
    }
    pub(crate) fn is_field(&self) -> bool {
        self.field
    }
    fn same_graph(&self, other: &Expr) -> PyResult<()> {
        if Arc::ptr_eq(&self.graph, &other.graph) {
            Ok(())
        } else {
            Err(PyValueError::new_err("these values come from two different traces"))
        }
    }
    fn two(&self, op: Op2, other: Operand<'_>, swapped: bool) -> PyResult<Expr> {
        let (id, field) = match other {
            Operand::Expr(e) => {
                self.same_graph(&e)?;
                (e.id, e.field)
            }
            Operand::Number(x) => (push(&self.graph, Node::Const(x), false).id, false),
        };
        let (a, b) = if swapped { (id, self.id) } else { (self.id, id) };
        Ok(push(&self.graph, Node::Two(op, a, b), self.field || field))
    }
    fn one(&self, op: Op1) -> PyResult<Expr> {
        if !self.field && !matches!(op, Op1::Neg | Op1::Map(_)) {
            return Err(PyTypeError::new_err(format!("{op:?} is an operation on fields, not on a scalar parameter")));
        }
        Ok(push(&self.graph, Node::One(op, self.id), self.field))
    }
}

#[pymethods]
impl Expr {
    fn __add__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Add, o, false)
    }
    fn __radd__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Add, o, true)
    }
    fn __sub__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Sub, o, false)
    }
    fn __rsub__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Sub, o, true)
    }
    fn __mul__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Mul, o, false)
    }
    fn __rmul__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Mul, o, true)
    }
    fn __truediv__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Div, o, false)
    }
    fn __rtruediv__(&self, o: Operand<'_>) -> PyResult<Expr> {
        self.two(Op2::Div, o, true)
    }
    fn __neg__(&self) -> PyResult<Expr> {
        self.one(Op1::Neg)
    }
    /// `x ** k` for an integer `k`.
    fn __pow__(&self, k: i32, modulo: Option<i64>) -> PyResult<Expr> {
        if modulo.is_some() {
            return Err(PyTypeError::new_err("pow with a modulus"));
        }
        self.one(Op1::Map(Unary::Powi(k)))
    }
    fn exp(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Exp))
    }
    fn log(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Ln))
    }
    fn sqrt(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Sqrt))
    }
    fn sin(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Sin))
    }
    fn cos(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Cos))
    }
    fn tanh(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Tanh))
    }
    fn __abs__(&self) -> PyResult<Expr> {
        self.one(Op1::Map(Unary::Abs))
    }
    /// The 5-point Laplacian.
    fn laplacian(&self) -> PyResult<Expr> {
        self.one(Op1::Laplacian)
    }
    /// Centred `∂/∂x`.
    fn ddx(&self) -> PyResult<Expr> {
        self.one(Op1::Ddx)
    }
    /// Centred `∂/∂y`.
    fn ddy(&self) -> PyResult<Expr> {
        self.one(Op1::Ddy)
    }
    /// C-grid `(a[i+1] − a[i]) / dx`.
    fn dx_plus(&self) -> PyResult<Expr> {
        self.one(Op1::DxPlus)
    }
    /// C-grid `(a[i] − a[i−1]) / dx`.
    fn dx_minus(&self) -> PyResult<Expr> {
        self.one(Op1::DxMinus)
    }
    /// C-grid `(a[j+1] − a[j]) / dy`.
    fn dy_plus(&self) -> PyResult<Expr> {
        self.one(Op1::DyPlus)
    }
    /// C-grid `(a[j] − a[j−1]) / dy`.
    fn dy_minus(&self) -> PyResult<Expr> {
        self.one(Op1::DyMinus)
    }
    /// C-grid `(a[i] + a[i+1]) / 2`.
    fn avg_x_plus(&self) -> PyResult<Expr> {
        self.one(Op1::AvgXPlus)
    }
    /// C-grid `(a[i−1] + a[i]) / 2`.
    fn avg_x_minus(&self) -> PyResult<Expr> {
        self.one(Op1::AvgXMinus)
    }
    /// C-grid `(a[j] + a[j+1]) / 2`.
    fn avg_y_plus(&self) -> PyResult<Expr> {
        self.one(Op1::AvgYPlus)
    }
    /// C-grid `(a[j−1] + a[j]) / 2`.
    fn avg_y_minus(&self) -> PyResult<Expr> {
        self.one(Op1::AvgYMinus)
    }
    /// Periodic roll: `out[i, j] = a[i − di, j − dj]`.
    fn shift(&self, di: isize, dj: isize) -> PyResult<Expr> {
        self.one(Op1::Shift(di, dj))
    }
    /// A linear stencil from a table of `(di, dj, c)`: `Σ c · a[i + di, j
    /// + dj]`, summed in the table's order (each term a periodic shift).
    fn stencil(&self, table: Vec<(isize, isize, f64)>) -> PyResult<Expr> {
        if !self.field {
            return Err(PyTypeError::new_err("a stencil is an operation on fields, not on a scalar parameter"));
        }
        let mut sum: Option<Expr> = None;
        for (di, dj, c) in table {
            let at = if (di, dj) == (0, 0) { self.id } else { self.one(Op1::Shift(-di, -dj))?.id };
            let k = push(&self.graph, Node::Const(c), false).id;
            let term = push(&self.graph, Node::Two(Op2::Mul, at, k), true);
            sum = Some(match sum {
                None => term,
                Some(s) => push(&self.graph, Node::Two(Op2::Add, s.id, term.id), true),
            });
        }
        sum.ok_or_else(|| PyValueError::new_err("an empty stencil table"))
    }
    fn __repr__(&self) -> String {
        format!("<traced {} #{}>", if self.field { "field" } else { "scalar" }, self.id)
    }
}

/// A traced right-hand side as a model: `x' = rhs(x, p)` on a periodic
/// grid, stepped by an explicit integrator.
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    pub(crate) grid: Grid,
    pub(crate) fields: Vec<String>,
    pub(crate) params: Vec<(String, f64)>,
    pub(crate) nodes: Arc<Vec<Node>>,
    /// The node of each field's tendency, in the state's order.
    pub(crate) outputs: Vec<usize>,
    pub(crate) integrator: Integrator,
    pub(crate) dt: f64,
}

/// A value while the graph is evaluated.
#[derive(Clone, Copy)]
enum V<'id, T> {
    F(Field<'id, T>),
    S(Scalar<'id, T>),
    C(f64),
}

/// `a op b` for operands of any types with the four operations.
macro_rules! arith {
    ($op:expr, $a:expr, $b:expr) => {
        match $op {
            Op2::Add => $a + $b,
            Op2::Sub => $a - $b,
            Op2::Mul => $a * $b,
            Op2::Div => $a / $b,
        }
    };
}

fn two<'id, T: Components>(op: Op2, a: V<'id, T>, b: V<'id, T>) -> V<'id, T> {
    use V::*;
    // a number or a scalar divided by a field: its reciprocal times it
    let over = |x: Field<'id, T>| x.map(Unary::Recip);
    match (a, b) {
        (F(a), F(b)) => F(arith!(op, a, b)),
        (F(a), S(b)) => F(arith!(op, a, b)),
        (F(a), C(b)) => F(arith!(op, a, b)),
        (S(a), F(b)) if op == Op2::Div => F(over(b) * a),
        (C(a), F(b)) if op == Op2::Div => F(over(b) * a),
        (S(a), F(b)) => F(match op {
            Op2::Add => a + b,
            Op2::Sub => a - b,
            _ => a * b,
        }),
        (C(a), F(b)) => F(match op {
            Op2::Add => a + b,
            Op2::Sub => a - b,
            _ => a * b,
        }),
        (S(a), S(b)) => S(arith!(op, a, b)),
        (S(a), C(b)) => S(arith!(op, a, b)),
        (C(a), S(b)) => S(arith!(op, a, b)),
        (C(a), C(b)) => C(arith!(op, a, b)),
    }
}

fn one<'id, T: Components>(op: Op1, a: V<'id, T>) -> Result<V<'id, T>, SimError> {
    let bad = || SimError::Layout(format!("{op:?} of a scalar in a traced model"));
    Ok(match (op, a) {
        (Op1::Neg, V::F(a)) => V::F(-a),
        (Op1::Neg, V::S(a)) => V::S(-a),
        (Op1::Neg, V::C(a)) => V::C(-a),
        (Op1::Map(u), V::F(a)) => V::F(a.map(u)),
        (Op1::Map(u), V::S(a)) => V::S(a.map(u)),
        (Op1::Map(u), V::C(a)) => V::C(u.apply(a)),
        (op, V::F(a)) => V::F(match op {
            Op1::Laplacian => a.laplacian(),
            Op1::Ddx => a.ddx(),
            Op1::Ddy => a.ddy(),
            Op1::DxPlus => a.dx_plus(),
            Op1::DxMinus => a.dx_minus(),
            Op1::DyPlus => a.dy_plus(),
            Op1::DyMinus => a.dy_minus(),
            Op1::AvgXPlus => a.avg_x_plus(),
            Op1::AvgXMinus => a.avg_x_minus(),
            Op1::AvgYPlus => a.avg_y_plus(),
            Op1::AvgYMinus => a.avg_y_minus(),
            Op1::Shift(di, dj) => a.shift(di, dj),
            Op1::Neg | Op1::Map(_) => unreachable!("matched above"),
        }),
        _ => return Err(bad()),
    })
}

impl Traced {
    /// The tendencies of the state `s` with the parameters `p`.
    fn rhs<'id, T: Components>(&self, s: &State<'id, T>, p: &[Scalar<'id, T>]) -> Result<State<'id, T>, SimError> {
        let fields = s.fields();
        // (on the stack for graphs of up to 256 nodes: a step allocates
        // nothing in steady state, as every model's must not)
        let mut v: SmallVec<[V<'id, T>; 256]> = SmallVec::with_capacity(self.nodes.len());
        for n in self.nodes.iter() {
            let x = match *n {
                Node::State(k) => V::F(fields[k]),
                Node::Param(k) => V::S(p[k]),
                Node::Const(c) => V::C(c),
                Node::One(op, a) => one(op, v[a])?,
                Node::Two(op, a, b) => two(op, v[a], v[b]),
            };
            v.push(x);
        }
        let out: SmallVec<[Field<'id, T>; 8]> = self
            .outputs
            .iter()
            .map(|&k| match v[k] {
                V::F(f) => Ok(f),
                _ => Err(SimError::Layout("a traced tendency is not a field".into())),
            })
            .collect::<Result<_, _>>()?;
        Ok(State::new(&out, &[]))
    }
}

impl Model for Traced {
    fn layout(&self) -> Layout {
        self.fields.iter().fold(Layout::new(self.grid), |l, f| l.field(f))
    }
    fn params(&self) -> ParamSet {
        self.params.iter().fold(ParamSet::new(), |s, (n, v)| s.scalar(n, *v))
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let c = at.ctx();
        let p: SmallVec<[Scalar<'id, T>; 8]> =
            self.params.iter().map(|(n, _)| at.params().scalar(n)).collect::<Result<_, _>>()?;
        self.integrator.step(c, x, self.dt, |s| self.rhs(s, &p))
    }
}
