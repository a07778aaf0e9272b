// Sparse Cholesky factor of a symmetric positive definite matrix Q, held by CHOLMOD.
//
// The symbolic analysis (fill-reducing ordering, elimination tree, supernodes)
// is done once in the constructor; factorize() recomputes the numeric factor
// for new values on the same pattern.  CHOLMOD computes
//
//     Q[perm, perm] = L L^T,
//
// with perm the fill-reducing permutation (perm[k] = original index of pivot k).
// A supernodal refactorization hands tril(P Q P^T), kept by PermutedLower, to
// cholmod_super_numeric; a simplicial one goes through cholmod_factorize.
// Everything CHOLMOD does not offer (selected inversion, traces) lives in
// selected_inverse.hpp.
#pragma once

#include <cholmod.h>

#include "cholesky/permuted_lower.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tabmixr::cholesky {

// Thrown when Q is not positive definite; `column` is the original (unpermuted)
// index of the pivot at which the factorization broke down.
class NotPositiveDefinite : public std::runtime_error {
public:
    NotPositiveDefinite(const std::string& message, std::int64_t column)
        : std::runtime_error(message), column_(column) {}
    std::int64_t column() const { return column_; }

private:
    std::int64_t column_;
};

// Lower-triangular CSC matrix with sorted row indices; the diagonal entry is
// the first entry of every column.
struct LowerCsc {
    std::int64_t n = 0;
    std::vector<std::int64_t> indptr;
    std::vector<std::int64_t> indices;
    std::vector<double> data;
};

// Read-only view of CHOLMOD's supernodal L: supernode s holds the columns
// super[s] .. super[s+1]-1 as a dense column-major block of nrows(s) =
// pi[s+1] - pi[s] rows (row indices rows[pi[s] ..], sorted, the first ones being
// the supernode's own columns) starting at x + px[s].
struct SupernodalView {
    std::int64_t n = 0;
    std::int64_t nsuper = 0;
    const std::int64_t* super = nullptr;
    const std::int64_t* pi = nullptr;
    const std::int64_t* px = nullptr;
    const std::int64_t* rows = nullptr;
    const double* x = nullptr;
    std::int64_t xsize = 0;
};

class SparseCholesky {
public:
    // Symbolic analysis of the n x n pattern (indptr, indices).  Both triangles
    // must be stored (scipy convention), row indices sorted and unique within
    // each column, and the pattern symmetric.  Throws std::invalid_argument
    // naming the offending entry otherwise.  `method` is CHOLMOD's choice of
    // factor: CHOLMOD_SIMPLICIAL, CHOLMOD_AUTO (by flop count) or CHOLMOD_SUPERNODAL.
    SparseCholesky(std::int64_t n, std::vector<std::int64_t> indptr,
                   std::vector<std::int64_t> indices, int method = CHOLMOD_AUTO);
    ~SparseCholesky();
    SparseCholesky(const SparseCholesky&) = delete;
    SparseCholesky& operator=(const SparseCholesky&) = delete;

    // Numeric factorization for the values `data` (one per stored entry of the
    // analysed pattern).  Throws std::invalid_argument for a wrong length,
    // non-finite or non-symmetric values, and NotPositiveDefinite.
    void factorize(const double* data, std::int64_t len);

    // x = Q^{-1} b for ncol right-hand sides stored column-major (n x ncol).
    void solve(const double* b, std::int64_t ncol, double* x) const;
    // x = P^T L^{-T} z: a draw from N(0, Q^{-1}) for standard normal z (n x ncol).
    void sample(const double* z, std::int64_t ncol, double* x) const;
    // log det Q = 2 sum log L[k, k].
    double logdet() const;

    // The supernodal factor (requires is_supernodal()).
    SupernodalView supernodal_view() const;

    // Simplicial copy of L (permuted ordering), rebuilt once per factorization.
    const LowerCsc& lower_factor() const;

    std::int64_t n() const { return n_; }
    std::int64_t nnz() const { return static_cast<std::int64_t>(indices_.size()); }
    const std::vector<std::int64_t>& indptr() const { return indptr_; }
    const std::vector<std::int64_t>& indices() const { return indices_; }
    const std::vector<std::int64_t>& perm() const { return perm_; }
    bool is_factorized() const { return factorized_; }
    bool is_supernodal() const;
    // Number of stored entries of L (including explicit zeros of supernodes).
    std::int64_t factor_nnz() const;
    // Incremented by every successful factorize(); caches compare against it.
    std::uint64_t version() const { return version_; }

    // Throws std::logic_error unless factorize() has succeeded.
    void require_factorized(const char* what) const;

private:
    // CHOLMOD view of Q (lower triangle referenced); values_ when with_values.
    cholmod_sparse view_of_Q(bool with_values);
    // Throws std::invalid_argument for a non-finite or non-symmetric value.
    void check_values(const double* data) const;
    void apply_system(int system, const double* b, std::int64_t ncol, double* x) const;

    std::int64_t n_;
    std::vector<std::int64_t> indptr_;
    std::vector<std::int64_t> indices_;
    std::vector<std::int64_t> lower_mate_;  // per strictly lower entry: its mirror (simplicial)
    std::vector<double> values_;            // copy of Q's values (simplicial factors only)
    PermutedLower permuted_Q_;              // tril(P Q P^T) (supernodal factors only)
    std::vector<std::int64_t> perm_;
    mutable cholmod_common common_;
    cholmod_factor* L_ = nullptr;
    bool factorized_ = false;
    std::uint64_t version_ = 0;
    mutable LowerCsc lower_;
    mutable std::uint64_t lower_version_ = 0;
};

}  // namespace tabmixr::cholesky
