"""Exact gradients, Hessian-vector products and Gauss–Newton products
through checkpointed simulations, computed by rewind's Rust engine."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike

class RewindError(Exception):
    """An error of rewind: bad input, a failed run, a bad schedule."""

def models() -> List[Dict[str, Any]]:
    """The models: dicts with name, about, state, params, grid, default_n,
    default_steps."""

class Expr:
    """A traced field (or scalar parameter) inside a Model's rhs: arithmetic
    with fields, parameters and numbers, functions and stencils record
    operations."""

    def __add__(self, o: Union["Expr", float]) -> "Expr": ...
    def __radd__(self, o: Union["Expr", float]) -> "Expr": ...
    def __sub__(self, o: Union["Expr", float]) -> "Expr": ...
    def __rsub__(self, o: Union["Expr", float]) -> "Expr": ...
    def __mul__(self, o: Union["Expr", float]) -> "Expr": ...
    def __rmul__(self, o: Union["Expr", float]) -> "Expr": ...
    def __truediv__(self, o: Union["Expr", float]) -> "Expr": ...
    def __rtruediv__(self, o: Union["Expr", float]) -> "Expr": ...
    def __neg__(self) -> "Expr": ...
    def __pow__(self, k: int) -> "Expr": ...
    def __abs__(self) -> "Expr": ...
    def exp(self) -> "Expr": ...
    def log(self) -> "Expr": ...
    def sqrt(self) -> "Expr": ...
    def sin(self) -> "Expr": ...
    def cos(self) -> "Expr": ...
    def tanh(self) -> "Expr": ...
    def laplacian(self) -> "Expr": ...
    def ddx(self) -> "Expr": ...
    def ddy(self) -> "Expr": ...
    def dx_plus(self) -> "Expr": ...
    def dx_minus(self) -> "Expr": ...
    def dy_plus(self) -> "Expr": ...
    def dy_minus(self) -> "Expr": ...
    def avg_x_plus(self) -> "Expr": ...
    def avg_x_minus(self) -> "Expr": ...
    def avg_y_plus(self) -> "Expr": ...
    def avg_y_minus(self) -> "Expr": ...
    def shift(self, di: int, dj: int) -> "Expr": ...
    def stencil(self, table: List[Tuple[int, int, float]]) -> "Expr":
        """sum of c * a[i + di, j + dj] over the table's (di, dj, c)."""

class Model:
    """A model written in Python: rhs(s, p) -> {field: tendency}, traced once
    and run by the Rust engine on the periodic n x n square."""

    def __init__(
        self,
        rhs: Callable[[Dict[str, Expr], Dict[str, Expr]], Dict[str, Expr]],
        state: List[str],
        params: Optional[Dict[str, float]] = None,
        n: int = 32,
        length: float = 6.283185307179586,
        dt: float = 0.05,
        integrator: str = "rk4",
    ) -> None: ...
    @property
    def operations(self) -> int: ...
    @property
    def grid(self) -> Tuple[int, int]: ...
    def sample(self, f: Callable[[float, float], float]) -> np.ndarray:
        """f(x, y) at every grid point (one field, flat)."""

class Problem:
    """A model's default problem (a twin experiment) under a checkpoint
    schedule."""

    def __init__(
        self,
        model: Union[str, Model],
        n: Optional[int] = None,
        steps: Optional[int] = None,
        schedule: str = "binomial:10",
        threads: int = 0,
        disk_dir: Optional[Union[str, PathLike]] = None,
        x0: Optional[ArrayLike] = None,
        truth: Optional[ArrayLike] = None,
        memory: Optional[str] = None,
        observe: Optional[Dict[str, Any]] = None,
    ) -> None: ...
    @property
    def model(self) -> str: ...
    @property
    def about(self) -> str: ...
    @property
    def steps(self) -> int: ...
    @property
    def schedule(self) -> str: ...
    @schedule.setter
    def schedule(self, schedule: str) -> None: ...
    @property
    def state_names(self) -> List[str]: ...
    @property
    def grid(self) -> Tuple[int, ...]:
        """(nx, ny), or (nx, ny, nz) for a 3D model."""
    @property
    def params(self) -> Dict[str, np.ndarray]: ...
    @property
    def x0(self) -> np.ndarray: ...
    @property
    def start(self) -> np.ndarray: ...
    @property
    def truth(self) -> np.ndarray: ...
    @property
    def direction(self) -> Tuple[np.ndarray, np.ndarray]: ...
    def part(self, x: ArrayLike, name: str) -> np.ndarray:
        """Part `name` of a flat state, shaped as the grid."""
    def value(self, x0: ArrayLike) -> float:
        """The objective at `x0`."""
    def gradient(self, x0: ArrayLike) -> Dict[str, Any]:
        """objective, x0 (dJ/dx0), params (dJ/dp), state and param (the same by name), final_state, counters."""
    def hvp(self, x0: ArrayLike, v_x: ArrayLike, v_p: Optional[ArrayLike] = None) -> Dict[str, Any]:
        """objective, gradient_x0, gradient_params, x0 and params (H v), counters."""
    def gauss_newton(self, x0: ArrayLike, v_x: ArrayLike, v_p: Optional[ArrayLike] = None) -> Dict[str, Any]:
        """x0 and params (G v), tangent_steps, counters."""
    def _gradient_seconds(self, x0: ArrayLike, repeats: int) -> float:
        """The shortest of `repeats` gradient calls timed inside Rust (seconds)."""
    def minimize(
        self,
        x0: Optional[ArrayLike] = None,
        method: str = "lbfgs",
        max_iter: int = 100,
        grad_tol: float = 1e-8,
    ) -> Dict[str, Any]:
        """x, objective, gradient_norm, iterations, termination, evaluations, history."""
    def four_d_var(
        self,
        background: Optional[ArrayLike] = None,
        length: float = 0.5,
        variance: float = 1.0,
        kind: str = "gaussian",
        outer: int = 10,
        inner: int = 30,
        inner_tol: float = 1e-3,
        tol: float = 1e-6,
    ) -> Dict[str, Any]:
        """Incremental 4D-Var: x, objective, misfit, outer, gradients, products, seconds."""
    def check(self, fd_step: float = 1e-4) -> Tuple[float, float, str]:
        """(gradient_error, hvp_error, report) against central differences."""
