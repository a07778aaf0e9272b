#include "spde/projector.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace tabmixr::spde {

namespace {

// Cell index and fractional position of coordinate t along one axis.
void locate(double t, double t0, double h, std::int64_t n_nodes, std::int64_t point,
            const char* axis, std::int64_t& cell, double& frac) {
    if (!std::isfinite(t)) {
        throw std::invalid_argument(std::string("point ") + std::to_string(point) +
                                    " has a non-finite " + axis + " coordinate");
    }
    const double u = (t - t0) / h;
    const double upper = static_cast<double>(n_nodes - 1);
    const double slack = 1e-12 * (1.0 + upper);
    if (u < -slack || u > upper + slack) {
        throw std::invalid_argument(
            std::string("point ") + std::to_string(point) + " lies outside the grid: " + axis +
            " = " + std::to_string(t) + " is not in [" + std::to_string(t0) + ", " +
            std::to_string(t0 + upper * h) + "]; enlarge the grid or its margin");
    }
    if (n_nodes == 1) {
        cell = 0;
        frac = 0.0;
        return;
    }
    const double clamped = u < 0.0 ? 0.0 : (u > upper ? upper : u);
    cell = static_cast<std::int64_t>(std::floor(clamped));
    if (cell > n_nodes - 2) cell = n_nodes - 2;
    frac = clamped - static_cast<double>(cell);
}

// The four corners of point p's cell and their weights (zero weights for
// corners that do not exist on a single-node axis).
void corners(const ProjectorGrid& g, const PointLocations& loc, std::int64_t p,
             std::int64_t (&node)[4], double (&w)[4]) {
    const std::int64_t k = loc.cell[p];
    const std::int64_t di = g.nx > 1 ? 1 : 0, dj = g.ny > 1 ? g.nx : 0;
    const double fx = loc.fx[p], fy = loc.fy[p];
    node[0] = k;
    node[1] = k + di;
    node[2] = k + dj;
    node[3] = k + di + dj;
    w[0] = (1 - fx) * (1 - fy);
    w[1] = fx * (1 - fy);
    w[2] = (1 - fx) * fy;
    w[3] = fx * fy;
}

}  // namespace

PointLocations locate_points(const ProjectorGrid& g, const double* x, const double* y,
                             std::int64_t n_points) {
    if (g.nx < 1 || g.ny < 1) {
        throw std::invalid_argument("grid size must be at least 1 x 1");
    }
    if (!(std::isfinite(g.hx) && g.hx > 0.0 && std::isfinite(g.hy) && g.hy > 0.0)) {
        throw std::invalid_argument("grid spacings must be positive and finite");
    }
    if (!(std::isfinite(g.x0) && std::isfinite(g.y0))) {
        throw std::invalid_argument("grid origin must be finite");
    }
    PointLocations loc;
    loc.cell.resize(n_points);
    loc.fx.resize(n_points);
    loc.fy.resize(n_points);
    loc.indptr.assign(g.nx * g.ny + 1, 0);
    for (std::int64_t p = 0; p < n_points; ++p) {
        std::int64_t i, j;
        locate(x[p], g.x0, g.hx, g.nx, p, "x", i, loc.fx[p]);
        locate(y[p], g.y0, g.hy, g.ny, p, "y", j, loc.fy[p]);
        loc.cell[p] = i + g.nx * j;
        std::int64_t node[4];
        double w[4];
        corners(g, loc, p, node, w);
        for (int c = 0; c < 4; ++c) loc.indptr[node[c] + 1] += (w[c] != 0.0);
    }
    for (std::int64_t k = 0; k < g.nx * g.ny; ++k) loc.indptr[k + 1] += loc.indptr[k];
    return loc;
}

void fill_projector(const ProjectorGrid& g, const PointLocations& loc, std::int64_t* indices,
                    double* data) {
    std::vector<std::int64_t> next(loc.indptr.begin(), loc.indptr.end() - 1);
    const std::int64_t n_points = static_cast<std::int64_t>(loc.cell.size());
    for (std::int64_t p = 0; p < n_points; ++p) {  // points in order: rows sorted per column
        std::int64_t node[4];
        double w[4];
        corners(g, loc, p, node, w);
        for (int c = 0; c < 4; ++c) {
            if (w[c] == 0.0) continue;
            const std::int64_t q = next[node[c]]++;
            indices[q] = p;
            data[q] = w[c];
        }
    }
}

}  // namespace tabmixr::spde
