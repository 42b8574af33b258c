//! Errors of the field crate.

use thiserror::Error;

/// What can go wrong with fields.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A grid with no points.
    #[error("a grid needs at least one point in each direction, got {nx} x {ny} x {nz}")]
    EmptyGrid {
        /// Points along x.
        nx: usize,
        /// Points along y.
        ny: usize,
        /// Points along z.
        nz: usize,
    },
    /// A spacing that is not positive and finite.
    #[error("grid spacing {what} must be positive and finite, got {value}")]
    BadSpacing {
        /// Which spacing.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A slice of the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// Which slice.
        what: &'static str,
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// An index outside the grid.
    #[error("{what}: index {index} is outside the grid of {len} points")]
    OutOfRange {
        /// Which operation.
        what: &'static str,
        /// The index.
        index: usize,
        /// Number of points.
        len: usize,
    },
    /// An operator that needs a square grid got another one.
    #[error("{what} needs dx = dy, got dx = {dx}, dy = {dy}")]
    NotSquare {
        /// Which operation.
        what: &'static str,
        /// Spacing along x.
        dx: f64,
        /// Spacing along y.
        dy: f64,
    },
    /// A linear operator that cannot be inverted.
    #[error("{what} is singular")]
    Singular {
        /// Which operator.
        what: &'static str,
    },
    /// A sparse operator used the wrong way: an affine (parameter-dependent)
    /// one solved as constant, which would drop the parameter's derivative,
    /// or a constant one solved at a parameter.
    #[error("{0}")]
    Operator(&'static str),
    /// A sparse solve on a tape without a sparse operator.
    #[error("no sparse operator is attached to this tape (FieldTape::with_sparse)")]
    NoSolver,
    /// A reverse sweep was asked of a context that does not record.
    #[error("this context evaluates without recording: use FieldTape::record to differentiate")]
    NotRecording,
    /// A stencil that reads no value, or more than the limit.
    #[error("a stencil reads {local} local values per point (inputs x offsets); it must read 1 to {max}")]
    StencilSize {
        /// Inputs times offsets.
        local: usize,
        /// The limit ([`stencil::MAX_LOCAL`](crate::stencil::MAX_LOCAL)).
        max: usize,
    },
    /// Faces with one side of an axis periodic and the other not.
    #[error("the faces along {axis} are periodic on one side only: both faces of an axis are periodic, or neither")]
    Faces {
        /// The axis.
        axis: char,
    },
    /// A stencil offset that reaches across the whole grid.
    #[error("stencil offset ({di}, {dj}, {dk}) reaches beyond the {nx} x {ny} x {nz} grid")]
    StencilReach {
        /// Offset along x.
        di: isize,
        /// Offset along y.
        dj: isize,
        /// Offset along z.
        dk: isize,
        /// Points along x.
        nx: usize,
        /// Points along y.
        ny: usize,
        /// Points along z.
        nz: usize,
    },
    /// An operation that is not defined (or not built yet) on a grid of
    /// this many dimensions.
    #[error("{what} works on 1D and 2D grids; this grid is 3D ({nx} x {ny} x {nz})")]
    Dims {
        /// Which operation.
        what: &'static str,
        /// Points along x.
        nx: usize,
        /// Points along y.
        ny: usize,
        /// Points along z.
        nz: usize,
    },
    /// A source or receiver position outside the grid, or not finite.
    #[error(
        "position {index} ({:?}) is outside the grid or not finite (coordinates run over [0, n h) along each axis the grid has, and are 0 along the others)",
        position
    )]
    Position {
        /// Which position.
        index: usize,
        /// Its coordinates `(x, y, z)`.
        position: [f64; 3],
    },
    /// An operation whose reads along x are not bounded by a fixed number
    /// of planes, where a slab of the grid with a ghost layer must compute
    /// a step ([`Ctx::x_reach`](crate::Ctx::x_reach)).
    #[error("{what} reads beyond any halo along x: a step made of it cannot be computed on slabs of the grid")]
    NotLocal {
        /// Which operation.
        what: &'static str,
    },
    /// A field given to a solver was made for another grid.
    #[error("{what} was made for another grid")]
    GridMismatch {
        /// Which object.
        what: &'static str,
    },
}
