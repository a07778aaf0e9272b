// SPDE Matern precision on a regular 2-D grid (Lindgren, Rue & Lindstrom 2011).
//
// Nodes are numbered x-fastest: node k = i + nx * j sits at (x0 + i hx, y0 + j hy).
// With L the 5-point finite-difference negative Laplacian under zero-flux
// (Neumann) boundaries -- the graph Laplacian with weight 1/hx^2 between
// x-neighbours and 1/hy^2 between y-neighbours, L = I_y (x) L_x + L_y (x) I_x --
// the cell area a = hx hy and K0 = kappa^2 I + L (so the stiffness-plus-mass
// operator is a K0):
//
//   alpha = 1:  Q = tau^2 a K0                 (5-point stencil)
//   alpha = 2:  Q = tau^2 a K0 K0              (13-point stencil; lumped mass a I,
//                                               i.e. K C^-1 K)
//
// The sparsity pattern depends only on (nx, ny, alpha), never on kappa or tau,
// so a Cholesky factor can be refactorized in place.  Columns have sorted row
// indices and both triangles are stored.
#pragma once

#include <cstdint>

namespace tabmixr::spde {

struct GridSpec {
    std::int64_t nx;
    std::int64_t ny;
    double hx;
    double hy;
};

// Throws std::invalid_argument unless nx, ny >= 1, hx, hy > 0 finite,
// kappa, tau > 0 finite and alpha is 1 or 2.
void check_grid_arguments(const GridSpec& grid, double kappa, double tau, int alpha);

// Fills indptr (length nx*ny + 1) with the column pointers of Q's pattern and
// returns nnz.
std::int64_t grid_precision_pattern(const GridSpec& grid, int alpha, std::int64_t* indptr);

// Fills indices, Q, dQ/dkappa and dQ/dtau (each of length nnz) on the pattern
// given by indptr from grid_precision_pattern.
void grid_precision_fill(const GridSpec& grid, double kappa, double tau, int alpha,
                         const std::int64_t* indptr, std::int64_t* indices, double* Q,
                         double* dQ_dkappa, double* dQ_dtau);

}  // namespace tabmixr::spde
