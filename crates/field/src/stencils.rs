//! Ready-made stencils on the user-operation mechanism ([`Stencil`]): the
//! 5-point (2D), 7-point, 4th- and 8th-order (3D) Laplacians and the
//! central differences — periodic, or between walls with
//! [`WithFaces`](crate::WithFaces) — the variable-coefficient flux
//! divergence `∇·(κ∇u)` and the staggered (C-grid) differences and
//! averages, each with closed-form partial derivatives that the tests
//! check against forward mode. They are what [`Field::laplacian`],
//! [`Field::ddx`], … and [`Field::dx_plus`], … record: the built-in
//! operators run on the same compiled path as a user's own stencils.
//!
//! On a C-grid the `h` points sit at cell centres `(i, j)`, `u` on the
//! x-faces `(i + ½, j)` and `v` on the y-faces `(i, j + ½)`. A *plus*
//! operator maps a centre quantity to the face after it (`δx⁺a =
//! (a[i+1] − a[i]) / dx` lives at `i + ½`), a *minus* operator a face
//! quantity back to the centre (`δx⁻a = (a[i] − a[i−1]) / dx` at `i` when
//! `a` lives at `i − ½`). Their adjoints are each other's negatives, which
//! is what makes the flux-form continuity equation conserve mass exactly.

use rewind_tape::Real;

use crate::Grid;
use crate::components::Components;
use crate::tape::Field;
use crate::tape::stencil::Stencil;

/// The 7-point star: the point, then `∓1` along x, y, z (the first five
/// are the 5-point star of 1D and 2D grids).
const STAR: [[isize; 3]; 7] = [[0, 0, 0], [-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]];

macro_rules! laplacian {
    ($(#[$m:meta])* $name:ident, $axes:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl Stencil for $name {
            const INPUTS: usize = 1;
            const OFFSETS: &'static [[isize; 3]] = STAR.split_at(1 + 2 * $axes).0;
            const LINEAR: bool = true;
            #[inline]
            fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
                let c = [g.dx, g.dy, g.dz].map(|h| 1.0 / (h * h));
                let (mut s, mut diagonal) = ((l[1] + l[2]) * c[0], c[0]);
                for a in 1..$axes {
                    s += (l[2 * a + 1] + l[2 * a + 2]) * c[a];
                    diagonal += c[a];
                }
                s + l[0] * (-2.0 * diagonal)
            }
            #[inline]
            fn partial<R: Real>(&self, g: &Grid, _: &[R], i: usize) -> R {
                let c = [g.dx, g.dy, g.dz].map(|h| 1.0 / (h * h));
                R::from_f64(match i {
                    0 => -2.0 * c[1..$axes].iter().fold(c[0], |d, &x| d + x),
                    _ => c[(i - 1) / 2],
                })
            }
        }
    };
}

laplacian!(
    /// The 5-point Laplacian `(a[i+1,j] + a[i−1,j] − 2a)/dx² + (a[i,j+1] +
    /// a[i,j−1] − 2a)/dy²` (on a 1D grid the y terms cancel).
    Laplacian,
    2
);

laplacian!(
    /// The 7-point Laplacian, `Σ_axes (a[+1] + a[−1] − 2a)/h²`: what
    /// [`Field::laplacian`] records on a 3D grid.
    Laplacian3D,
    3
);

/// The offsets of the 3D star of radius `r` (`n = 1 + 6r`): the point,
/// then along x, y, z in turn the pairs `−k, +k` for `k = 1..=r`.
const fn star<const N: usize>(r: usize) -> [[isize; 3]; N] {
    let mut o = [[0; 3]; N];
    let mut a = 0;
    while a < 3 {
        let mut k = 1;
        while k <= r {
            let at = 1 + a * 2 * r + 2 * (k - 1);
            o[at][a] = -(k as isize);
            o[at + 1][a] = k as isize;
            k += 1;
        }
        a += 1;
    }
    o
}

