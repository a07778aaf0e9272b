"""Type stubs for the compiled module tabmixr._kernels (see src/).

Private: call the kernels through :mod:`tabmixr.kernels`, which converts
scipy/numpy inputs to the exact array types expected here.
"""

import numpy as np
import numpy.typing as npt

def blockdiag_quadform(
    K_indptr: npt.NDArray[np.int64],
    K_indices: npt.NDArray[np.int64],
    K_data: npt.NDArray[np.float64],
    S: npt.NDArray[np.float64],
    W_indptr: npt.NDArray[np.int64],
    W_indices: npt.NDArray[np.int64],
    W_data: npt.NDArray[np.float64],
    block_size: int,
) -> npt.NDArray[np.float64]:
    """Diagonal q x q blocks of K^T S W; shape (n // block_size, q, q).

    Raises:
        ValueError: mismatched lengths, n not a multiple of block_size, row
            index out of range, or a non-finite value.
    """

def weighted_gram(
    G_indptr: npt.NDArray[np.int64],
    G_indices: npt.NDArray[np.int64],
    G_data: npt.NDArray[np.float64],
    nrow: int,
    C: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Dense G blockdiag(C) G^T; shape (nrow, nrow).

    Raises:
        ValueError: inconsistent shapes, bad CSC arrays or a non-finite value.
    """

def single_term_objective(
    theta: npt.NDArray[np.float64],
    G11: npt.NDArray[np.float64],
    GR1: npt.NDArray[np.float64],
    GRR: npt.NDArray[np.float64],
    n: int,
    ldW: float,
    reml: bool,
) -> tuple[float, npt.NDArray[np.float64], float]:
    """Profiled REML criterion / ML deviance, its gradient and pwrss (one term).

    Raises:
        ValueError: inconsistent shapes or non-finite theta.
    """
