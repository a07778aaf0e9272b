// Python binding of the lmm area: _kernels.single_term_objective.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/csc.hpp"
#include "lmm/bindings.hpp"
#include "lmm/single_term.hpp"

namespace py = pybind11;

namespace tabmixr::lmm {

namespace {

using ValueArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::string shape_text(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + ")";
}

py::tuple single_term_objective_binding(const ValueArray& theta, const ValueArray& G11,
                                        const ValueArray& GR1, const ValueArray& GRR,
                                        std::int64_t n, double ldW, bool reml) {
    if (G11.ndim() != 3 || G11.shape(1) != G11.shape(2)) {
        throw std::invalid_argument("G11 must have shape (l, q, q), got " + shape_text(G11));
    }
    const std::int64_t l = G11.shape(0), q = G11.shape(1);
    if (GRR.ndim() != 2 || GRR.shape(0) != GRR.shape(1) || GRR.shape(0) < 1) {
        throw std::invalid_argument("GRR must be square (p+1, p+1), got " + shape_text(GRR));
    }
    const std::int64_t m = GRR.shape(0);
    if (GR1.ndim() != 2 || GR1.shape(0) != m || GR1.shape(1) != l * q) {
        throw std::invalid_argument("GR1 must have shape (" + std::to_string(m) + ", " +
                                    std::to_string(l * q) + "), got " + shape_text(GR1));
    }
    if (theta.ndim() != 1 || theta.shape(0) != q * (q + 1) / 2) {
        throw std::invalid_argument("theta must hold q(q+1)/2 = " + std::to_string(q * (q + 1) / 2) +
                                    " values, got shape " + shape_text(theta));
    }
    if (n <= m - 1) {
        throw std::invalid_argument("n must exceed the number of fixed effects");
    }
    require_finite("theta", theta.data(), theta.size());
    SingleTermInput in{G11.data(), GR1.data(), GRR.data(), l, q, m - 1, n, ldW, reml};
    py::array_t<double> gradient(theta.shape(0));
    double* g = gradient.mutable_data();
    const double* th = theta.data();
    SingleTermResult result;
    {
        py::gil_scoped_release release;
        result = single_term_objective(in, th, g);
    }
    return py::make_tuple(result.objective, gradient, result.pwrss);
}

}  // namespace

void register_bindings(py::module_& m) {
    m.def("single_term_objective", &single_term_objective_binding, py::arg("theta"),
          py::arg("G11"), py::arg("GR1"), py::arg("GRR"), py::arg("n"), py::arg("ldW"),
          py::arg("reml"),
          R"doc(Profiled REML criterion / ML deviance and its gradient for one random-effect term.

G11 (l, q, q): diagonal blocks of Z'WZ; GR1 (p+1, l*q): [X y]'WZ; GRR (p+1, p+1):
[X y]'W[X y]; theta: lme4's q(q+1)/2 lower-triangle values. Returns
(objective, gradient, pwrss); objective is inf where the factorization fails.
Raises ValueError on inconsistent shapes or non-finite theta. Releases the GIL.)doc");
}

}  // namespace tabmixr::lmm
