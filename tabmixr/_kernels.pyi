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

# --- spde (src/spde/); facade: tabmixr.spde.SpdeGrid -------------------------

def spde_grid_precision(
    nx: int, ny: int, hx: float, hy: float, kappa: float, tau: float, alpha: int
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """SPDE Matern precision on an nx x ny grid (Neumann boundary, x-fastest nodes).

    Returns (indptr, indices, Q, dQ_dkappa, dQ_dtau): one symmetric CSC pattern
    (both triangles, sorted rows) that depends only on (nx, ny, alpha).

    Raises:
        ValueError: nx, ny < 1, spacings/kappa/tau not positive finite, alpha not 1 or 2.
    """

def spde_grid_projector(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    x0: float,
    y0: float,
    hx: float,
    hy: float,
    nx: int,
    ny: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Bilinear projector, n_points x nx*ny CSC (indptr, indices, data).

    Raises:
        ValueError: a point is outside the grid or non-finite (named by index).
    """

def spde_mesh_fem(
    vertices: npt.NDArray[np.float64], triangles: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """P1 FEM matrices (indptr, indices, C, G, C_lumped) of a triangle mesh.

    Raises:
        ValueError: a bad triangle (index, repeated vertex, zero area) or an unused vertex.
    """

def spde_mesh_precision(
    vertices: npt.NDArray[np.float64],
    triangles: npt.NDArray[np.int64],
    kappa: float,
    tau: float,
    alpha: int,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """SPDE precision on a mesh (lumped mass): (indptr, indices, Q, dQ_dkappa, dQ_dtau).

    Raises:
        ValueError: as spde_mesh_fem, or kappa/tau/alpha invalid.
    """

# --- kinship (src/kinship/); facade: tabmixr.kinship.Pedigree -----------------
# sire/dam: int64 parent indices, -1 unknown, every parent before its offspring.

def pedigree_inbreeding(
    sire: npt.NDArray[np.int64],
    dam: npt.NDArray[np.int64],
    method: str = "auto",
    threads: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(F, d): inbreeding coefficients and Mendelian-sampling variances.

    Args:
        method: "sires" (all progeny of a sire at once, on the sires' closed ancestry;
            fast when sires are few), "ancestors" (Meuwissen & Luo 1992 ancestor
            tracing, generation by generation, the animals of a generation in
            parallel) or "auto" (the first when its O(n) cost bound is small).
        threads: threads of the ancestor tracing; 0 takes the hardware's count
            (at most 8), 1 runs in the calling thread.  F does not depend on it.

    Raises:
        ValueError: a parent index is not -1 and not smaller than its offspring's,
            an unknown method, or threads < 0.
    """

def pedigree_ainv(
    sire: npt.NDArray[np.int64], dam: npt.NDArray[np.int64], d: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """A^-1 as symmetric CSC (indptr, indices, data), Henderson's rules with Quaas' extension.

    Raises:
        ValueError: bad parent order or d not positive.
    """

def pedigree_a_times(
    sire: npt.NDArray[np.int64],
    dam: npt.NDArray[np.int64],
    d: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """A x (x of shape (n,) or (n, k)) by Colleau's indirect method.

    Raises:
        ValueError: bad parent order, d not positive, x of the wrong shape or non-finite.
    """

def pedigree_ainv_times(
    sire: npt.NDArray[np.int64],
    dam: npt.NDArray[np.int64],
    d: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """A^-1 x = (I - P)' D^-1 (I - P) x (x of shape (n,) or (n, k)).

    Raises:
        ValueError: as pedigree_a_times.
    """

def pedigree_dense_a(
    sire: npt.NDArray[np.int64], dam: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Dense n x n A by the tabular method.

    Raises:
        ValueError: bad parent order.
    """

# -- cholesky (src/cholesky) ---------------------------------------------------------

def _set_mapped_outputs(enabled: bool) -> bool:
    """Testing hook: recycled mappings (True, default) or numpy's allocator for the large
    arrays of SparseCholesky.selected_inverse(); returns the previous setting."""

class NotPositiveDefiniteError(ValueError):
    """Q is not positive definite; ``column`` is the original column where it broke down."""

    column: int

class SparseCholesky:
    """CHOLMOD factor Q[perm, perm] = L L^T with the symbolic analysis kept.

    The pattern holds both triangles, sorted unique rows per column, symmetric.
    Long calls release the GIL.
    """

    def __init__(
        self,
        n: int,
        Q_indptr: npt.NDArray[np.int64],
        Q_indices: npt.NDArray[np.int64],
        method: str = "auto",
    ) -> None:
        """Symbolic analysis; method is 'auto', 'simplicial' or 'supernodal'.

        Raises:
            ValueError: not square, pattern not symmetric, unsorted/duplicate rows.
        """
    def factorize(self, Q_data: npt.NDArray[np.float64]) -> None:
        """Numeric factor for values on the pattern.

        Raises:
            ValueError: wrong length, non-finite or non-symmetric values.
            NotPositiveDefiniteError: Q is not positive definite.
        """
    def refactorize(
        self,
        Q_indptr: npt.NDArray[np.int64],
        Q_indices: npt.NDArray[np.int64],
        Q_data: npt.NDArray[np.float64],
    ) -> None:
        """factorize() after checking the pattern equals the analysed one (ValueError if not)."""
    def solve(self, b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Q^-1 b for b of shape (n,) or (n, k)."""
    def sample(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P^T L^-T z: draws from N(0, Q^-1), shape of z."""
    def sample_mean(
        self, b: npt.NDArray[np.float64], z: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Q^-1 b + P^T L^-T z: draws from N(Q^-1 b, Q^-1)."""
    def logdet(self) -> float:
        """log det Q."""
    def selected_inverse(
        self,
    ) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer], npt.NDArray[np.float64]]:
        """CSC (indptr, indices, data) of Q^-1 on the pattern of L + L^T, original order, both
        triangles, sorted rows; int32 index arrays when they fit, else int64."""
    def selected_inverse_on_pattern(self) -> npt.NDArray[np.float64]:
        """Q^-1 on Q's own pattern: one value per stored entry of the analysed Q."""
    def diag_inverse(self) -> npt.NDArray[np.float64]:
        """diag(Q^-1)."""
    def trace_inv_product(
        self,
        dQ_indptr: npt.NDArray[np.int64],
        dQ_indices: npt.NDArray[np.int64],
        dQ_data: npt.NDArray[np.float64],
    ) -> float:
        """tr(Q^-1 dQ) for dQ inside the pattern of L + L^T (ValueError otherwise)."""
    def trace_inv_products(self, dQ_data: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """tr(Q^-1 dQ_k) for each row of dQ_data (k, nnz(Q)) on Q's pattern."""
    def lower_factor(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """CSC (indptr, indices, data) of L, permuted order, diagonal first in each column."""
    @property
    def perm(self) -> npt.NDArray[np.int64]: ...
    @property
    def n(self) -> int: ...
    @property
    def nnz(self) -> int: ...
    @property
    def factor_nnz(self) -> int: ...
    @property
    def is_supernodal(self) -> bool: ...
    @property
    def is_factorized(self) -> bool: ...
