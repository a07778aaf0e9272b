// Bilinear projector from arbitrary 2-D points to the nodes of a regular grid.
//
// A (n_points x nx*ny, CSC) has in row p the bilinear weights of point
// (x[p], y[p]) on the four corners of its cell; nodes are numbered x-fastest
// (k = i + nx j at (x0 + i hx, y0 + j hy)).  Exact-zero weights are not stored.
// A dimension with a single node (nx or ny = 1) takes weight 1 along it.
// Built in two passes: locate the points and count entries per node, then fill.
#pragma once

#include <cstdint>
#include <vector>

namespace tabmixr::spde {

struct ProjectorGrid {
    double x0;
    double y0;
    double hx;
    double hy;
    std::int64_t nx;
    std::int64_t ny;
};

// Each point's cell (lower-left node) and fractional position in it, plus the
// column pointers of A (length nx*ny + 1).
struct PointLocations {
    std::vector<std::int64_t> cell;
    std::vector<double> fx;
    std::vector<double> fy;
    std::vector<std::int64_t> indptr;
};

// Throws std::invalid_argument for a bad grid, or naming the first point that
// lies outside [x0, x0 + (nx-1) hx] x [y0, y0 + (ny-1) hy] (a relative slack
// of 1e-12 of the spacing is allowed) or holds a non-finite coordinate.
PointLocations locate_points(const ProjectorGrid& grid, const double* x, const double* y,
                             std::int64_t n_points);

// Fills A's row indices and weights (length loc.indptr.back()); rows sorted per column.
void fill_projector(const ProjectorGrid& grid, const PointLocations& loc, std::int64_t* indices,
                    double* data);

}  // namespace tabmixr::spde
