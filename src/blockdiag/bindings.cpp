// Python binding of the blockdiag area: _kernels.blockdiag_quadform.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "blockdiag/bindings.hpp"
#include "blockdiag/gram.hpp"
#include "blockdiag/quadform.hpp"
#include "common/csc.hpp"

namespace py = pybind11;

namespace tabmixr::blockdiag {

namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style>;
using ValueArray = py::array_t<double, py::array::c_style>;

void require_ndim(const char* what, const py::array& array, py::ssize_t ndim) {
    if (array.ndim() != ndim) {
        throw std::invalid_argument(std::string(what) + " must be " + std::to_string(ndim) +
                                    "-dimensional, got " + std::to_string(array.ndim()) +
                                    " dimensions");
    }
}

py::array_t<double> blockdiag_quadform(const IndexArray& K_indptr, const IndexArray& K_indices,
                                       const ValueArray& K_data, const ValueArray& S,
                                       const IndexArray& W_indptr, const IndexArray& W_indices,
                                       const ValueArray& W_data, std::int64_t block_size) {
    require_ndim("K_indptr", K_indptr, 1);
    require_ndim("K_indices", K_indices, 1);
    require_ndim("K_data", K_data, 1);
    require_ndim("W_indptr", W_indptr, 1);
    require_ndim("W_indices", W_indices, 1);
    require_ndim("W_data", W_data, 1);
    require_ndim("S", S, 2);
    if (S.shape(0) != S.shape(1)) {
        throw std::invalid_argument("S must be square (m x m), got shape (" +
                                    std::to_string(S.shape(0)) + ", " +
                                    std::to_string(S.shape(1)) + ")");
    }
    if (block_size < 1) {
        throw std::invalid_argument("block_size must be >= 1, got " + std::to_string(block_size));
    }
    const std::int64_t m = S.shape(0);
    const CscView K = make_csc_view("K", K_indptr.data(), K_indptr.size(), K_indices.data(),
                                    K_indices.size(), K_data.data(), K_data.size(), m);
    const CscView W = make_csc_view("W", W_indptr.data(), W_indptr.size(), W_indices.data(),
                                    W_indices.size(), W_data.data(), W_data.size(), m);
    if (K.ncol != W.ncol) {
        throw std::invalid_argument("K and W must have the same number of columns, got " +
                                    std::to_string(K.ncol) + " and " + std::to_string(W.ncol));
    }
    if (K.ncol % block_size != 0) {
        throw std::invalid_argument("the number of columns (" + std::to_string(K.ncol) +
                                    ") is not a multiple of block_size (" +
                                    std::to_string(block_size) + ")");
    }
    require_finite("S", S.data(), S.size());

    const std::int64_t n_blocks = K.ncol / block_size;
    py::array_t<double> out({static_cast<py::ssize_t>(n_blocks),
                             static_cast<py::ssize_t>(block_size),
                             static_cast<py::ssize_t>(block_size)});
    double* out_ptr = out.mutable_data();
    const double* S_ptr = S.data();
    {
        py::gil_scoped_release release;
        quadform(K, S_ptr, W, block_size, out_ptr);
    }
    return out;
}

py::array_t<double> weighted_gram_binding(const IndexArray& G_indptr, const IndexArray& G_indices,
                                  const ValueArray& G_data, std::int64_t nrow,
                                  const ValueArray& C) {
    require_ndim("G_indptr", G_indptr, 1);
    require_ndim("G_indices", G_indices, 1);
    require_ndim("G_data", G_data, 1);
    require_ndim("C", C, 3);
    const std::int64_t q = C.shape(1);
    if (C.shape(2) != q || q < 1) {
        throw std::invalid_argument("C must hold square q x q blocks, got shape (" +
                                    std::to_string(C.shape(0)) + ", " +
                                    std::to_string(C.shape(1)) + ", " +
                                    std::to_string(C.shape(2)) + ")");
    }
    if (nrow < 0) {
        throw std::invalid_argument("nrow must be >= 0, got " + std::to_string(nrow));
    }
    const CscView G = make_csc_view("G", G_indptr.data(), G_indptr.size(), G_indices.data(),
                                    G_indices.size(), G_data.data(), G_data.size(), nrow);
    if (G.ncol != C.shape(0) * q) {
        throw std::invalid_argument("G has " + std::to_string(G.ncol) + " columns but C holds " +
                                    std::to_string(C.shape(0)) + " blocks of size " +
                                    std::to_string(q));
    }
    require_finite("C", C.data(), C.size());
    const double* Cd = C.data();
    for (std::int64_t l = 0; l < C.shape(0); ++l) {
        for (std::int64_t i = 0; i < q; ++i) {
            for (std::int64_t j = 0; j < i; ++j) {
                const double a = Cd[(l * q + i) * q + j], b = Cd[(l * q + j) * q + i];
                if (std::abs(a - b) > 1e-12 * (std::abs(a) + std::abs(b)) + 1e-300) {
                    throw std::invalid_argument("C must hold symmetric blocks; block " +
                                                std::to_string(l) + " is not symmetric");
                }
            }
        }
    }
    py::array_t<double> out({static_cast<py::ssize_t>(nrow), static_cast<py::ssize_t>(nrow)});
    double* out_ptr = out.mutable_data();
    const double* C_ptr = C.data();
    {
        py::gil_scoped_release release;
        weighted_gram(G, C_ptr, q, out_ptr);
    }
    return out;
}

}  // namespace

void register_bindings(py::module_& m) {
    m.def("blockdiag_quadform", &blockdiag_quadform, py::arg("K_indptr"), py::arg("K_indices"),
          py::arg("K_data"), py::arg("S"), py::arg("W_indptr"), py::arg("W_indices"),
          py::arg("W_data"), py::arg("block_size"),
          R"doc(Diagonal q x q blocks of K^T S W for CSC matrices K, W (m x n) and dense S (m x m).

Returns a float64 array of shape (n / q, q, q) with
out[l, i, j] = K[:, l*q+i]^T S W[:, l*q+j], summed over the stored entries of
both columns (S W is never formed). Index arrays are int64, values float64,
all C-contiguous. Raises ValueError on mismatched lengths, n not a multiple of
block_size, row indices out of range, or non-finite values. Releases the GIL.)doc");
    m.def("weighted_gram", &weighted_gram_binding, py::arg("G_indptr"), py::arg("G_indices"),
          py::arg("G_data"), py::arg("nrow"), py::arg("C"),
          R"doc(Dense G blockdiag(C) G^T for a CSC matrix G (nrow x n) and symmetric blocks C of shape (n/q, q, q).

Cost is sum over blocks of nnz(col i) * nnz(col j); G blockdiag(C) is never
formed. Raises ValueError on inconsistent shapes, bad CSC arrays or non-finite
values. Releases the GIL.)doc");
}

}  // namespace tabmixr::blockdiag
