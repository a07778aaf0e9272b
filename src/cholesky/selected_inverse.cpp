#include "cholesky/selected_inverse.hpp"

#include "cholesky/supernodal_selinv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

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

void SelectedInverse::update() {
    chol_.require_factorized("selected inversion");
    if (Z_version_ == chol_.version()) return;
    const std::int64_t n = chol_.n();
    if (chol_.is_supernodal()) {
        layout_ = chol_.supernodal_view();
        Z_.resize(static_cast<size_t>(layout_.xsize));
        takahashi_supernodal(layout_, Z_.data());
    } else {
        const LowerCsc& L = chol_.lower_factor();
        if (unit_super_.empty()) {
            unit_super_.resize(static_cast<size_t>(n + 1));
            for (std::int64_t j = 0; j <= n; ++j) unit_super_[j] = j;
        }
        layout_.n = n;
        layout_.nsuper = n;
        layout_.super = unit_super_.data();
        layout_.pi = L.indptr.data();
        layout_.px = L.indptr.data();
        layout_.rows = L.indices.data();
        layout_.x = L.data.data();
        layout_.xsize = static_cast<std::int64_t>(L.data.size());
        Z_ = takahashi(L);
    }
    if (col_super_.empty()) {
        col_super_.resize(static_cast<size_t>(n));
        for (std::int64_t s = 0; s < layout_.nsuper; ++s) {
            std::fill(col_super_.begin() + layout_.super[s],
                      col_super_.begin() + layout_.super[s + 1], s);
        }
        const auto& perm = chol_.perm();
        pinv_.resize(perm.size());
        for (size_t k = 0; k < perm.size(); ++k) pinv_[perm[k]] = static_cast<std::int64_t>(k);
    }
    Z_version_ = chol_.version();
}

void SelectedInverse::diag(double* out) {
    update();
    const auto& perm = chol_.perm();
    const SupernodalView& F = layout_;
    for (std::int64_t s = 0; s < F.nsuper; ++s) {
        const std::int64_t nrows = F.pi[s + 1] - F.pi[s];
        for (std::int64_t j = F.super[s]; j < F.super[s + 1]; ++j) {
            const std::int64_t c = j - F.super[s];
            out[perm[j]] = Z_[F.px[s] + c * nrows + c];
        }
    }
}

std::int64_t SelectedInverse::locate(std::int64_t a, std::int64_t b) const {
    const std::int64_t ia = pinv_[a], ib = pinv_[b];
    const std::int64_t r = std::max(ia, ib), c = std::min(ia, ib);
    const SupernodalView& F = layout_;
    const std::int64_t s = col_super_[c];
    const std::int64_t local = c - F.super[s];
    const std::int64_t* first = F.rows + F.pi[s] + local;  // the diagonal, then rows below
    const std::int64_t* last = F.rows + F.pi[s + 1];
    const std::int64_t* it = std::lower_bound(first, last, r);
    if (it == last || *it != r) return -1;
    const std::int64_t nrows = F.pi[s + 1] - F.pi[s];
    return F.px[s] + local * nrows + (it - (F.rows + F.pi[s]));
}

const std::vector<std::int64_t>& SelectedInverse::Q_to_Z() {
    if (Q_to_Z_.empty() && chol_.nnz() > 0) {
        const auto& Qp = chol_.indptr();
        const auto& Qi = chol_.indices();
        Q_to_Z_.resize(static_cast<size_t>(chol_.nnz()));
        for (std::int64_t j = 0; j < chol_.n(); ++j) {
            for (std::int64_t p = Qp[j]; p < Qp[j + 1]; ++p) {
                Q_to_Z_[p] = locate(Qi[p], j);
                if (Q_to_Z_[p] < 0) {
                    throw std::logic_error("selected inversion: Q[" + std::to_string(Qi[p]) +
                                           ", " + std::to_string(j) +
                                           "] lies outside the pattern of L");
                }
            }
        }
    }
    return Q_to_Z_;
}

void SelectedInverse::on_pattern(double* out) {
    update();
    const auto& map = Q_to_Z();
    for (size_t p = 0; p < map.size(); ++p) out[p] = Z_[map[p]];
}

std::vector<double> SelectedInverse::trace_on_pattern(const double* dQ_data, std::int64_t n_dQ) {
    update();
    const auto& map = Q_to_Z();
    const std::int64_t nnz = chol_.nnz();
    std::vector<double> out(static_cast<size_t>(n_dQ), 0.0);
    for (std::int64_t k = 0; k < n_dQ; ++k) {
        const double* d = dQ_data + k * nnz;
        double s = 0.0;
        for (std::int64_t p = 0; p < nnz; ++p) s += d[p] * Z_[map[p]];
        out[k] = s;
    }
    return out;
}

double SelectedInverse::trace(const CscView& dQ) {
    update();
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
            s += dQ.data[p] * Z_[q];
        }
    }
    return s;
}

}  // namespace tabmixr::cholesky
