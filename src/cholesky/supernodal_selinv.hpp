// Supernodal selected inversion: the Takahashi recursion one supernode at a
// time with dense BLAS/LAPACK blocks (the simplicial recursion of
// selected_inverse.hpp does the same sums entry by entry).
//
// For a supernode with columns J and off-diagonal rows R,
//
//     L = [L_JJ; L_RJ],   Y = L_RJ L_JJ^{-1},
//     Z_RJ = -Z_RR Y,     Z_JJ = (L_JJ L_JJ^T)^{-1} - Y^T Z_RJ,
//
// where Z_RR is gathered from the supernodes that own the columns R (all
// processed before, since they come later in the elimination order).
#pragma once

#include <vector>

#include "cholesky/sparse_cholesky.hpp"

namespace tabmixr::cholesky {

// Z = (L L^T)^{-1} on the pattern of the supernodal L, laid out like L->x
// (the strictly upper part of each diagonal block is left undefined).
std::vector<double> takahashi_supernodal(const SupernodalView& L);

// The values of a supernodal-layout array on the simplicial copy of L (the
// order of SparseCholesky::lower_factor()).
std::vector<double> supernodal_to_lower(const SupernodalView& L, const std::vector<double>& Zx,
                                        std::int64_t lower_nnz);

}  // namespace tabmixr::cholesky