macro_rules! high_order {
    ($(#[$m:meta])* $name:ident, $n:literal, $r:literal, $coef:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl $name {
            /// The weights of the 1D second derivative, `[c₀, c₁, …]` for
            /// the offsets `0, ±1, …` (times `1/h²`).
            pub const WEIGHTS: [f64; $r + 1] = $coef;
        }
        impl Stencil for $name {
            const INPUTS: usize = 1;
            const OFFSETS: &'static [[isize; 3]] = &star::<$n>($r);
            const LINEAR: bool = true;
            #[inline]
            fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
                let c = [g.dx, g.dy, g.dz].map(|h| 1.0 / (h * h));
                let w = Self::WEIGHTS;
                let mut s = l[0] * (w[0] * (c[0] + c[1] + c[2]));
                for a in 0..3 {
                    for k in 1..=$r {
                        let i = 1 + a * 2 * $r + 2 * (k - 1);
                        s += (l[i] + l[i + 1]) * (w[k] * c[a]);
                    }
                }
                s
            }
            #[inline]
            fn partial<R: Real>(&self, g: &Grid, _: &[R], i: usize) -> R {
                let c = [g.dx, g.dy, g.dz].map(|h| 1.0 / (h * h));
                let w = Self::WEIGHTS;
                R::from_f64(if i == 0 {
                    w[0] * (c[0] + c[1] + c[2])
                } else {
                    w[(i - 1) % (2 * $r) / 2 + 1] * c[(i - 1) / (2 * $r)]
                })
            }
        }
    };
}

high_order!(
    /// The 4th-order Laplacian on a 3D grid (13 points): per axis
    /// `(−a[±2]/12 + 4a[±1]/3 − 5a/2)/h²`.
    Laplacian3D4,
    13,
    2,
    [-5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0]
);
high_order!(
    /// The 8th-order Laplacian on a 3D grid (25 points): per axis
    /// the central weights `−205/72, 8/5, −1/5, 8/315, −1/560` over `h²`.
    Laplacian3D8,
    25,
    4,
    [-205.0 / 72.0, 8.0 / 5.0, -1.0 / 5.0, 8.0 / 315.0, -1.0 / 560.0]
);

macro_rules! central {
    ($(#[$m:meta])* $name:ident, $off:expr, $h:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl Stencil for $name {
            const INPUTS: usize = 1;
            const OFFSETS: &'static [[isize; 3]] = &$off;
            const LINEAR: bool = true;
            #[inline]
            fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
                (l[1] - l[0]) * (0.5 / g.$h)
            }
            #[inline]
            fn partial<R: Real>(&self, g: &Grid, _: &[R], i: usize) -> R {
                R::from_f64(if i == 0 { -0.5 / g.$h } else { 0.5 / g.$h })
            }
        }
    };
}

central!(
    /// `(a[i+1,j] − a[i−1,j]) / 2dx`.
    Ddx, [[-1, 0, 0], [1, 0, 0]], dx
);
central!(
    /// `(a[i,j+1] − a[i,j−1]) / 2dy`.
    Ddy, [[0, -1, 0], [0, 1, 0]], dy
);
central!(
    /// `(a[i,j,k+1] − a[i,j,k−1]) / 2dz`.
    Ddz, [[0, 0, -1], [0, 0, 1]], dz
);

/// `∇·(κ∇u)` on a periodic grid, conservative: face coefficients are the
/// means of the two cells, `[κ_{i+½}(u_{i+1} − uᵢ) − κ_{i−½}(uᵢ − u_{i−1})]
/// / dx²` plus the same along y (on a 1D grid the y terms vanish). Inputs
/// `[κ, u]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FluxDivergence;

impl Stencil for FluxDivergence {
    const INPUTS: usize = 2;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]];

    #[inline]
    fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
        let (k, u) = (&l[..5], &l[5..]);
        let (cx, cy) = (0.5 / (g.dx * g.dx), 0.5 / (g.dy * g.dy));
        ((k[0] + k[1]) * (u[1] - u[0]) - (k[0] + k[2]) * (u[0] - u[2])) * cx
            + ((k[0] + k[3]) * (u[3] - u[0]) - (k[0] + k[4]) * (u[0] - u[4])) * cy
    }

    #[inline]
    fn partial<R: Real>(&self, g: &Grid, l: &[R], i: usize) -> R {
        let (k, u) = (&l[..5], &l[5..]);
        let (cx, cy) = (0.5 / (g.dx * g.dx), 0.5 / (g.dy * g.dy));
        match i {
            0 => (u[1] - u[0] - (u[0] - u[2])) * cx + (u[3] - u[0] - (u[0] - u[4])) * cy,
            1 => (u[1] - u[0]) * cx,
            2 => (u[2] - u[0]) * cx,
            3 => (u[3] - u[0]) * cy,
            4 => (u[4] - u[0]) * cy,
            5 => -((k[0] + k[1]) + (k[0] + k[2])) * cx - ((k[0] + k[3]) + (k[0] + k[4])) * cy,
            6 => (k[0] + k[1]) * cx,
            7 => (k[0] + k[2]) * cx,
            8 => (k[0] + k[3]) * cy,
            _ => (k[0] + k[4]) * cy,
        }
    }
}

