//! Boundary conditions as data: what an operation reads beyond each of
//! the grid's six faces.
//!
//! A stencil at a point near a face reaches past it, into the **ghost
//! layer** — as many points as the stencil reaches. [`Faces`] says, per
//! face, what those ghost points hold: the values across the opposite face
//! ([`Face::Periodic`], both faces of the axis together), zero
//! ([`Face::Zero`]: a homogeneous Dirichlet wall just beyond the last
//! point; inhomogeneous wall values are a source term the model adds, as
//! the cavity does), or the values mirrored about the last point
//! ([`Face::Mirror`]: `u(−k) = u(k)`, a Neumann wall, `∂u/∂n = 0` at the
//! boundary point to second order). The engine does not copy ghost
//! layers: it reads the ghost value where a stencil's read leaves the grid
//! (the boundary strips of [`crate::stencil`]'s sweep), and the VJP
//! gathers the adjoint of each ghost read back to the point it came from
//! (from the wrapped point, from nowhere, or from the mirrored point: a
//! point near a mirror face also receives the adjoints of the reads that
//! mirrored onto it) — every rule is the transpose of its read, checked by
//! the dot-product test.
//!
//! Faces are attached to a stencil ([`Stencil::faces`], or
//! [`WithFaces`] around any stencil), so that one model can difference
//! one field between walls and another periodically. The grid itself
//! stays a plain box of points. A domain-decomposed run (issue 27's design)
//! adds a fourth kind: a face whose ghost values come from the neighbouring
//! rank's halo.
//!
//! [`Stencil::faces`]: crate::Stencil::faces

use rewind_tape::Real;

use crate::tape::stencil::Stencil;
use crate::{FieldError, Grid};

/// What a stencil reads beyond one face of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The values across the opposite face: the axis is periodic (both of
    /// its faces say so).
    Periodic,
    /// Zero: a homogeneous Dirichlet wall just beyond the last point.
    Zero,
    /// The values mirrored about the last point, `u(−k) = u(k)`: a
    /// Neumann wall (`∂u/∂n = 0` at the boundary point, to second order
    /// with central differences). A stencil reaching `r` points past such
    /// a face needs at least `r + 1` points along the axis.
    Mirror,
}

/// The six faces of a grid, `[low, high]` along x, y and z (the axes a
/// grid does not have are never read beyond).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faces([[Face; 2]; 3]);

impl Faces {
    /// Periodic along every axis (every stencil's default).
    pub const PERIODIC: Faces = Faces([[Face::Periodic; 2]; 3]);
    /// Zero beyond every face (walls all around).
    pub const ZERO: Faces = Faces([[Face::Zero; 2]; 3]);
    /// Mirrored at every face (Neumann walls all around).
    pub const MIRROR: Faces = Faces([[Face::Mirror; 2]; 3]);

    /// The faces `[low, high]` along x, y and z; an axis periodic on one
    /// face only is [`FieldError::Faces`].
    pub fn new(x: [Face; 2], y: [Face; 2], z: [Face; 2]) -> Result<Self, FieldError> {
        for (axis, f) in ['x', 'y', 'z'].into_iter().zip([x, y, z]) {
            if (f[0] == Face::Periodic) != (f[1] == Face::Periodic) {
                return Err(FieldError::Faces { axis });
            }
        }
        Ok(Faces([x, y, z]))
    }

    /// The faces `[low, high]` of axis `a` (0 = x, 1 = y, 2 = z).
    pub fn axis(&self, a: usize) -> [Face; 2] {
        self.0[a]
    }

    /// Whether any face is a [`Face::Mirror`].
    pub fn any_mirror(&self) -> bool {
        self.0.iter().flatten().any(|&f| f == Face::Mirror)
    }
}

/// The stencil `K` read with the faces `faces` instead of its own: e.g.
/// `WithFaces::new(Laplacian3D8, Faces::ZERO)`, the 8th-order Laplacian
/// between walls.
#[derive(Debug, Clone, Copy)]
pub struct WithFaces<K> {
    stencil: K,
    faces: Faces,
}

impl<K: Stencil> WithFaces<K> {
    /// `stencil` read with `faces`.
    pub fn new(stencil: K, faces: Faces) -> Self {
        WithFaces { stencil, faces }
    }
}

impl<K: Stencil> Stencil for WithFaces<K> {
    const INPUTS: usize = K::INPUTS;
    const OFFSETS: &'static [[isize; 3]] = K::OFFSETS;
    const LINEAR: bool = K::LINEAR;
    #[inline]
    fn faces(&self) -> Faces {
        self.faces
    }
    #[inline(always)]
    fn eval<R: Real>(&self, grid: &Grid, local: &[R]) -> R {
        self.stencil.eval(grid, local)
    }
    #[inline(always)]
    fn partial<R: Real>(&self, grid: &Grid, local: &[R], i: usize) -> R {
        self.stencil.partial(grid, local, i)
    }
}
