// Weighted Gram product G blockdiag(C) G^T for a sparse G and small blocks C.
#pragma once

#include <cstdint>

#include "common/csc.hpp"

namespace tabmixr::blockdiag {

// out = sum_l G[:, l*q:(l+1)*q] C[l] G[:, l*q:(l+1)*q]^T   (dense m x m).
//
// Args:
//   G: CSC view (m x n), n a multiple of q.
//   C: (n / q) * q * q doubles, row-major (l, i, j); every block symmetric.
//   q: block size.
//   out: m * m doubles, row-major; overwritten.
//
// Cost: sum over blocks and (i, j) of nnz(G[:, l*q+i]) * nnz(G[:, l*q+j]).
// This is L21 L21^T of the exact engine's blocked Cholesky, computed on the
// fixed pattern of the coupling block.  Pure C++: safe without the GIL.
void weighted_gram(const CscView& G, const double* C, std::int64_t q, double* out);

}  // namespace tabmixr::blockdiag
