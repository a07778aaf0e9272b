#include "cholesky/sparse_cholesky.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace tabmixr::cholesky {

static_assert(sizeof(SuiteSparse_long) == sizeof(std::int64_t),
              "CHOLMOD's long integer must be 64-bit");

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

std::string entry_name(std::int64_t i, std::int64_t j) {
    return "Q[" + std::to_string(i) + ", " + std::to_string(j) + "]";
}

// Position of row `row` in column `col` of a CSC pattern with sorted rows, or -1.
std::int64_t find_entry(const std::vector<std::int64_t>& indptr,
                        const std::vector<std::int64_t>& indices, std::int64_t row,
                        std::int64_t col) {
    const auto first = indices.begin() + indptr[col];
    const auto last = indices.begin() + indptr[col + 1];
    const auto it = std::lower_bound(first, last, row);
    return (it != last && *it == row) ? static_cast<std::int64_t>(it - indices.begin()) : -1;
}

}  // namespace

SparseCholesky::SparseCholesky(std::int64_t n, std::vector<std::int64_t> indptr,
                               std::vector<std::int64_t> indices, int method)
    : n_(n), indptr_(std::move(indptr)), indices_(std::move(indices)) {
    if (method != CHOLMOD_SIMPLICIAL && method != CHOLMOD_AUTO && method != CHOLMOD_SUPERNODAL) {
        fail("method must be CHOLMOD_SIMPLICIAL (0), CHOLMOD_AUTO (1) or CHOLMOD_SUPERNODAL (2), "
             "got " + std::to_string(method));
    }
    if (n_ < 1) {
        fail("Q must have at least one row and column, got n = " + std::to_string(n_));
    }
    if (static_cast<std::int64_t>(indptr_.size()) != n_ + 1) {
        fail("Q must be square: Q_indptr has length " + std::to_string(indptr_.size()) +
             ", so Q has " + std::to_string(indptr_.size() - 1) + " columns, but n = " +
             std::to_string(n_) + " rows");
    }
    if (indptr_[0] != 0 || indptr_[n_] != static_cast<std::int64_t>(indices_.size())) {
        fail("Q_indptr must start at 0 and end at len(Q_indices) = " +
             std::to_string(indices_.size()));
    }
    for (std::int64_t j = 0; j < n_; ++j) {
        if (indptr_[j + 1] < indptr_[j]) {
            fail("Q_indptr must be nondecreasing, but indptr[" + std::to_string(j + 1) +
                 "] < indptr[" + std::to_string(j) + "]");
        }
        for (std::int64_t p = indptr_[j]; p < indptr_[j + 1]; ++p) {
            const std::int64_t i = indices_[p];
            if (i < 0 || i >= n_) {
                fail("Q_indices[" + std::to_string(p) + "] = " + std::to_string(i) +
                     " is out of range for " + std::to_string(n_) + " rows");
            }
            if (p > indptr_[j] && i <= indices_[p - 1]) {
                fail("row indices of Q must be sorted and unique within each column; column " +
                     std::to_string(j) + " holds row " + std::to_string(i) + " after row " +
                     std::to_string(indices_[p - 1]) + " (call sum_duplicates/sort_indices)");
            }
        }
    }
    // Symmetric pattern; keep, per strictly lower entry, where its mirror is stored.
    lower_mate_.reserve((indices_.size() - static_cast<size_t>(n_)) / 2 + 1);
    for (std::int64_t j = 0; j < n_; ++j) {
        for (std::int64_t p = indptr_[j]; p < indptr_[j + 1]; ++p) {
            const std::int64_t i = indices_[p];
            const std::int64_t q = find_entry(indptr_, indices_, j, i);
            if (q < 0) {
                fail("Q must be stored with both triangles and a symmetric pattern: " +
                     entry_name(i, j) + " is stored but " + entry_name(j, i) + " is not");
            }
            if (i > j) lower_mate_.push_back(q);
        }
    }

    cholmod_l_start(&common_);
    common_.print = 0;
    common_.error_handler = nullptr;
    common_.supernodal = method;
    common_.final_ll = 1;  // keep L L^T (not L D L^T) so L^{-T} z is a draw
    cholmod_sparse Q = view_of_Q(false);
    L_ = cholmod_l_analyze(&Q, &common_);
    if (L_ == nullptr) {
        const int status = common_.status;
        cholmod_l_finish(&common_);
        throw std::runtime_error("CHOLMOD analysis of Q failed (status " + std::to_string(status) +
                                 "; out of memory?)");
    }
    perm_.assign(static_cast<const std::int64_t*>(L_->Perm),
                 static_cast<const std::int64_t*>(L_->Perm) + n_);
    if (L_->is_super) {
        // Refactorizations feed tril(P Q P^T) to cholmod_super_numeric directly.
        std::vector<std::int64_t>().swap(lower_mate_);
        try {
            permuted_Q_ = PermutedLower(n_, indptr_, indices_, perm_.data(), &common_);
        } catch (...) {
            cholmod_l_free_factor(&L_, &common_);
            cholmod_l_finish(&common_);
            throw;
        }
    }
}

