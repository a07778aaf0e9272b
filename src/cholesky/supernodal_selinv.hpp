// Supernodal selected inversion: the Takahashi recursion one supernode at a
// time with dense BLAS blocks (the simplicial recursion of selected_inverse.hpp
// does the same sums entry by entry).
//
// For a supernode with columns J and off-diagonal rows R,
//
//     L = [L_JJ; L_RJ],   Y = L_RJ L_JJ^{-1},
//     Z_RJ = -Z_RR Y,     Z_JJ = (L_JJ L_JJ^T)^{-1} - Y^T Z_RJ,
//
// where Z_RR is read from the supernodes that own the columns R (all ancestors
// in the supernodal elimination tree, hence processed before).  For owner t
// with columns R_t = R[a, a + w), the rows R[a, end) all lie in t's row list:
// a merge walk gives their relative positions once, and the lower triangle of
// Z[R[a, end), R_t] is gathered through them into a dense Z_RR.  One dsymm
// then forms Z_RR Y.  All workspace is allocated once, before the loop, and
// diagonal blocks of small supernodes are inverted without LAPACK's per-call
// overhead.
#pragma once

#include "cholesky/sparse_cholesky.hpp"

namespace tabmixr::cholesky {

// Z = (L L^T)^{-1} on the pattern of the supernodal L, written to Zx, an array
// of L.xsize doubles laid out like L.x (the strictly upper parts of the
// diagonal blocks are set to zero).  Throws std::runtime_error if a diagonal
// block is singular (L not from a successful factorization).
void takahashi_supernodal(const SupernodalView& L, double* Zx);

}  // namespace tabmixr::cholesky
