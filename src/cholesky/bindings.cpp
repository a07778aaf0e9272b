// Python binding of the cholesky area: _kernels.SparseCholesky and
// _kernels.NotPositiveDefiniteError.  Long calls release the GIL; a mutex per
// object serializes calls that share CHOLMOD's workspace.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cholesky/bindings.hpp"
#include "cholesky/output_buffer.hpp"
#include "cholesky/selected_inverse.hpp"
#include "cholesky/sparse_cholesky.hpp"
#include "common/csc.hpp"

namespace py = pybind11;

namespace tabmixr::cholesky {

namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using ValueArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using ColumnMajor = py::array_t<double, py::array::f_style | py::array::forcecast>;

void require_ndim(const char* what, const py::array& array, py::ssize_t ndim) {
    if (array.ndim() != ndim) {
        throw std::invalid_argument(std::string(what) + " must be " + std::to_string(ndim) +
                                    "-dimensional, got " + std::to_string(array.ndim()) +
                                    " dimensions");
    }
}

std::vector<std::int64_t> to_vector(const IndexArray& a) {
    return std::vector<std::int64_t>(a.data(), a.data() + a.size());
}

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v) {
    return py::array_t<T>(static_cast<py::ssize_t>(v.size()), v.data());
}

class PySparseCholesky {
public:
    PySparseCholesky(std::int64_t n, const IndexArray& indptr, const IndexArray& indices,
                     const std::string& method) {
        int code = CHOLMOD_AUTO;
        if (method == "simplicial") {
            code = CHOLMOD_SIMPLICIAL;
        } else if (method == "supernodal") {
            code = CHOLMOD_SUPERNODAL;
        } else if (method != "auto") {
            throw std::invalid_argument(
                "method must be 'auto', 'simplicial' or 'supernodal', got '" + method + "'");
        }
        require_ndim("Q_indptr", indptr, 1);
        require_ndim("Q_indices", indices, 1);
        auto p = to_vector(indptr);
        auto i = to_vector(indices);
        py::gil_scoped_release release;
        chol_ = std::make_unique<SparseCholesky>(n, std::move(p), std::move(i), code);
        selinv_ = std::make_unique<SelectedInverse>(*chol_);
    }

    void factorize(const ValueArray& data) {
        require_ndim("Q_data", data, 1);
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> guard(mutex_);
        chol_->factorize(data.data(), data.size());
    }

    void refactorize(const IndexArray& indptr, const IndexArray& indices, const ValueArray& data) {
        require_ndim("Q_indptr", indptr, 1);
        require_ndim("Q_indices", indices, 1);
        const auto& p = chol_->indptr();
        const auto& i = chol_->indices();
        if (indptr.size() != static_cast<py::ssize_t>(p.size()) ||
            indices.size() != static_cast<py::ssize_t>(i.size()) ||
            !std::equal(p.begin(), p.end(), indptr.data()) ||
            !std::equal(i.begin(), i.end(), indices.data())) {
            throw std::invalid_argument(
                "pattern mismatch: the new Q has a different sparsity pattern (" +
                std::to_string(indices.size()) + " stored entries) from the analysed one (" +
                std::to_string(i.size()) + " stored entries); analyse it with a new factor");
        }
        factorize(data);
    }