SparseCholesky::~SparseCholesky() {
    cholmod_l_free_factor(&L_, &common_);
    cholmod_l_finish(&common_);
}

cholmod_sparse SparseCholesky::view_of_Q(bool with_values) {
    // symmetric, lower triangle referenced (the fastest for simplicial)
    return lower_csc_view(n_, indptr_.data(), indices_.data(), with_values ? values_.data() : nullptr,
                          indices_.size());
}

void SparseCholesky::check_values(const double* data) const {
    std::int64_t l = 0;  // strictly lower entries seen so far
    for (std::int64_t j = 0; j < n_; ++j) {
        for (std::int64_t p = indptr_[j]; p < indptr_[j + 1]; ++p) {
            const std::int64_t i = indices_[p];
            const double a = data[p];
            if (!std::isfinite(a)) {
                fail("Q holds a non-finite value " + std::to_string(a) + " at " + entry_name(i, j));
            }
            if (i > j) {
                // lower_mate_ is kept for simplicial factors only (a search otherwise).
                const std::int64_t q = lower_mate_.empty() ? find_entry(indptr_, indices_, j, i)
                                                           : lower_mate_[l++];
                const double b = data[q];
                if (std::abs(a - b) > 1e-10 * std::max(std::abs(a), std::abs(b))) {
                    fail("Q is not symmetric: " + entry_name(i, j) + " = " + std::to_string(a) +
                         " but " + entry_name(j, i) + " = " + std::to_string(b));
                }
            }
        }
    }
}

void SparseCholesky::factorize(const double* data, std::int64_t len) {
    if (len != nnz()) {
        fail("pattern mismatch: Q_data has " + std::to_string(len) +
             " values but the analysed pattern of Q has " + std::to_string(nnz()) +
             " stored entries; analyse the new pattern with a new factor");
    }
    // Bad values are rejected before the factor is touched (it stays usable).
    common_.status = CHOLMOD_OK;
    int ok = 0;
    if (L_->is_super) {
        // What cholmod_factorize does, minus its per-call transposes of Q.
        if (!permuted_Q_.assign(data)) {
            check_values(data);  // names the entry at fault
            fail("Q holds a non-finite or non-symmetric value");
        }
        factorized_ = false;
        cholmod_sparse S = permuted_Q_.view();
        double beta[2] = {0.0, 0.0};
        ok = cholmod_l_super_numeric(&S, nullptr, beta, L_, &common_);
    } else {
        check_values(data);
        factorized_ = false;
        values_.assign(data, data + len);
        cholmod_sparse Q = view_of_Q(true);
        ok = cholmod_l_factorize(&Q, L_, &common_);
    }
    if (common_.status < 0 || (!ok && common_.status != CHOLMOD_NOT_POSDEF)) {
        throw std::runtime_error("CHOLMOD factorization failed (status " +
                                 std::to_string(common_.status) + "; out of memory?)");
    }
    if (common_.status == CHOLMOD_NOT_POSDEF || L_->minor < static_cast<size_t>(n_)) {
        const std::int64_t k = static_cast<std::int64_t>(L_->minor);
        const std::int64_t column = perm_[std::min<std::int64_t>(k, n_ - 1)];
        throw NotPositiveDefinite(
            "Q is not positive definite: the Cholesky factorization broke down at column " +
                std::to_string(column) + " of Q (pivot " + std::to_string(k) +
                " of the fill-reducing order); check the diagonal and the parameters that build Q",
            column);
    }
    if (!L_->is_ll) {
        cholmod_l_change_factor(CHOLMOD_REAL, 1, L_->is_super, 1, 1, L_, &common_);
    }
    factorized_ = true;
    ++version_;
}

