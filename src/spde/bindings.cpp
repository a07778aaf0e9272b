// Python bindings of the SPDE area: _kernels.spde_grid_*, _kernels.spde_mesh_*.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "spde/bindings.hpp"
#include "spde/grid_precision.hpp"
#include "spde/mesh_fem.hpp"
#include "spde/projector.hpp"

namespace py = pybind11;

namespace tabmixr::spde {

namespace {

using ValueArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& values) {
    py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::tuple spde_grid_precision(std::int64_t nx, std::int64_t ny, double hx, double hy,
                              double kappa, double tau, int alpha) {
    const GridSpec grid{nx, ny, hx, hy};
    check_grid_arguments(grid, kappa, tau, alpha);
    py::array_t<std::int64_t> indptr(static_cast<py::ssize_t>(nx * ny + 1));
    std::int64_t* indptr_ptr = indptr.mutable_data();
    const std::int64_t nnz = grid_precision_pattern(grid, alpha, indptr_ptr);
    py::array_t<std::int64_t> indices(static_cast<py::ssize_t>(nnz));
    py::array_t<double> Q(static_cast<py::ssize_t>(nnz)), dk(static_cast<py::ssize_t>(nnz)),
        dt(static_cast<py::ssize_t>(nnz));
    std::int64_t* indices_ptr = indices.mutable_data();
    double* Q_ptr = Q.mutable_data();
    double* dk_ptr = dk.mutable_data();
    double* dt_ptr = dt.mutable_data();
    {
        py::gil_scoped_release release;
        grid_precision_fill(grid, kappa, tau, alpha, indptr_ptr, indices_ptr, Q_ptr, dk_ptr,
                            dt_ptr);
    }
    return py::make_tuple(indptr, indices, Q, dk, dt);
}

py::tuple spde_grid_projector(const ValueArray& x, const ValueArray& y, double x0, double y0,
                              double hx, double hy, std::int64_t nx, std::int64_t ny) {
    if (x.ndim() != 1 || y.ndim() != 1 || x.size() != y.size()) {
        throw std::invalid_argument("x and y must be 1-dimensional of equal length, got sizes " +
                                    std::to_string(x.size()) + " and " +
                                    std::to_string(y.size()));
    }
    const ProjectorGrid grid{x0, y0, hx, hy, nx, ny};
    PointLocations loc;
    const double* x_ptr = x.data();
    const double* y_ptr = y.data();
    const std::int64_t n_points = x.size();
    {
        py::gil_scoped_release release;
        loc = locate_points(grid, x_ptr, y_ptr, n_points);
    }
    const std::int64_t nnz = loc.indptr.back();
    py::array_t<std::int64_t> indices(static_cast<py::ssize_t>(nnz));
    py::array_t<double> data(static_cast<py::ssize_t>(nnz));
    std::int64_t* indices_ptr = indices.mutable_data();
    double* data_ptr = data.mutable_data();
    {
        py::gil_scoped_release release;
        fill_projector(grid, loc, indices_ptr, data_ptr);
    }
    return py::make_tuple(to_numpy(std::move(loc.indptr)), indices, data);
}

using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

MeshFem checked_mesh_fem(const ValueArray& vertices, const IndexArray& triangles) {
    if (vertices.ndim() != 2 || vertices.shape(1) != 2) {
        throw std::invalid_argument("vertices must have shape (n, 2)");
    }
    if (triangles.ndim() != 2 || triangles.shape(1) != 3) {
        throw std::invalid_argument("triangles must have shape (m, 3)");
    }
    const double* v = vertices.data();
    const std::int64_t* t = triangles.data();
    const std::int64_t n = vertices.shape(0), m = triangles.shape(0);
    py::gil_scoped_release release;
    return mesh_fem(v, n, t, m);
}

py::tuple spde_mesh_fem(const ValueArray& vertices, const IndexArray& triangles) {
    MeshFem fem = checked_mesh_fem(vertices, triangles);
    return py::make_tuple(to_numpy(std::move(fem.indptr)), to_numpy(std::move(fem.indices)),
                          to_numpy(std::move(fem.C)), to_numpy(std::move(fem.G)),
                          to_numpy(std::move(fem.C_lumped)));
}

py::tuple spde_mesh_precision(const ValueArray& vertices, const IndexArray& triangles,
                              double kappa, double tau, int alpha) {
    const MeshFem fem = checked_mesh_fem(vertices, triangles);
    MeshPrecision Q;
    {
        py::gil_scoped_release release;
        Q = mesh_precision(fem, kappa, tau, alpha);
    }
    return py::make_tuple(to_numpy(std::move(Q.indptr)), to_numpy(std::move(Q.indices)),
                          to_numpy(std::move(Q.Q)), to_numpy(std::move(Q.dQ_dkappa)),
                          to_numpy(std::move(Q.dQ_dtau)));
}

}  // namespace

void register_bindings(py::module_& m) {
    m.def("spde_grid_precision", &spde_grid_precision, py::arg("nx"), py::arg("ny"),
          py::arg("hx"), py::arg("hy"), py::arg("kappa"), py::arg("tau"), py::arg("alpha"),
          "SPDE Matern precision on an nx x ny grid: (indptr, indices, Q, dQ_dkappa, dQ_dtau).");
    m.def("spde_grid_projector", &spde_grid_projector, py::arg("x"), py::arg("y"),
          py::arg("x0"), py::arg("y0"), py::arg("hx"), py::arg("hy"), py::arg("nx"),
          py::arg("ny"), "Bilinear projector (indptr, indices, data), n_points x nx*ny CSC.");
    m.def("spde_mesh_fem", &spde_mesh_fem, py::arg("vertices"), py::arg("triangles"),
          "P1 FEM matrices of a triangle mesh: (indptr, indices, C, G, C_lumped).");
    m.def("spde_mesh_precision", &spde_mesh_precision, py::arg("vertices"),
          py::arg("triangles"), py::arg("kappa"), py::arg("tau"), py::arg("alpha"),
          "SPDE Matern precision on a triangle mesh: (indptr, indices, Q, dQ_dkappa, dQ_dtau).");
}

}  // namespace tabmixr::spde
