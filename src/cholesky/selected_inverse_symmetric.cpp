// SelectedInverse::symmetric: Z on the symmetrized pattern of L, mapped back to
// the original ordering, written straight into the caller's CSC arrays.
//
// Column perm[k] of the output holds two sorted runs:
//   A: rows perm[j] for j < k with L[k, j] stored (row k of L), and
//   B: rows perm[i] for i >= k with L[i, k] stored (column k of L).
// Pass A visits the columns j of L in increasing perm[j] and appends perm[j]
// to the columns perm[i] of its rows i > j, so every A run comes out sorted.
// Pass B reads column k's rows in the order of perm (sorted once per
// supernode, which shares one row list) and merges them into the A run from
// the back, in place.  No per-entry map is stored: the pattern costs n + 1
// pointers and two int32 per row of each supernode (its original index and
// its rank in the supernode's row list).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "cholesky/selected_inverse.hpp"

namespace tabmixr::cholesky {

void SelectedInverse::build_symmetric_pattern() {
    const SupernodalView& F = layout_;
    const auto& perm = chol_.perm();
    const std::int64_t n = F.n;
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::length_error("selected inversion: Q has more than 2^31 - 1 rows");
    }
    sym_indptr_.assign(static_cast<size_t>(n + 1), 0);
    sorted_.resize(static_cast<size_t>(F.pi[F.nsuper]));
    original_rows_.resize(static_cast<size_t>(F.pi[F.nsuper]));
    for (std::int64_t q = 0; q < F.pi[F.nsuper]; ++q) {
        original_rows_[q] = static_cast<std::int32_t>(perm[F.rows[q]]);
    }
    for (std::int64_t s = 0; s < F.nsuper; ++s) {
        const std::int64_t nrows = F.pi[s + 1] - F.pi[s];
        const std::int64_t nc = F.super[s + 1] - F.super[s];
        const std::int32_t* orig = original_rows_.data() + F.pi[s];
        for (std::int64_t r = 0; r < nrows; ++r) {
            // Row r of the supernode: run B of its column (r < nc) and, in run A,
            // one entry per column c < r of the supernode.
            sym_indptr_[orig[r] + 1] += (r < nc ? nrows - r : 0) + std::min(r, nc);
        }
        std::int32_t* order = sorted_.data() + F.pi[s];
        std::iota(order, order + nrows, 0);
        std::sort(order, order + nrows,
                  [orig](std::int32_t x, std::int32_t y) { return orig[x] < orig[y]; });
    }
    for (std::int64_t c = 0; c < n; ++c) sym_indptr_[c + 1] += sym_indptr_[c];
}

std::int64_t SelectedInverse::symmetric_nnz() {
    update();
    if (sym_indptr_.empty()) build_symmetric_pattern();
    return sym_indptr_.back();
}

template <class Index>
void SelectedInverse::symmetric(Index* indptr, Index* indices, double* data) {
    const std::int64_t total = symmetric_nnz();
    if (total > static_cast<std::int64_t>(std::numeric_limits<Index>::max())) {
        throw std::logic_error("selected inversion: index type too small for the output");
    }
    const SupernodalView& F = layout_;
    const auto& perm = chol_.perm();
    const std::int64_t n = F.n;
    const double* Z = Z_.data();
    for (std::int64_t c = 0; c <= n; ++c) indptr[c] = static_cast<Index>(sym_indptr_[c]);
    // Pass A: strictly lower entries of column j = pinv[b], for b = 0, 1, ...
    // next[i]: where the next entry of output column perm[i] goes; indexed by the
    // permuted row i, so that the rows of one column of L (close together in the
    // permuted order) read nearby cursors.
    std::vector<Index> next(static_cast<size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) next[i] = static_cast<Index>(sym_indptr_[perm[i]]);
    for (std::int64_t b = 0; b < n; ++b) {
        const std::int64_t j = pinv_[b];
        const std::int64_t s = col_super_[j];
        const std::int64_t c = j - F.super[s];
        const std::int64_t nrows = F.pi[s + 1] - F.pi[s];
        const std::int64_t* rows = F.rows + F.pi[s];
        const double* zj = Z + F.px[s] + c * nrows;
        for (std::int64_t r = c + 1; r < nrows; ++r) {
            const Index at = next[rows[r]]++;
            indices[at] = static_cast<Index>(b);
            data[at] = zj[r];
        }
    }
    // Pass B: column k's own entries (diagonal included), merged from the back.
    for (std::int64_t s = 0; s < F.nsuper; ++s) {
        const std::int64_t nrows = F.pi[s + 1] - F.pi[s];
        const std::int32_t* orig = original_rows_.data() + F.pi[s];
        const std::int32_t* order = sorted_.data() + F.pi[s];
        for (std::int64_t k = F.super[s]; k < F.super[s + 1]; ++k) {
            const std::int64_t c = k - F.super[s];
            const double* zk = Z + F.px[s] + c * nrows;
            const std::int64_t col = perm[k];
            const std::int64_t start = sym_indptr_[col];
            std::int64_t dst = sym_indptr_[col + 1] - 1;
            std::int64_t a = dst - (nrows - c);  // last entry of run A (run B: nrows - c)
            for (std::int64_t t = nrows - 1; t >= 0; --t) {
                const std::int32_t r = order[t];
                if (r < c) continue;
                const Index row = static_cast<Index>(orig[r]);
                while (a >= start && indices[a] > row) {
                    indices[dst] = indices[a];
                    data[dst--] = data[a--];
                }
                indices[dst] = row;
                data[dst--] = zk[r];
            }
        }
    }
}

template void SelectedInverse::symmetric<std::int32_t>(std::int32_t*, std::int32_t*, double*);
template void SelectedInverse::symmetric<std::int64_t>(std::int64_t*, std::int64_t*, double*);

}  // namespace tabmixr::cholesky
