"""Exact gradients, Hessian-vector products and Gauss–Newton products
through checkpointed simulations, computed by rewind's Rust engine."""

from os import PathLike
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike

class RewindError(Exception):
    """An error of rewind: bad input, a failed run, a bad schedule."""

def models() -> List[Dict[str, Any]]:
    """The models: dicts with name, about, state, params, grid, default_n,
    default_steps."""

class Problem:
    """A model's default problem (a twin experiment) under a checkpoint
    schedule."""

    def __init__(
        self,
        model: str,
        n: Optional[int] = None,
        steps: Optional[int] = None,
        schedule: str = "binomial:10",
        threads: int = 0,
        disk_dir: Optional[Union[str, PathLike]] = None,
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
    def grid(self) -> Tuple[int, int]: ...
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
        """objective, x0 (dJ/dx0), params (dJ/dp), final_state, counters."""
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
    def check(self, fd_step: float = 1e-4) -> Tuple[float, float, str]:
        """(gradient_error, hvp_error, report) against central differences."""
