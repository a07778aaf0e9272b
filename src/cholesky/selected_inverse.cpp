#include "cholesky/selected_inverse.hpp"

#include "cholesky/supernodal_selinv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace tabmixr::cholesky {

std::vector<double> takahashi(const LowerCsc& L) {
    const std::int64_t n = L.n;
    const auto& Lp = L.indptr;
    const auto& Li = L.indices;
    const auto& Lx = L.data;
    std::vector<double> Z(Lx.size(), 0.0);
    std::vector<std::int64_t> pos(static_cast<size_t>(n), -1);  // row -> entry of column j
    std::vector<double> w(static_cast<size_t>(n), 0.0);         // w[i] = sum_k L[k,j] Z[i,k]
    for (std::int64_t j = n - 1; j >= 0; --j) {
        const std::int64_t p0 = Lp[j], p1 = Lp[j + 1];
        const double d = Lx[p0];
        for (std::int64_t p = p0 + 1; p < p1; ++p) {
            pos[Li[p]] = p;
            w[Li[p]] = 0.0;
        }
        for (std::int64_t a = p0 + 1; a < p1; ++a) {
            const std::int64_t k = Li[a];
            const double Lkj = Lx[a];
            w[k] += Lkj * Z[Lp[k]];
            // Pairs i > k of rows of column j: Z[i, k] sits in column k of Z.
            for (std::int64_t q = Lp[k] + 1; q < Lp[k + 1]; ++q) {
                const std::int64_t pi = pos[Li[q]];
                if (pi < 0) continue;
                const double Zik = Z[q];
                w[Li[q]] += Lkj * Zik;
                w[k] += Lx[pi] * Zik;
            }
        }
        double s = 0.0;
        for (std::int64_t p = p0 + 1; p < p1; ++p) {
            Z[p] = -w[Li[p]] / d;
            s += Lx[p] * Z[p];
            pos[Li[p]] = -1;
        }
        Z[p0] = (1.0 / d - s) / d;
    }
    return Z;
}

const std::vector<double>& SelectedInverse::values() {
    chol_.require_factorized("selected inversion");
    if (Z_version_ != chol_.version()) {
        if (chol_.is_supernodal()) {
            const SupernodalView S = chol_.supernodal_view();
            Z_ = supernodal_to_lower(S, takahashi_supernodal(S),
                                     static_cast<std::int64_t>(chol_.lower_factor().data.size()));
        } else {
            Z_ = takahashi(chol_.lower_factor());
        }
        Z_version_ = chol_.version();
    }
    return Z_;
}

std::vector<double> SelectedInverse::diag() {
    const auto& Z = values();
    const LowerCsc& L = chol_.lower_factor();
    const auto& perm = chol_.perm();
    std::vector<double> out(static_cast<size_t>(L.n));
    for (std::int64_t j = 0; j < L.n; ++j) out[perm[j]] = Z[L.indptr[j]];
    return out;
}

void SelectedInverse::build_symmetric_pattern() {
    const LowerCsc& L = chol_.lower_factor();
    const auto& perm = chol_.perm();
    const std::int64_t n = L.n;
    // Count the entries of each output column (original ordering, both triangles).
    sym_indptr_.assign(static_cast<size_t>(n + 1), 0);
    for (std::int64_t j = 0; j < n; ++j) {
        for (std::int64_t p = L.indptr[j]; p < L.indptr[j + 1]; ++p) {
            ++sym_indptr_[perm[j] + 1];
            if (L.indices[p] != j) ++sym_indptr_[perm[L.indices[p]] + 1];
        }
    }
    for (std::int64_t c = 0; c < n; ++c) sym_indptr_[c + 1] += sym_indptr_[c];
    const size_t total = static_cast<size_t>(sym_indptr_[n]);
    sym_indices_.resize(total);
    sym_source_.resize(total);
    std::vector<std::int64_t> next(sym_indptr_.begin(), sym_indptr_.end() - 1);
    for (std::int64_t j = 0; j < n; ++j) {
        for (std::int64_t p = L.indptr[j]; p < L.indptr[j + 1]; ++p) {
            const std::int64_t a = perm[L.indices[p]], b = perm[j];
            sym_indices_[next[b]] = a;
            sym_source_[next[b]++] = p;
            if (a != b) {
                sym_indices_[next[a]] = b;
                sym_source_[next[a]++] = p;
            }
        }
    }
    // Sort the rows of each column, carrying the sources along.
    std::vector<std::pair<std::int64_t, std::int64_t>> column;
    for (std::int64_t c = 0; c < n; ++c) {
        const std::int64_t begin = sym_indptr_[c], end = sym_indptr_[c + 1];
        column.clear();
        for (std::int64_t t = begin; t < end; ++t) {
            column.emplace_back(sym_indices_[t], sym_source_[t]);
        }
        std::sort(column.begin(), column.end());
        for (std::int64_t t = begin; t < end; ++t) {
            sym_indices_[t] = column[t - begin].first;
            sym_source_[t] = column[t - begin].second;
        }
    }
}