    py::array_t<double> apply(const ColumnMajor& b, bool sample_only, const char* what) {
        if (b.ndim() != 1 && b.ndim() != 2) {
            throw std::invalid_argument(std::string(what) + " must be a vector (n,) or a matrix "
                                        "(n, k), got " + std::to_string(b.ndim()) +
                                        " dimensions");
        }
        if (b.shape(0) != chol_->n()) {
            throw std::invalid_argument(std::string(what) + " has " + std::to_string(b.shape(0)) +
                                        " rows but Q is " + std::to_string(chol_->n()) + " x " +
                                        std::to_string(chol_->n()));
        }
        require_finite(what, b.data(), b.size());
        const std::int64_t ncol = b.ndim() == 2 ? b.shape(1) : 1;
        std::vector<py::ssize_t> shape(b.shape(), b.shape() + b.ndim());
        ColumnMajor x(shape);
        const double* in = b.data();
        double* out = x.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> guard(mutex_);
            if (sample_only) {
                chol_->sample(in, ncol, out);
            } else {
                chol_->solve(in, ncol, out);
            }
        }
        return x;
    }

    py::array_t<double> solve(const ColumnMajor& b) { return apply(b, false, "b"); }
    py::array_t<double> sample(const ColumnMajor& z) { return apply(z, true, "z"); }

    py::array_t<double> sample_mean(const ColumnMajor& b, const ColumnMajor& z) {
        if (b.ndim() != z.ndim() || !std::equal(b.shape(), b.shape() + b.ndim(), z.shape())) {
            throw std::invalid_argument("b and z must have the same shape");
        }
        py::array_t<double> mean = solve(b);
        py::array_t<double> draw = sample(z);
        double* mp = mean.mutable_data();
        const double* dp = draw.data();
        for (py::ssize_t k = 0; k < mean.size(); ++k) mp[k] += dp[k];
        return mean;
    }

    double logdet() {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> guard(mutex_);
        return chol_->logdet();
    }

    // (indptr, indices, data) with int32 index arrays when they fit, else int64.
    py::tuple selected_inverse() {
        std::int64_t nnz = 0;
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> guard(mutex_);
            nnz = selinv_->symmetric_nnz();  // computes Z and the output pattern
        }
        if (nnz <= std::numeric_limits<std::int32_t>::max()) {
            return symmetric_arrays<std::int32_t>(nnz);
        }
        return symmetric_arrays<std::int64_t>(nnz);
    }

    py::array_t<double> selected_inverse_on_pattern() {
        return filled_without_gil(chol_->nnz(), [this](double* d) { selinv_->on_pattern(d); });
    }

    py::array_t<double> diag_inverse() {
        return filled_without_gil(chol_->n(), [this](double* d) { selinv_->diag(d); });
    }

    // A new array of `count` doubles written by `fill` with the GIL released, under the lock.
    template <class Fill>
    py::array_t<double> filled_without_gil(std::int64_t count, Fill&& fill) {
        py::array_t<double> out(static_cast<py::ssize_t>(count));
        double* data = out.mutable_data();
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> guard(mutex_);
        fill(data);
        return out;
    }

    double trace_inv_product(const IndexArray& indptr, const IndexArray& indices,
                             const ValueArray& data) {
        require_ndim("dQ_indptr", indptr, 1);
        require_ndim("dQ_indices", indices, 1);
        require_ndim("dQ_data", data, 1);
        const CscView dQ = make_csc_view("dQ", indptr.data(), indptr.size(), indices.data(),
                                         indices.size(), data.data(), data.size(), chol_->n());
        if (dQ.ncol != chol_->n()) {
            throw std::invalid_argument("dQ has " + std::to_string(dQ.ncol) +
                                        " columns but Q has " + std::to_string(chol_->n()));
        }
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> guard(mutex_);
        return selinv_->trace(dQ);
    }

    py::array_t<double> trace_inv_products(const ValueArray& dQ_data) {
        require_ndim("dQ_data", dQ_data, 2);
        if (dQ_data.shape(1) != chol_->nnz()) {
            throw std::invalid_argument("dQ_data must have one column per stored entry of Q (" +
                                        std::to_string(chol_->nnz()) + "), got " +
                                        std::to_string(dQ_data.shape(1)));
        }
        require_finite("dQ_data", dQ_data.data(), dQ_data.size());
        std::vector<double> out;
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> guard(mutex_);
            out = selinv_->trace_on_pattern(dQ_data.data(), dQ_data.shape(0));
        }
        return to_array(out);
    }

    py::tuple lower_factor() {
        // GIL held while the mutex is: safe, since no holder of the mutex takes the GIL.
        std::lock_guard<std::mutex> guard(mutex_);
        const LowerCsc& L = chol_->lower_factor();
        return py::make_tuple(to_array(L.indptr), to_array(L.indices), to_array(L.data));
    }

    const SparseCholesky& chol() const { return *chol_; }

private:
    // Allocate the output arrays (GIL held, mutex not), then fill them (the reverse).
    template <class Index>
    py::tuple symmetric_arrays(std::int64_t nnz) {
        py::array_t<Index> indptr(static_cast<py::ssize_t>(chol_->n() + 1));
        // The big arrays come from the pool: after the first call, usually memory
        // that is already faulted in (output_buffer.hpp).
        py::array_t<Index> indices = out_pool_.array(py::dtype::of<Index>(), nnz);
        py::array_t<double> data = out_pool_.array(py::dtype::of<double>(), nnz);
        Index* p = indptr.mutable_data();
        Index* i = indices.mutable_data();
        double* x = data.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> guard(mutex_);
            selinv_->symmetric(p, i, x);
        }
        return py::make_tuple(indptr, indices, data);
    }

    std::unique_ptr<SparseCholesky> chol_;
    std::unique_ptr<SelectedInverse> selinv_;
    OutputPool out_pool_;  // memory of selected_inverse()'s large arrays
    std::mutex mutex_;
};

}  // namespace

