#include "spde/grid_precision.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace tabmixr::spde {

namespace {

// Stencil offsets (di, dj) in increasing row order (lexicographic in (dj, di));
// rows i + di + nx (j + dj) increase along the list because 0 <= i + di < nx.
struct Offset {
    int di;
    int dj;
};
constexpr Offset kStencil1[] = {{0, -1}, {-1, 0}, {0, 0}, {1, 0}, {0, 1}};
constexpr Offset kStencil2[] = {{0, -2}, {-1, -1}, {0, -1}, {1, -1}, {-2, 0}, {-1, 0}, {0, 0},
                                {1, 0},  {2, 0},   {-1, 1}, {0, 1},  {1, 1},  {0, 2}};

// One axis of the grid: the 1-D Neumann Laplacian L1 (diagonal diag[i], off-diagonal -w)
// and its square L1^2 (diagonal sq[i], first off-diagonal next[i] between i and i+1, second w^2).
struct Axis {
    std::int64_t n;
    double w;
    std::vector<double> diag;
    std::vector<double> sq;
    std::vector<double> next;

    Axis(std::int64_t n_nodes, double h) : n(n_nodes), w(1.0 / (h * h)), diag(n), sq(n), next(n) {
        for (std::int64_t i = 0; i < n; ++i) {
            const int neighbours = (i > 0) + (i + 1 < n);
            diag[i] = w * neighbours;
            sq[i] = diag[i] * diag[i] + neighbours * w * w;
        }
        for (std::int64_t i = 0; i + 1 < n; ++i) next[i] = -w * (diag[i] + diag[i + 1]);
    }

    bool valid(std::int64_t i, int d) const { return i + d >= 0 && i + d < n; }

    // L1[i + d, i]
    double L(std::int64_t i, int d) const {
        if (d == 0) return diag[i];
        return std::abs(d) == 1 ? -w : 0.0;
    }

    // L1^2[i + d, i]
    double L2(std::int64_t i, int d) const {
        switch (d) {
            case 0: return sq[i];
            case 1: return next[i];
            case -1: return next[i - 1];
            default: return w * w;  // |d| == 2
        }
    }
};

template <std::size_t N>
std::int64_t count_valid(const Axis& x, const Axis& y, std::int64_t i, std::int64_t j,
                         const Offset (&stencil)[N]) {
    std::int64_t count = 0;
    for (const Offset& o : stencil) count += x.valid(i, o.di) && y.valid(j, o.dj);
    return count;
}

bool positive_finite(double v) { return std::isfinite(v) && v > 0.0; }

}  // namespace

void check_grid_arguments(const GridSpec& g, double kappa, double tau, int alpha) {
    if (g.nx < 1 || g.ny < 1) {
        throw std::invalid_argument("grid size must be at least 1 x 1, got nx = " +
                                    std::to_string(g.nx) + ", ny = " + std::to_string(g.ny));
    }
    if (!positive_finite(g.hx) || !positive_finite(g.hy)) {
        throw std::invalid_argument("grid spacings must be positive and finite, got hx = " +
                                    std::to_string(g.hx) + ", hy = " + std::to_string(g.hy));
    }
    if (!positive_finite(kappa)) {
        throw std::invalid_argument("kappa must be positive and finite, got " +
                                    std::to_string(kappa));
    }
    if (!positive_finite(tau)) {
        throw std::invalid_argument("tau must be positive and finite, got " + std::to_string(tau));
    }
    if (alpha != 1 && alpha != 2) {
        throw std::invalid_argument("alpha must be 1 or 2, got " + std::to_string(alpha));
    }
}

std::int64_t grid_precision_pattern(const GridSpec& g, int alpha, std::int64_t* indptr) {
    check_grid_arguments(g, 1.0, 1.0, alpha);
    const Axis x(g.nx, g.hx), y(g.ny, g.hy);
    indptr[0] = 0;
    for (std::int64_t j = 0; j < g.ny; ++j) {
        for (std::int64_t i = 0; i < g.nx; ++i) {
            const std::int64_t k = i + g.nx * j;
            const std::int64_t count =
                alpha == 1 ? count_valid(x, y, i, j, kStencil1) : count_valid(x, y, i, j, kStencil2);
            indptr[k + 1] = indptr[k] + count;
        }
    }
    return indptr[g.nx * g.ny];
}

void grid_precision_fill(const GridSpec& g, double kappa, double tau, int alpha,
                         const std::int64_t* indptr, std::int64_t* indices, double* Q,
                         double* dQ_dkappa, double* dQ_dtau) {
    check_grid_arguments(g, kappa, tau, alpha);
    const Axis x(g.nx, g.hx), y(g.ny, g.hy);
    const double k2 = kappa * kappa;
    const double scale = tau * tau * g.hx * g.hy;
    const Offset* stencil = alpha == 1 ? kStencil1 : kStencil2;
    const int stencil_size = alpha == 1 ? 5 : 13;
    for (std::int64_t j = 0; j < g.ny; ++j) {
        for (std::int64_t i = 0; i < g.nx; ++i) {
            std::int64_t p = indptr[i + g.nx * j];
            for (int s = 0; s < stencil_size; ++s) {
                const int di = stencil[s].di, dj = stencil[s].dj;
                if (!x.valid(i, di) || !y.valid(j, dj)) continue;
                // L = I_y (x) L_x + L_y (x) I_x, entry (row (i+di, j+dj), column (i, j)).
                const double Ix = di == 0 ? 1.0 : 0.0, Iy = dj == 0 ? 1.0 : 0.0;
                const double Lx = x.L(i, di), Ly = y.L(j, dj);
                const double L = Iy * Lx + Ly * Ix;
                const double I = Ix * Iy;
                double q, dk;
                if (alpha == 1) {
                    q = scale * (k2 * I + L);
                    dk = scale * 2.0 * kappa * I;
                } else {
                    // L^2 = I_y (x) L_x^2 + 2 L_y (x) L_x + L_y^2 (x) I_x
                    const double Lx2 = std::abs(di) <= 2 && dj == 0 ? x.L2(i, di) : 0.0;
                    const double Ly2 = std::abs(dj) <= 2 && di == 0 ? y.L2(j, dj) : 0.0;
                    const double LL = Lx2 + 2.0 * Ly * Lx + Ly2;
                    q = scale * (k2 * k2 * I + 2.0 * k2 * L + LL);
                    dk = scale * 4.0 * kappa * (k2 * I + L);
                }
                indices[p] = i + di + g.nx * (j + dj);
                Q[p] = q;
                dQ_dkappa[p] = dk;
                dQ_dtau[p] = 2.0 * q / tau;
                ++p;
            }
        }
    }
}

}  // namespace tabmixr::spde
