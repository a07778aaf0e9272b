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
#pragma once

#include <cstdint>
#include <vector>

#include "cholesky/sparse_cholesky.hpp"
#include "common/csc.hpp"

namespace tabmixr::cholesky {

// Z on the pattern of L: one value per stored entry of L, aligned with L.indices.
std::vector<double> takahashi(const LowerCsc& L);

// Full (both triangles) CSC matrix with sorted row indices.
struct SymmetricCsc {
    std::int64_t n = 0;
    std::vector<std::int64_t> indptr;
    std::vector<std::int64_t> indices;
    std::vector<double> data;
};

// Selected inverse of a factorized SparseCholesky, recomputed lazily whenever
// the factor's version changes.  Not thread-safe (the binding serializes calls).
class SelectedInverse {
public:
    explicit SelectedInverse(const SparseCholesky& chol) : chol_(chol) {}

    // Z on the pattern of L (permuted ordering), aligned with lower_factor().
    const std::vector<double>& values();
    // diag(Q^{-1}) in the original ordering.
    std::vector<double> diag();
    // Q^{-1} on the symmetrized pattern of L, original ordering.
    SymmetricCsc symmetric();
    // tr(Q^{-1} dQ) for each of n_dQ derivative value arrays on Q's own pattern
    // (dQ_data is n_dQ x nnz(Q), row-major).
    std::vector<double> trace_on_pattern(const double* dQ_data, std::int64_t n_dQ);
    // tr(Q^{-1} dQ) for dQ on any pattern inside the symmetrized pattern of L.
    // Throws std::invalid_argument naming a nonzero entry outside it.
    double trace(const CscView& dQ);

private:
    // Position in lower_factor() of Q^{-1}[a, b] (original indices), or -1.
    std::int64_t locate(std::int64_t a, std::int64_t b) const;
    const std::vector<std::int64_t>& inverse_perm();
    // Pattern of symmetric() and, per entry, its source in values(); built once.
    void build_symmetric_pattern();

    const SparseCholesky& chol_;
    std::vector<double> Z_;
    std::uint64_t Z_version_ = 0;
    std::vector<std::int64_t> pinv_;
    std::vector<std::int64_t> Q_to_Z_;  // position in Z of each stored entry of Q
    std::uint64_t map_version_ = 0;
    std::vector<std::int64_t> sym_indptr_, sym_indices_, sym_source_;
};

}  // namespace tabmixr::cholesky