SymmetricCsc SelectedInverse::symmetric() {
    const auto& Z = values();
    const LowerCsc& L = chol_.lower_factor();
    if (sym_source_.empty() ||
        sym_source_.size() != 2 * L.indices.size() - static_cast<size_t>(L.n)) {
        build_symmetric_pattern();
    }
    SymmetricCsc out;
    out.n = L.n;
    out.indptr = sym_indptr_;
    out.indices = sym_indices_;
    out.data.resize(sym_source_.size());
    for (size_t t = 0; t < sym_source_.size(); ++t) out.data[t] = Z[sym_source_[t]];
    return out;
}

const std::vector<std::int64_t>& SelectedInverse::inverse_perm() {
    if (pinv_.empty()) {
        const auto& perm = chol_.perm();
        pinv_.resize(perm.size());
        for (size_t k = 0; k < perm.size(); ++k) pinv_[perm[k]] = static_cast<std::int64_t>(k);
    }
    return pinv_;
}

std::int64_t SelectedInverse::locate(std::int64_t a, std::int64_t b) const {
    const std::int64_t ia = pinv_[a], ib = pinv_[b];
    const std::int64_t r = std::max(ia, ib), c = std::min(ia, ib);
    const LowerCsc& L = chol_.lower_factor();
    const auto first = L.indices.begin() + L.indptr[c];
    const auto last = L.indices.begin() + L.indptr[c + 1];
    const auto it = std::lower_bound(first, last, r);
    return (it != last && *it == r) ? static_cast<std::int64_t>(it - L.indices.begin()) : -1;
}

std::vector<double> SelectedInverse::trace_on_pattern(const double* dQ_data, std::int64_t n_dQ) {
    const auto& Z = values();
    inverse_perm();
    const std::int64_t nnz = chol_.nnz();
    if (map_version_ != chol_.version()) {
        const auto& Qp = chol_.indptr();
        const auto& Qi = chol_.indices();
        Q_to_Z_.resize(static_cast<size_t>(nnz));
        for (std::int64_t j = 0; j < chol_.n(); ++j) {
            for (std::int64_t p = Qp[j]; p < Qp[j + 1]; ++p) Q_to_Z_[p] = locate(Qi[p], j);
        }
        map_version_ = chol_.version();
    }
    std::vector<double> out(static_cast<size_t>(n_dQ), 0.0);
    for (std::int64_t k = 0; k < n_dQ; ++k) {
        const double* d = dQ_data + k * nnz;
        double s = 0.0;
        for (std::int64_t p = 0; p < nnz; ++p) s += d[p] * Z[Q_to_Z_[p]];
        out[k] = s;
    }
    return out;
}

double SelectedInverse::trace(const CscView& dQ) {
    const auto& Z = values();
    inverse_perm();
    double s = 0.0;
    for (std::int64_t j = 0; j < dQ.ncol; ++j) {
        for (std::int64_t p = dQ.col_begin(j); p < dQ.col_end(j); ++p) {
            if (dQ.data[p] == 0.0) continue;
            const std::int64_t q = locate(dQ.indices[p], j);
            if (q < 0) {
                throw std::invalid_argument(
                    "dQ has a nonzero entry at (" + std::to_string(dQ.indices[p]) + ", " +
                    std::to_string(j) +
                    ") outside the pattern of the Cholesky factor, where Q^-1 is not computed; "
                    "give dQ on the pattern of Q");
            }
            s += dQ.data[p] * Z[q];
        }
    }
    return s;
}

}  // namespace tabmixr::cholesky
