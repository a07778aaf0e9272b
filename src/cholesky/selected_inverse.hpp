// Selected inversion (Takahashi recursion): the entries of Q^{-1} on the
// pattern of its Cholesky factor, and the quantities built from them.
//
// With Q[perm, perm] = L L^T and Z = (L L^T)^{-1}, column j of Z on the
// pattern of L follows from the columns to its right (Takahashi, Fagan & Chin
// 1973; Erisman & Tinney 1975):
//
//     Z[i, j] = -(1 / L[j, j]) sum_{k > j, k in L(:, j)} L[k, j] Z[i, k]     (i > j)
//     Z[j, j] = 1 / L[j, j]^2 - (1 / L[j, j]) sum_{k > j} L[k, j] Z[k, j]
//
// Every Z[i, k] needed lies on the (filled) pattern of L, so the recursion never
// leaves it.  Q^{-1}[perm[i], perm[j]] = Z[i, j].
//
// Z is stored exactly like L: for a supernodal factor in CHOLMOD's supernodal
// layout (supernodal_selinv.hpp), for a simplicial one aligned with
// lower_factor().  Both are described by a SupernodalView (a simplicial factor
// is one with single-column supernodes), so every output below reads Z through
// one layout, and nothing proportional to nnz(L) is kept besides Z itself.
#pragma once

#include <cstdint>
#include <vector>

#include "cholesky/sparse_cholesky.hpp"
#include "common/csc.hpp"

namespace tabmixr::cholesky {

// Z on the pattern of a simplicial L: one value per stored entry of L, aligned
// with L.indices.
std::vector<double> takahashi(const LowerCsc& L);

// Selected inverse of a factorized SparseCholesky, recomputed lazily whenever
// the factor's version changes.  Not thread-safe (the binding serializes calls).
class SelectedInverse {
public:
    explicit SelectedInverse(const SparseCholesky& chol) : chol_(chol) {}

    // diag(Q^{-1}) in the original ordering (n values).
    void diag(double* out);
    // Q^{-1} on Q's own pattern: one value per stored entry of Q (chol.indices()).
    void on_pattern(double* out);
    // Number of stored entries of symmetric(): 2 nnz(L) - n.
    std::int64_t symmetric_nnz();
    // Q^{-1} on the symmetrized pattern of L, original ordering, both triangles,
    // sorted rows: indptr (n + 1), indices and data (symmetric_nnz() each).
    // Index is std::int32_t (when symmetric_nnz() fits) or std::int64_t.
    template <class Index>
    void symmetric(Index* indptr, Index* indices, double* data);
    // tr(Q^{-1} dQ) for each of n_dQ derivative value arrays on Q's own pattern
    // (dQ_data is n_dQ x nnz(Q), row-major).
    std::vector<double> trace_on_pattern(const double* dQ_data, std::int64_t n_dQ);
    // tr(Q^{-1} dQ) for dQ on any pattern inside the symmetrized pattern of L.
    // Throws std::invalid_argument naming a nonzero entry outside it.
    double trace(const CscView& dQ);

private:
    // Recompute Z (and the layout) if the factor changed since the last call.
    void update();
    // Position in Z of Q^{-1}[a, b] (original indices), or -1.
    std::int64_t locate(std::int64_t a, std::int64_t b) const;
    // Position in Z of every stored entry of Q; built once (pattern only).
    const std::vector<std::int64_t>& Q_to_Z();
    // Column counts of symmetric() and each supernode's rows sorted by perm.
    void build_symmetric_pattern();

    const SparseCholesky& chol_;
    std::uint64_t Z_version_ = 0;
    std::vector<double> Z_;                 // laid out as layout_
    SupernodalView layout_;                 // where each entry of Z sits
    std::vector<std::int64_t> unit_super_;  // 0..n: single-column supernodes (simplicial)
    std::vector<std::int64_t> col_super_;   // supernode of each column
    std::vector<std::int64_t> pinv_;
    std::vector<std::int64_t> Q_to_Z_;
    std::vector<std::int64_t> sym_indptr_;  // column pointers of symmetric()
    std::vector<std::int32_t> original_rows_;  // perm[row] for each row of each supernode
    std::vector<std::int32_t> sorted_;         // per supernode: local rows in order of perm[row]
};

}  // namespace tabmixr::cholesky
