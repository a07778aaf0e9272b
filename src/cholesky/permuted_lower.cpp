#include "cholesky/permuted_lower.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace tabmixr::cholesky {

namespace {

// tril(P Q P^T) by one CHOLMOD transpose of Q's upper triangle, each entry
// carrying its storage position in Q as its value (exact in a double below 2^53).
cholmod_sparse* permuted_positions(std::int64_t n, const std::vector<std::int64_t>& indptr,
                                   const std::vector<std::int64_t>& indices,
                                   const std::int64_t* perm, cholmod_common* common) {
    std::vector<double> position(indices.size());
    for (size_t p = 0; p < position.size(); ++p) position[p] = static_cast<double>(p);
    cholmod_sparse Q;
    std::memset(&Q, 0, sizeof(Q));
    Q.nrow = static_cast<size_t>(n);
    Q.ncol = static_cast<size_t>(n);
    Q.nzmax = indices.size();
    Q.p = const_cast<std::int64_t*>(indptr.data());
    Q.i = const_cast<std::int64_t*>(indices.data());
    Q.x = position.data();
    Q.stype = 1;  // upper triangle referenced
    Q.itype = CHOLMOD_LONG;
    Q.xtype = CHOLMOD_REAL;
    Q.dtype = CHOLMOD_DOUBLE;
    Q.sorted = 1;
    Q.packed = 1;
    return cholmod_l_ptranspose(&Q, 2, const_cast<std::int64_t*>(perm), nullptr, 0, common);
}

}  // namespace

PermutedLower::PermutedLower(std::int64_t n, const std::vector<std::int64_t>& indptr,
                             const std::vector<std::int64_t>& indices, const std::int64_t* perm,
                             cholmod_common* common)
    : n_(n) {
    const size_t nnz = indices.size();
    cholmod_sparse* S = permuted_positions(n, indptr, indices, perm, common);
    if (S == nullptr) {
        throw std::runtime_error("CHOLMOD could not permute Q (status " +
                                 std::to_string(common->status) + "; out of memory?)");
    }
    const auto* Sp = static_cast<const std::int64_t*>(S->p);
    const auto* Si = static_cast<const std::int64_t*>(S->i);
    const auto* Sx = static_cast<const double*>(S->x);
    const std::int64_t len = Sp[n];
    indptr_.assign(Sp, Sp + n + 1);
    indices_.assign(Si, Si + len);
    source_.resize(static_cast<size_t>(len));
    for (std::int64_t k = 0; k < len; ++k) source_[k] = static_cast<std::int64_t>(Sx[k]);
    cholmod_l_free_sparse(&S, common);
    // Mirror of each upper entry: entry (j, i) of column i for (i, j) in column j.
    mirror_.resize(static_cast<size_t>(len));
    std::vector<std::int64_t> column_of(nnz);
    for (std::int64_t j = 0; j < n; ++j) {
        std::fill(column_of.begin() + indptr[j], column_of.begin() + indptr[j + 1], j);
    }
    for (std::int64_t k = 0; k < len; ++k) {
        const std::int64_t p = source_[k], i = indices[p], j = column_of[p];
        const auto first = indices.begin() + indptr[i], last = indices.begin() + indptr[i + 1];
        const auto it = std::lower_bound(first, last, j);
        if (it == last || *it != j) {
            throw std::logic_error("PermutedLower: the pattern of Q is not symmetric");
        }
        mirror_[k] = static_cast<std::int64_t>(it - indices.begin());
    }
    values_.assign(static_cast<size_t>(len), 0.0);
}

bool PermutedLower::assign(const double* Q_data) {
    const std::int64_t len = nnz();
    const std::int64_t* source = source_.data();
    const std::int64_t* mirror = mirror_.data();
    double* x = values_.data();
    bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (len > 200000)
    for (std::int64_t k = 0; k < len; ++k) {
        const double a = Q_data[source[k]], b = Q_data[mirror[k]];
        x[k] = a;
        // Both finite (written so that a NaN fails) and equal to within 1e-10 relative.
        constexpr double big = std::numeric_limits<double>::max();
        ok = ok && std::abs(a) <= big && std::abs(b) <= big &&
             std::abs(a - b) <= 1e-10 * std::max(std::abs(a), std::abs(b));
    }
    return ok;
}

cholmod_sparse lower_csc_view(std::int64_t n, std::int64_t* indptr, std::int64_t* indices,
                              double* x, std::size_t nnz) {
    cholmod_sparse S;
    std::memset(&S, 0, sizeof(S));
    S.nrow = static_cast<size_t>(n);
    S.ncol = static_cast<size_t>(n);
    S.nzmax = nnz;
    S.p = indptr;
    S.i = indices;
    S.x = x;
    S.stype = -1;  // lower triangle referenced
    S.itype = CHOLMOD_LONG;
    S.xtype = x != nullptr ? CHOLMOD_REAL : CHOLMOD_PATTERN;
    S.dtype = CHOLMOD_DOUBLE;
    S.sorted = 1;
    S.packed = 1;
    return S;
}

cholmod_sparse PermutedLower::view() {
    return lower_csc_view(n_, indptr_.data(), indices_.data(), values_.data(), indices_.size());
}

}  // namespace tabmixr::cholesky
