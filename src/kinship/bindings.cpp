// Python bindings of the kinship area: _kernels.pedigree_*.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/csc.hpp"
#include "kinship/bindings.hpp"
#include "kinship/pedigree.hpp"

namespace py = pybind11;

namespace tabmixr::kinship {

namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style>;
using ValueArray = py::array_t<double, py::array::c_style>;

// Checks the parent arrays (1-D, equal length, ordered) and returns n.
std::int64_t checked_pedigree(const IndexArray& sire, const IndexArray& dam) {
    if (sire.ndim() != 1 || dam.ndim() != 1 || sire.size() != dam.size()) {
        throw std::invalid_argument("sire and dam must be 1-dimensional of equal length, got " +
                                    std::to_string(sire.size()) + " and " +
                                    std::to_string(dam.size()));
    }
    check_parent_order(sire.data(), dam.data(), sire.size());
    return sire.size();
}

void check_d(const ValueArray& d, std::int64_t n) {
    if (d.ndim() != 1 || d.size() != n) {
        throw std::invalid_argument("d must have length " + std::to_string(n) + ", got " +
                                    std::to_string(d.size()));
    }
    require_finite("d", d.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
        if (!(d.data()[i] > 0.0)) {
            throw std::invalid_argument("d[" + std::to_string(i) + "] = " +
                                        std::to_string(d.data()[i]) + " must be positive");
        }
    }
}

// X as (n, k) row-major; a 1-D X is one column.
std::int64_t checked_columns(const ValueArray& X, std::int64_t n) {
    if ((X.ndim() != 1 && X.ndim() != 2) || X.shape(0) != n) {
        throw std::invalid_argument("x must have shape (" + std::to_string(n) + ",) or (" +
                                    std::to_string(n) + ", k)");
    }
    require_finite("x", X.data(), X.size());
    return X.ndim() == 1 ? 1 : X.shape(1);
}

py::tuple pedigree_inbreeding(const IndexArray& sire, const IndexArray& dam,
                              const std::string& method, int threads) {
    const std::int64_t n = checked_pedigree(sire, dam);
    InbreedingMethod how;
    if (method == "auto") {
        how = InbreedingMethod::automatic;
    } else if (method == "ancestors") {
        how = InbreedingMethod::ancestors;
    } else if (method == "sires") {
        how = InbreedingMethod::sires;
    } else {
        throw std::invalid_argument("method must be 'auto', 'ancestors' or 'sires', got '" +
                                    method + "'");
    }
    if (threads < 0) {
        throw std::invalid_argument("threads must be 0 (automatic) or positive, got " +
                                    std::to_string(threads));
    }
    py::array_t<double> F(n), d(n);
    double* Fp = F.mutable_data();
    double* dp = d.mutable_data();
    {
        py::gil_scoped_release release;
        inbreeding(sire.data(), dam.data(), n, Fp, dp, how, threads);
    }
    return py::make_tuple(F, d);
}

py::tuple pedigree_ainv(const IndexArray& sire, const IndexArray& dam, const ValueArray& d) {
    const std::int64_t n = checked_pedigree(sire, dam);
    check_d(d, n);
    SymmetricCsc out;
    {
        py::gil_scoped_release release;
        out = ainv(sire.data(), dam.data(), n, d.data());
    }
    // Hand each vector to numpy without a copy; a capsule owns it.
    auto adopt = [](auto&& values) {
        using Vector = std::decay_t<decltype(values)>;
        auto* owned = new Vector(std::move(values));
        py::capsule owner(owned, [](void* p) { delete static_cast<Vector*>(p); });
        return py::array_t<typename Vector::value_type>(
            static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
    };
    return py::make_tuple(adopt(std::move(out.indptr)), adopt(std::move(out.indices)),
                          adopt(std::move(out.data)));
}

template <void (*Kernel)(const std::int64_t*, const std::int64_t*, std::int64_t, const double*,
                         const double*, std::int64_t, double*)>
py::array_t<double> product(const IndexArray& sire, const IndexArray& dam, const ValueArray& d,
                            const ValueArray& X) {
    const std::int64_t n = checked_pedigree(sire, dam);
    check_d(d, n);
    const std::int64_t k = checked_columns(X, n);
    py::array_t<double> Y(std::vector<py::ssize_t>(X.shape(), X.shape() + X.ndim()));
    double* Yp = Y.mutable_data();
    {
        py::gil_scoped_release release;
        Kernel(sire.data(), dam.data(), n, d.data(), X.data(), k, Yp);
    }
    return Y;
}

py::array_t<double> pedigree_dense_a(const IndexArray& sire, const IndexArray& dam) {
    const std::int64_t n = checked_pedigree(sire, dam);
    py::array_t<double> A({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(n)});
    double* Ap = A.mutable_data();
    {
        py::gil_scoped_release release;
        dense_a(sire.data(), dam.data(), n, Ap);
    }
    return A;
}

}  // namespace

void register_bindings(py::module_& m) {
    m.def("pedigree_inbreeding", &pedigree_inbreeding, py::arg("sire"), py::arg("dam"),
          py::arg("method") = "auto", py::arg("threads") = 0,
          "Inbreeding F and Mendelian-sampling variances d: by sire groups on the sires' "
          "ancestry ('sires'), by Meuwissen & Luo's ancestor tracing ('ancestors', on "
          "`threads` threads, 0 = automatic), or the cheaper of the two by an O(n) cost "
          "bound ('auto').");
    m.def("pedigree_ainv", &pedigree_ainv, py::arg("sire"), py::arg("dam"), py::arg("d"),
          "A-inverse (indptr, indices, data) by Henderson's rules with Quaas' extension.");
    m.def("pedigree_a_times", &product<a_times>, py::arg("sire"), py::arg("dam"), py::arg("d"),
          py::arg("x"), "A x by Colleau's indirect method.");
    m.def("pedigree_ainv_times", &product<ainv_times>, py::arg("sire"), py::arg("dam"),
          py::arg("d"), py::arg("x"), "A^-1 x without forming A^-1.");
    m.def("pedigree_dense_a", &pedigree_dense_a, py::arg("sire"), py::arg("dam"),
          "Dense A by the tabular method.");
}

}  // namespace tabmixr::kinship
