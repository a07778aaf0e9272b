// Read-only view of a compressed sparse column (CSC) matrix and its checks.
//
// Kernels take CSC arrays (indptr, indices, data) straight from scipy, never a
// sparse type.  Index arrays are int64: the Python facade converts int32 input.
#pragma once

#include <cstdint>
#include <string>

namespace tabmixr {

struct CscView {
    const std::int64_t* indptr;   // length ncol + 1, indptr[0] == 0, nondecreasing
    const std::int64_t* indices;  // row index of each stored entry, length nnz
    const double* data;           // value of each stored entry, length nnz
    std::int64_t nrow;
    std::int64_t ncol;

    std::int64_t col_begin(std::int64_t j) const { return indptr[j]; }
    std::int64_t col_end(std::int64_t j) const { return indptr[j + 1]; }
};

// Build a view after checking every structural invariant.
//
// Throws std::invalid_argument (ValueError in Python) naming `what` when the
// lengths disagree, indptr is not a valid pointer array, a row index is out of
// [0, nrow), or a stored value is not finite.
CscView make_csc_view(const char* what, const std::int64_t* indptr, std::int64_t indptr_len,
                      const std::int64_t* indices, std::int64_t indices_len, const double* data,
                      std::int64_t data_len, std::int64_t nrow);

// Throws std::invalid_argument unless all n values are finite.
void require_finite(const char* what, const double* values, std::int64_t n);

}  // namespace tabmixr