void register_bindings(py::module_& m) {
    // Leaked on purpose: the exception type must outlive the interpreter's teardown.
    static py::handle not_pd_type =
        (new py::exception<NotPositiveDefinite>(m, "NotPositiveDefiniteError", PyExc_ValueError))
            ->ptr();
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const NotPositiveDefinite& e) {
            py::object error = py::reinterpret_borrow<py::object>(not_pd_type)(e.what());
            error.attr("column") = e.column();
            PyErr_SetObject(not_pd_type.ptr(), error.ptr());
        }
    });

    m.def("_set_mapped_outputs", &OutputPool::set_mapped, py::arg("enabled"),
          "Testing hook: whether selected_inverse()'s large arrays use recycled mappings "
          "(default True) or numpy's allocator; returns the previous setting.");

    py::class_<PySparseCholesky>(m, "SparseCholesky",
                                 R"doc(Sparse Cholesky factor Q[perm, perm] = L L^T (CHOLMOD).

Constructed from the pattern (n, Q_indptr, Q_indices) of a symmetric matrix
stored with both triangles, sorted unique rows per column: this does the
symbolic analysis once.  factorize(Q_data) computes the numeric factor for
values on that pattern.  Long calls release the GIL.)doc")
        .def(py::init<std::int64_t, const IndexArray&, const IndexArray&, const std::string&>(),
             py::arg("n"), py::arg("Q_indptr"), py::arg("Q_indices"), py::arg("method") = "auto",
             "Symbolic analysis; method: 'auto' (CHOLMOD's choice by flop count), "
             "'simplicial' or 'supernodal'.")
        .def("factorize", &PySparseCholesky::factorize, py::arg("Q_data"),
             "Numeric factorization for values on the analysed pattern. Raises ValueError "
             "(bad values), NotPositiveDefiniteError (with .column).")
        .def("refactorize", &PySparseCholesky::refactorize, py::arg("Q_indptr"),
             py::arg("Q_indices"), py::arg("Q_data"),
             "factorize() after checking that the pattern equals the analysed one.")
        .def("solve", &PySparseCholesky::solve, py::arg("b"),
             "Q^-1 b for b of shape (n,) or (n, k).")
        .def("sample", &PySparseCholesky::sample, py::arg("z"),
             "P^T L^-T z: a draw from N(0, Q^-1) per standard normal column of z.")
        .def("sample_mean", &PySparseCholesky::sample_mean, py::arg("b"), py::arg("z"),
             "Q^-1 b + P^T L^-T z: a draw from N(Q^-1 b, Q^-1).")
        .def("logdet", &PySparseCholesky::logdet, "log det Q.")
        .def("selected_inverse", &PySparseCholesky::selected_inverse,
             "(indptr, indices, data): Q^-1 on the symmetrized pattern of L, original ordering, "
             "both triangles, sorted rows; int32 index arrays when they fit, else int64.")
        .def("selected_inverse_on_pattern", &PySparseCholesky::selected_inverse_on_pattern,
             "Q^-1 on Q's own pattern: one value per stored entry of the analysed Q.")
        .def("diag_inverse", &PySparseCholesky::diag_inverse, "diag(Q^-1).")
        .def("trace_inv_product", &PySparseCholesky::trace_inv_product, py::arg("dQ_indptr"),
             py::arg("dQ_indices"), py::arg("dQ_data"),
             "tr(Q^-1 dQ) for a CSC dQ (both triangles) inside the pattern of L + L^T.")
        .def("trace_inv_products", &PySparseCholesky::trace_inv_products, py::arg("dQ_data"),
             "tr(Q^-1 dQ_k) for each row of dQ_data (k, nnz(Q)) holding values on Q's pattern.")
        .def("lower_factor", &PySparseCholesky::lower_factor,
             "(indptr, indices, data) of L in the permuted ordering, lower CSC, diagonal first.")
        .def_property_readonly("perm",
                               [](const PySparseCholesky& s) { return to_array(s.chol().perm()); })
        .def_property_readonly("n", [](const PySparseCholesky& s) { return s.chol().n(); })
        .def_property_readonly("nnz", [](const PySparseCholesky& s) { return s.chol().nnz(); })
        .def_property_readonly("factor_nnz",
                               [](const PySparseCholesky& s) { return s.chol().factor_nnz(); })
        .def_property_readonly("is_supernodal",
                               [](const PySparseCholesky& s) { return s.chol().is_supernodal(); })
        .def_property_readonly("is_factorized",
                               [](const PySparseCholesky& s) { return s.chol().is_factorized(); });
}

}  // namespace tabmixr::cholesky