macro_rules! two_point {
    ($(#[$m:meta])* $name:ident, $off:expr, $eval:expr, $partial:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl Stencil for $name {
            const INPUTS: usize = 1;
            const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0], $off];
            const LINEAR: bool = true;
            #[inline]
            fn eval<R: Real>(&self, g: &Grid, l: &[R]) -> R {
                let f: fn(&Grid, R, R) -> R = $eval;
                f(g, l[0], l[1])
            }
            #[inline]
            fn partial<R: Real>(&self, g: &Grid, _: &[R], i: usize) -> R {
                let f: fn(&Grid, usize) -> f64 = $partial;
                R::from_f64(f(g, i))
            }
        }
    };
}

two_point!(
    /// `(a[i+1] − a[i]) / dx`, at `i + ½`.
    DxPlus, [1, 0, 0], |g, a, b| (b - a) / g.dx, |g, i| if i == 0 { -1.0 / g.dx } else { 1.0 / g.dx }
);
two_point!(
    /// `(a[i] − a[i−1]) / dx`, at `i − ½`.
    DxMinus, [-1, 0, 0], |g, a, b| (a - b) / g.dx, |g, i| if i == 0 { 1.0 / g.dx } else { -1.0 / g.dx }
);
two_point!(
    /// `(a[j+1] − a[j]) / dy`, at `j + ½`.
    DyPlus, [0, 1, 0], |g, a, b| (b - a) / g.dy, |g, i| if i == 0 { -1.0 / g.dy } else { 1.0 / g.dy }
);
two_point!(
    /// `(a[j] − a[j−1]) / dy`, at `j − ½`.
    DyMinus, [0, -1, 0], |g, a, b| (a - b) / g.dy, |g, i| if i == 0 { 1.0 / g.dy } else { -1.0 / g.dy }
);
two_point!(
    /// `(a[i+1] + a[i]) / 2`, at `i + ½`.
    AvgXPlus, [1, 0, 0], |_, a, b| (a + b) * 0.5, |_, _| 0.5
);
two_point!(
    /// `(a[i] + a[i−1]) / 2`, at `i − ½`.
    AvgXMinus, [-1, 0, 0], |_, a, b| (a + b) * 0.5, |_, _| 0.5
);
two_point!(
    /// `(a[j+1] + a[j]) / 2`, at `j + ½`.
    AvgYPlus, [0, 1, 0], |_, a, b| (a + b) * 0.5, |_, _| 0.5
);
two_point!(
    /// `(a[j] + a[j−1]) / 2`, at `j − ½`.
    AvgYMinus, [0, -1, 0], |_, a, b| (a + b) * 0.5, |_, _| 0.5
);

impl<'id, T: Components> Field<'id, T> {
    /// `∇·(κ∇a)` with the coefficient field `κ` ([`FluxDivergence`]).
    pub fn flux_divergence(self, kappa: Self) -> Self {
        self.ctx().apply_checked(FluxDivergence, &[kappa, self])
    }
    /// [`DxPlus`]: the forward difference along x (centre → x-face).
    pub fn dx_plus(self) -> Self {
        self.ctx().apply_checked(DxPlus, &[self])
    }
    /// [`DxMinus`]: the backward difference along x (x-face → centre).
    pub fn dx_minus(self) -> Self {
        self.ctx().apply_checked(DxMinus, &[self])
    }
    /// [`DyPlus`]: the forward difference along y (centre → y-face).
    pub fn dy_plus(self) -> Self {
        self.ctx().apply_checked(DyPlus, &[self])
    }
    /// [`DyMinus`]: the backward difference along y (y-face → centre).
    pub fn dy_minus(self) -> Self {
        self.ctx().apply_checked(DyMinus, &[self])
    }
    /// [`AvgXPlus`]: the mean with the next point along x.
    pub fn avg_x_plus(self) -> Self {
        self.ctx().apply_checked(AvgXPlus, &[self])
    }
    /// [`AvgXMinus`]: the mean with the previous point along x.
    pub fn avg_x_minus(self) -> Self {
        self.ctx().apply_checked(AvgXMinus, &[self])
    }
    /// [`AvgYPlus`]: the mean with the next point along y.
    pub fn avg_y_plus(self) -> Self {
        self.ctx().apply_checked(AvgYPlus, &[self])
    }
    /// [`AvgYMinus`]: the mean with the previous point along y.
    pub fn avg_y_minus(self) -> Self {
        self.ctx().apply_checked(AvgYMinus, &[self])
    }
}
