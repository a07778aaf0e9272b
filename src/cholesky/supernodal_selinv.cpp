#include "cholesky/supernodal_selinv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

extern "C" {
void dtrsm_(const char* side, const char* uplo, const char* transa, const char* diag,
            const int* m, const int* n, const double* alpha, const double* a, const int* lda,
            double* b, const int* ldb);
void dsymm_(const char* side, const char* uplo, const int* m, const int* n, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta,
            double* c, const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);
}

namespace tabmixr::cholesky {

std::vector<double> takahashi_supernodal(const SupernodalView& L) {
    const std::int64_t n = L.n;
    std::vector<double> Zx(static_cast<size_t>(L.xsize), 0.0);
    std::vector<std::int64_t> col_super(static_cast<size_t>(n));
    for (std::int64_t s = 0; s < L.nsuper; ++s) {
        for (std::int64_t j = L.super[s]; j < L.super[s + 1]; ++j) col_super[j] = s;
    }
    std::vector<double> Y, ZRR;
    std::vector<std::int64_t> where;  // position of each row of R in the owner's row list

    for (std::int64_t s = L.nsuper - 1; s >= 0; --s) {
        const std::int64_t k1 = L.super[s];
        const int nc = static_cast<int>(L.super[s + 1] - k1);
        const int nrows = static_cast<int>(L.pi[s + 1] - L.pi[s]);
        const int nr = nrows - nc;
        const std::int64_t* rows = L.rows + L.pi[s];
        const double* Ls = L.x + L.px[s];
        double* Zs = Zx.data() + L.px[s];
        int info = 0;

        // Z_JJ <- (L_JJ L_JJ^T)^{-1} (lower triangle) from a copy of L_JJ.
        for (int c = 0; c < nc; ++c) {
            for (int r = c; r < nc; ++r) Zs[r + c * nrows] = Ls[r + c * nrows];
        }
        dpotri_("L", &nc, Zs, &nrows, &info);
        if (info != 0) {
            throw std::runtime_error("selected inversion: dpotri failed at supernode " +
                                     std::to_string(s) + " (info " + std::to_string(info) + ")");
        }
        if (nr == 0) continue;

        // Y = L_RJ L_JJ^{-1}
        Y.assign(static_cast<size_t>(nr) * nc, 0.0);
        for (int c = 0; c < nc; ++c) {
            std::copy(Ls + nc + c * nrows, Ls + nrows + c * nrows, Y.begin() + c * nr);
        }
        const double one = 1.0, minus_one = -1.0, zero = 0.0;
        dtrsm_("R", "L", "N", "N", &nr, &nc, &one, Ls, &nrows, Y.data(), &nr);

        // Gather the lower triangle of Z_RR, one owner supernode at a time.
        ZRR.assign(static_cast<size_t>(nr) * nr, 0.0);
        where.assign(static_cast<size_t>(nr), -1);
        for (int a = 0; a < nr;) {
            const std::int64_t t = col_super[rows[nc + a]];
            const std::int64_t t_end = L.super[t + 1];
            const std::int64_t* trows = L.rows + L.pi[t];
            const std::int64_t t_nrows = L.pi[t + 1] - L.pi[t];
            // Rows a.. of R inside t's row list (a single merge walk).
            std::int64_t q = rows[nc + a] - L.super[t];
            for (int b = a; b < nr; ++b) {
                while (q < t_nrows && trows[q] < rows[nc + b]) ++q;
                if (q == t_nrows || trows[q] != rows[nc + b]) {
                    throw std::logic_error("selected inversion: row " +
                                           std::to_string(rows[nc + b]) +
                                           " missing from supernode " + std::to_string(t));
                }
                where[b] = q;
            }
            const double* Zt = Zx.data() + L.px[t];
            int a_end = a;
            while (a_end < nr && rows[nc + a_end] < t_end) ++a_end;
            for (int c = a; c < a_end; ++c) {
                const std::int64_t tc = rows[nc + c] - L.super[t];
                for (int b = c; b < nr; ++b) ZRR[b + c * nr] = Zt[where[b] + tc * t_nrows];
            }
            a = a_end;
        }

        // Z_RJ = -Z_RR Y  (into the off-diagonal rows of the supernode)
        dsymm_("L", "L", &nr, &nc, &minus_one, ZRR.data(), &nr, Y.data(), &nr, &zero, Zs + nc,
               &nrows);
        // Z_JJ -= Y^T Z_RJ
        dgemm_("T", "N", &nc, &nc, &nr, &minus_one, Y.data(), &nr, Zs + nc, &nrows, &one, Zs,
               &nrows);
    }
    return Zx;
}

std::vector<double> supernodal_to_lower(const SupernodalView& L, const std::vector<double>& Zx,
                                        std::int64_t lower_nnz) {
    std::vector<double> out(static_cast<size_t>(lower_nnz));
    std::int64_t q = 0;
    for (std::int64_t s = 0; s < L.nsuper; ++s) {
        const std::int64_t nrows = L.pi[s + 1] - L.pi[s];
        for (std::int64_t j = L.super[s]; j < L.super[s + 1]; ++j) {
            const std::int64_t c = j - L.super[s];
            for (std::int64_t r = c; r < nrows; ++r) out[q++] = Zx[L.px[s] + c * nrows + r];
        }
    }
    if (q != lower_nnz) throw std::logic_error("supernodal_to_lower: size mismatch");
    return out;
}

}  // namespace tabmixr::cholesky