void SparseCholesky::require_factorized(const char* what) const {
    if (!factorized_) {
        throw std::logic_error(std::string(what) +
                               " needs a numeric factor: call factorize(data) first (the last "
                               "factorization failed or none was done)");
    }
}

SupernodalView SparseCholesky::supernodal_view() const {
    require_factorized("supernodal_view");
    if (!L_->is_super) throw std::logic_error("supernodal_view: the factor is simplicial");
    SupernodalView v;
    v.n = n_;
    v.nsuper = static_cast<std::int64_t>(L_->nsuper);
    v.super = static_cast<const std::int64_t*>(L_->super);
    v.pi = static_cast<const std::int64_t*>(L_->pi);
    v.px = static_cast<const std::int64_t*>(L_->px);
    v.rows = static_cast<const std::int64_t*>(L_->s);
    v.x = static_cast<const double*>(L_->x);
    v.xsize = static_cast<std::int64_t>(L_->xsize);
    return v;
}

bool SparseCholesky::is_supernodal() const { return L_->is_super != 0; }

std::int64_t SparseCholesky::factor_nnz() const {
    if (L_->is_super) {
        const auto* super = static_cast<const std::int64_t*>(L_->super);
        const auto* pi = static_cast<const std::int64_t*>(L_->pi);
        std::int64_t total = 0;
        for (size_t s = 0; s < L_->nsuper; ++s) {
            const std::int64_t ncols = super[s + 1] - super[s];
            const std::int64_t nrows = pi[s + 1] - pi[s];
            total += ncols * nrows - ncols * (ncols - 1) / 2;
        }
        return total;
    }
    const auto* colcount = static_cast<const std::int64_t*>(L_->ColCount);
    std::int64_t total = 0;
    for (std::int64_t j = 0; j < n_; ++j) total += colcount[j];
    return total;
}

void SparseCholesky::apply_system(int system, const double* b, std::int64_t ncol,
                                  double* x) const {
    cholmod_dense B;
    std::memset(&B, 0, sizeof(B));
    B.nrow = static_cast<size_t>(n_);
    B.ncol = static_cast<size_t>(ncol);
    B.nzmax = B.nrow * B.ncol;
    B.d = B.nrow;
    B.x = const_cast<double*>(b);
    B.xtype = CHOLMOD_REAL;
    B.dtype = CHOLMOD_DOUBLE;
    cholmod_dense* X = cholmod_l_solve(system, L_, &B, &common_);
    if (X == nullptr) {
        throw std::runtime_error("CHOLMOD solve failed (status " + std::to_string(common_.status) +
                                 ")");
    }
    std::memcpy(x, X->x, sizeof(double) * B.nzmax);
    cholmod_l_free_dense(&X, &common_);
}

void SparseCholesky::solve(const double* b, std::int64_t ncol, double* x) const {
    require_factorized("solve");
    if (ncol == 0) return;
    apply_system(CHOLMOD_A, b, ncol, x);
}

