#include "cholesky/supernodal_selinv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

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

namespace {

constexpr int kSmallBlock = 48;  // diagonal blocks up to this order are inverted by hand

[[noreturn]] void singular(std::int64_t s) {
    throw std::runtime_error("selected inversion: the diagonal block of supernode " +
                             std::to_string(s) + " is singular; factorize Q first");
}

[[noreturn]] void missing_row(std::int64_t row, std::int64_t t) {
    throw std::logic_error("selected inversion: row " + std::to_string(row) +
                           " is missing from supernode " + std::to_string(t));
}

// Lower triangle of Z = (L L^T)^{-1} for a small lower-triangular L (order nc <=
// kSmallBlock, leading dimension ld): M = L^{-1} by forward substitution, then
// Z = M^T M.  LAPACK's dpotri does the same, with more overhead per call.
void small_inverse_gram(std::int64_t s, int nc, const double* L, int ld, double* Z) {
    double M[kSmallBlock * kSmallBlock];
    for (int j = 0; j < nc; ++j) {
        double* x = M + j * nc;  // column j of L^{-1}: solve L x = e_j
        for (int i = 0; i < j; ++i) x[i] = 0.0;
        x[j] = 1.0;
        for (int i = j + 1; i < nc; ++i) x[i] = 0.0;
        for (int k = j; k < nc; ++k) {
            const double d = L[k + k * ld];
            if (d == 0.0) singular(s);
            const double xk = x[k] / d;
            x[k] = xk;
            const double* Lk = L + k * ld;
            for (int i = k + 1; i < nc; ++i) x[i] -= Lk[i] * xk;
        }
    }
    for (int j = 0; j < nc; ++j) {
        const double* mj = M + j * nc;
        for (int i = j; i < nc; ++i) {
            const double* mi = M + i * nc;
            double sum = 0.0;
            for (int k = i; k < nc; ++k) sum += mi[k] * mj[k];
            Z[i + j * ld] = sum;
        }
    }
}

// Lower triangle of (L_JJ L_JJ^T)^{-1} into the diagonal block Zs (leading dimension ld).
void inverse_gram(std::int64_t s, int nc, const double* Ls, int ld, double* Zs) {
    if (nc <= kSmallBlock) {
        small_inverse_gram(s, nc, Ls, ld, Zs);
        return;
    }
    for (int c = 0; c < nc; ++c) {
        std::copy(Ls + c + c * ld, Ls + nc + c * ld, Zs + c + c * ld);
    }
    int info = 0;
    dpotri_("L", &nc, Zs, &ld, &info);
    if (info != 0) singular(s);
}

// Largest buffers the loop needs: Y (nr x nc), Z_RR (nr x nr), positions of R's rows.
struct BufferSizes {
    size_t Y = 0, ZRR = 0, rows = 0;
};

BufferSizes buffer_sizes(const SupernodalView& L) {
    BufferSizes out;
    for (std::int64_t s = 0; s < L.nsuper; ++s) {
        const std::int64_t nc = L.super[s + 1] - L.super[s];
        const std::int64_t nr = L.pi[s + 1] - L.pi[s] - nc;
        out.Y = std::max(out.Y, static_cast<size_t>(nr * nc));
        out.ZRR = std::max(out.ZRR, static_cast<size_t>(nr * nr));
        out.rows = std::max(out.rows, static_cast<size_t>(nr));
    }
    return out;
}

}  // namespace

void takahashi_supernodal(const SupernodalView& L, double* Zx) {
    std::vector<std::int64_t> col_super(static_cast<size_t>(L.n));
    for (std::int64_t s = 0; s < L.nsuper; ++s) {
        std::fill(col_super.begin() + L.super[s], col_super.begin() + L.super[s + 1], s);
    }
    const BufferSizes sizes = buffer_sizes(L);
    std::vector<double> Y(sizes.Y), ZRR_buffer(sizes.ZRR);
    std::vector<std::int64_t> where(sizes.rows);  // position of R[a + b] in t's row list
    const double one = 1.0, minus_one = -1.0, zero = 0.0;

    for (std::int64_t s = L.nsuper - 1; s >= 0; --s) {
        const std::int64_t k1 = L.super[s];
        const int nc = static_cast<int>(L.super[s + 1] - k1);
        const int nrows = static_cast<int>(L.pi[s + 1] - L.pi[s]);
        const int nr = nrows - nc;
        const std::int64_t* R = L.rows + L.pi[s] + nc;
        const double* Ls = L.x + L.px[s];
        double* Zs = Zx + L.px[s];

        if (nr > 0) {
            // Y = L_RJ L_JJ^{-1}
            for (int c = 0; c < nc; ++c) {
                std::copy(Ls + nc + c * nrows, Ls + nrows + c * nrows, Y.data() + c * nr);
            }
            dtrsm_("R", "L", "N", "N", &nr, &nc, &one, Ls, &nrows, Y.data(), &nr);

            // Gather the lower triangle of Z_RR (nr x nr), one owner supernode t at a time.
            double* ZRR = ZRR_buffer.data();
            for (int a = 0; a < nr;) {
                const std::int64_t t = col_super[R[a]];
                const std::int64_t t_first = L.super[t], t_end = L.super[t + 1];
                const std::int64_t* t_rows = L.rows + L.pi[t];
                const std::int64_t t_nrows = L.pi[t + 1] - L.pi[t];
                const double* Zt = Zx + L.px[t];
                int a_end = a;
                while (a_end < nr && R[a_end] < t_end) ++a_end;
                const int m = nr - a;
                std::int64_t q = R[a] - t_first;
                for (int b = 0; b < m; ++b) {
                    while (q < t_nrows && t_rows[q] < R[a + b]) ++q;
                    if (q == t_nrows || t_rows[q] != R[a + b]) missing_row(R[a + b], t);
                    where[b] = q;
                }
                for (int c = a; c < a_end; ++c) {
                    const double* src = Zt + where[c - a] * t_nrows;
                    double* dst = ZRR + static_cast<size_t>(c) * nr;
                    for (int b = c; b < nr; ++b) dst[b] = src[where[b - a]];
                }
                a = a_end;
            }
            dsymm_("L", "L", &nr, &nc, &minus_one, ZRR, &nr, Y.data(), &nr, &zero, Zs + nc, &nrows);
        }

        // Z_JJ = (L_JJ L_JJ^T)^{-1} - Y^T Z_RJ (lower triangle; the upper part is zeroed).
        inverse_gram(s, nc, Ls, nrows, Zs);
        for (int c = 1; c < nc; ++c) std::fill(Zs + c * nrows, Zs + c + c * nrows, 0.0);
        if (nr > 0) {
            dgemm_("T", "N", &nc, &nc, &nr, &minus_one, Y.data(), &nr, Zs + nc, &nrows, &one, Zs,
                   &nrows);
            for (int c = 1; c < nc; ++c) std::fill(Zs + c * nrows, Zs + c + c * nrows, 0.0);
        }
    }
}

}  // namespace tabmixr::cholesky
