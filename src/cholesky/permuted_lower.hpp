// tril(P Q P^T) in CSC: the matrix CHOLMOD's supernodal numeric factorization
// reads, kept between refactorizations together with a gather map from Q's
// stored values.
//
// cholmod_factorize rebuilds this matrix on every call by transposing Q (twice
// when Q is given lower-stored, once when upper-stored).  Its pattern depends
// only on Q's pattern and the fill-reducing permutation, so it is built once
// here; a refactorization then copies nnz(tril) values in one pass
// (x[k] = Q_data[source[k]], checked against the mirrored entry) and calls
// cholmod_super_numeric directly.
#pragma once

#include <cholmod.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tabmixr::cholesky {

// A CHOLMOD view (no copy) of a sorted, packed n x n CSC matrix with int64
// indices that stores its lower triangle (stype = -1); x == nullptr gives a
// pattern-only view.
cholmod_sparse lower_csc_view(std::int64_t n, std::int64_t* indptr, std::int64_t* indices,
                              double* x, std::size_t nnz);

class PermutedLower {
public:
    PermutedLower() = default;

    // Pattern of tril(P Q P^T) for the n x n pattern (indptr, indices) holding
    // both triangles, with perm[k] the original index of pivot k.  `common` is
    // the caller's started CHOLMOD workspace (used for the one transpose).
    // Throws std::runtime_error when CHOLMOD runs out of memory.
    PermutedLower(std::int64_t n, const std::vector<std::int64_t>& indptr,
                  const std::vector<std::int64_t>& indices, const std::int64_t* perm,
                  cholmod_common* common);

    // Copy the values of Q (aligned with the pattern given to the constructor),
    // checking each entry of Q's upper triangle against its mirror below.
    // Returns false if a value is not finite or the values are not symmetric
    // (to within 1e-10 relative); the caller then names the entry.
    bool assign(const double* Q_data);

    // CHOLMOD view (stype = -1, sorted, packed) of the matrix; valid while this
    // object lives and is not modified.
    cholmod_sparse view();

    std::int64_t nnz() const { return static_cast<std::int64_t>(indices_.size()); }

private:
    std::int64_t n_ = 0;
    std::vector<std::int64_t> indptr_;
    std::vector<std::int64_t> indices_;
    std::vector<std::int64_t> source_;  // position in Q's storage of each entry (upper triangle)
    std::vector<std::int64_t> mirror_;  // position of its transposed entry (lower triangle)
    std::vector<double> values_;
};

}  // namespace tabmixr::cholesky