void SparseCholesky::sample(const double* z, std::int64_t ncol, double* x) const {
    require_factorized("sample");
    if (ncol == 0) return;
    std::vector<double> y(static_cast<size_t>(n_ * ncol));
    apply_system(CHOLMOD_Lt, z, ncol, y.data());
    apply_system(CHOLMOD_Pt, y.data(), ncol, x);
}

double SparseCholesky::logdet() const {
    require_factorized("logdet");
    const auto* x = static_cast<const double*>(L_->x);
    double total = 0.0;
    if (L_->is_super) {
        const auto* super = static_cast<const std::int64_t*>(L_->super);
        const auto* pi = static_cast<const std::int64_t*>(L_->pi);
        const auto* px = static_cast<const std::int64_t*>(L_->px);
        for (size_t s = 0; s < L_->nsuper; ++s) {
            const std::int64_t nrows = pi[s + 1] - pi[s];
            for (std::int64_t c = 0; c < super[s + 1] - super[s]; ++c) {
                total += std::log(x[px[s] + c * nrows + c]);
            }
        }
    } else {
        const auto* p = static_cast<const std::int64_t*>(L_->p);
        for (std::int64_t j = 0; j < n_; ++j) total += std::log(x[p[j]]);
    }
    return 2.0 * total;
}

const LowerCsc& SparseCholesky::lower_factor() const {
    require_factorized("lower_factor");
    if (lower_version_ == version_) return lower_;
    LowerCsc& out = lower_;
    out.n = n_;
    out.indptr.assign(static_cast<size_t>(n_ + 1), 0);
    const auto* x = static_cast<const double*>(L_->x);
    if (L_->is_super) {
        const auto* super = static_cast<const std::int64_t*>(L_->super);
        const auto* pi = static_cast<const std::int64_t*>(L_->pi);
        const auto* px = static_cast<const std::int64_t*>(L_->px);
        const auto* rows = static_cast<const std::int64_t*>(L_->s);
        for (size_t s = 0; s < L_->nsuper; ++s) {
            const std::int64_t nrows = pi[s + 1] - pi[s];
            for (std::int64_t j = super[s]; j < super[s + 1]; ++j) {
                out.indptr[j + 1] = nrows - (j - super[s]);
            }
        }
        for (std::int64_t j = 0; j < n_; ++j) out.indptr[j + 1] += out.indptr[j];
        out.indices.resize(static_cast<size_t>(out.indptr[n_]));
        out.data.resize(static_cast<size_t>(out.indptr[n_]));
        for (size_t s = 0; s < L_->nsuper; ++s) {
            const std::int64_t nrows = pi[s + 1] - pi[s];
            for (std::int64_t j = super[s]; j < super[s + 1]; ++j) {
                const std::int64_t c = j - super[s];
                std::int64_t q = out.indptr[j];
                for (std::int64_t r = c; r < nrows; ++r, ++q) {
                    out.indices[q] = rows[pi[s] + r];
                    out.data[q] = x[px[s] + c * nrows + r];
                }
            }
        }
    } else {
        const auto* p = static_cast<const std::int64_t*>(L_->p);
        const auto* i = static_cast<const std::int64_t*>(L_->i);
        const auto* nz = static_cast<const std::int64_t*>(L_->nz);
        for (std::int64_t j = 0; j < n_; ++j) out.indptr[j + 1] = out.indptr[j] + nz[j];
        out.indices.resize(static_cast<size_t>(out.indptr[n_]));
        out.data.resize(static_cast<size_t>(out.indptr[n_]));
        for (std::int64_t j = 0; j < n_; ++j) {
            std::copy(i + p[j], i + p[j] + nz[j], out.indices.begin() + out.indptr[j]);
            std::copy(x + p[j], x + p[j] + nz[j], out.data.begin() + out.indptr[j]);
        }
    }
    lower_version_ = version_;
    return out;
}

}  // namespace tabmixr::cholesky
