// Diagonal blocks of the bilinear form K^T S W for sparse K, W and dense S.
#pragma once

#include <cstdint>

#include "common/csc.hpp"

namespace tabmixr::blockdiag {

// out[l, i, j] = K[:, l*q + i]^T S W[:, l*q + j] for l < ncol / q, i, j < q.
//
// Args:
//   K, W: CSC views of the same shape (m x n), n a multiple of q.
//   S: dense row-major m x m matrix.
//   q: block size.
//   out: (n / q) * q * q doubles, row-major (l, i, j); overwritten.
//
// Cost: sum over blocks and (i, j) of nnz(K[:, l*q+i]) * nnz(W[:, l*q+j]);
// S W is never formed.  Duplicate entries in a column are summed, as in scipy.
// Pure C++ (no Python objects): safe to run without the GIL.
void quadform(const CscView& K, const double* S, const CscView& W, std::int64_t q, double* out);

}  // namespace tabmixr::blockdiag
