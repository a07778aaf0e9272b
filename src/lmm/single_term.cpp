// Profiled (RE)ML objective and gradient for one random-effect term (see .hpp).
#include "lmm/single_term.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace tabmixr::lmm {

namespace {

// Small dense row-major matrices.
using Mat = std::vector<double>;

// In-place lower Cholesky of the k x k matrix A; false when not positive definite.
bool cholesky(double* A, std::int64_t k) {
    for (std::int64_t j = 0; j < k; ++j) {
        double d = A[j * k + j];
        for (std::int64_t t = 0; t < j; ++t) d -= A[j * k + t] * A[j * k + t];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        d = std::sqrt(d);
        A[j * k + j] = d;
        for (std::int64_t i = j + 1; i < k; ++i) {
            double s = A[i * k + j];
            for (std::int64_t t = 0; t < j; ++t) s -= A[i * k + t] * A[j * k + t];
            A[i * k + j] = s / d;
        }
        for (std::int64_t i = 0; i < j; ++i) A[i * k + j] = 0.0;
    }
    return true;
}

// Inverse of a lower-triangular k x k matrix (result lower triangular).
void lower_inverse(const double* L, double* out, std::int64_t k) {
    for (std::int64_t i = 0; i < k * k; ++i) out[i] = 0.0;
    for (std::int64_t j = 0; j < k; ++j) {
        out[j * k + j] = 1.0 / L[j * k + j];
        for (std::int64_t i = j + 1; i < k; ++i) {
            double s = 0.0;
            for (std::int64_t t = j; t < i; ++t) s -= L[i * k + t] * out[t * k + j];
            out[i * k + j] = s / L[i * k + i];
        }
    }
}

// C = A^T B for k x k matrices (row-major).
void at_b(const double* A, const double* B, double* C, std::int64_t k) {
    for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (std::int64_t t = 0; t < k; ++t) s += A[t * k + i] * B[t * k + j];
            C[i * k + j] = s;
        }
}

// C = A B for k x k matrices (row-major).
void a_b(const double* A, const double* B, double* C, std::int64_t k) {
    for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (std::int64_t t = 0; t < k; ++t) s += A[i * k + t] * B[t * k + j];
            C[i * k + j] = s;
        }
}

}  // namespace

SingleTermResult single_term_objective(const SingleTermInput& in, const double* theta,
                                       double* gradient) {
    const std::int64_t l = in.l, q = in.q, p = in.p, m = p + 1, n1 = l * q;
    const std::int64_t ntheta = q * (q + 1) / 2;
    const double inf = std::numeric_limits<double>::infinity();

    // Lambda0 from theta (column-major lower triangle, as lme4).
    Mat lam(q * q, 0.0);
    {
        std::int64_t k = 0;
        for (std::int64_t j = 0; j < q; ++j)
            for (std::int64_t i = j; i < q; ++i) lam[i * q + j] = theta[k++];
    }

    // Block 1: A_l = Lambda^T G11_l Lambda + I, its factor, inverse, A^{-1}.
    Mat L11inv(l * q * q), A11inv(l * q * q), C(l * q * q), tmp(q * q), tmp2(q * q);
    double logdet_Z = 0.0;
    for (std::int64_t b = 0; b < l; ++b) {
        const double* G = in.G11 + b * q * q;
        a_b(G, lam.data(), tmp.data(), q);       // G Lambda
        at_b(lam.data(), tmp.data(), tmp2.data(), q);  // Lambda^T G Lambda
        for (std::int64_t i = 0; i < q; ++i) tmp2[i * q + i] += 1.0;
        if (!cholesky(tmp2.data(), q)) return {inf, 0.0};
        for (std::int64_t i = 0; i < q; ++i) logdet_Z += 2.0 * std::log(tmp2[i * q + i]);
        double* Li = L11inv.data() + b * q * q;
        lower_inverse(tmp2.data(), Li, q);
        double* Ai = A11inv.data() + b * q * q;
        at_b(Li, Li, Ai, q);                      // L^{-T} L^{-1}
        a_b(lam.data(), Ai, tmp.data(), q);       // Lambda A^{-1}
        double* Cb = C.data() + b * q * q;        // Lambda A^{-1} Lambda^T
        for (std::int64_t i = 0; i < q; ++i)
            for (std::int64_t j = 0; j < q; ++j) {
                double s = 0.0;
                for (std::int64_t t = 0; t < q; ++t) s += tmp[i * q + t] * lam[j * q + t];
                Cb[i * q + j] = s;
            }
    }

    // Rest block E = GRR - sum_l GR1_l C_l GR1_l^T, then its Cholesky.
    Mat E(in.GRR, in.GRR + m * m);
    Mat GC(m * q);
    for (std::int64_t b = 0; b < l; ++b) {
        const double* Cb = C.data() + b * q * q;
        for (std::int64_t r = 0; r < m; ++r)
            for (std::int64_t j = 0; j < q; ++j) {
                double s = 0.0;
                for (std::int64_t t = 0; t < q; ++t) s += in.GR1[r * n1 + b * q + t] * Cb[t * q + j];
                GC[r * q + j] = s;
            }
        for (std::int64_t r = 0; r < m; ++r)
            for (std::int64_t s2 = 0; s2 <= r; ++s2) {
                double s = 0.0;
                for (std::int64_t j = 0; j < q; ++j) s += GC[r * q + j] * in.GR1[s2 * n1 + b * q + j];
                E[r * m + s2] -= s;
            }
    }
    for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t s2 = r + 1; s2 < m; ++s2) E[r * m + s2] = E[s2 * m + r];
    Mat LRR(E);
    if (!cholesky(LRR.data(), m)) return {inf, 0.0};
    double logdet_X = 0.0;
    for (std::int64_t i = 0; i < p; ++i) logdet_X += 2.0 * std::log(LRR[i * m + i]);
    const double pwrss = LRR[p * m + p] * LRR[p * m + p];
    const double dof = in.reml ? double(in.n - p) : double(in.n);
    const double two_pi = 2.0 * 3.14159265358979323846;
    double objective = logdet_Z - in.ldW + dof * (1.0 + std::log(two_pi * pwrss / dof));
    if (in.reml) objective += logdet_X;

    // beta: Lx^T beta = ly.
    Mat beta(p, 0.0);
    for (std::int64_t i = p - 1; i >= 0; --i) {
        double s = LRR[p * m + i];
        for (std::int64_t t = i + 1; t < p; ++t) s -= LRR[t * m + i] * beta[t];
        beta[i] = s / LRR[i * m + i];
    }

    // u_l = L11^{-T} (tail_y - beta^T tail_X), tail = GR1_l Lambda L11^{-T};
    // zr_l = Z^T W r on level l = GR1_y,l - beta^T GR1_X,l - G11_l Lambda u_l.
    Mat u(n1), zr(n1), w(q), v(q);
    for (std::int64_t b = 0; b < l; ++b) {
        const double* Li = L11inv.data() + b * q * q;
        for (std::int64_t j = 0; j < q; ++j) {
            double s = in.GR1[p * n1 + b * q + j];
            for (std::int64_t t = 0; t < p; ++t) s -= beta[t] * in.GR1[t * n1 + b * q + j];
            v[j] = s;  // (Z^T W (y - X beta)) on level b
        }
        for (std::int64_t j = 0; j < q; ++j) {  // w = L11^{-1} Lambda^T v
            double s = 0.0;
            for (std::int64_t t = 0; t < q; ++t) {
                double lv = 0.0;
                for (std::int64_t r = 0; r < q; ++r) lv += lam[r * q + t] * v[r];
                s += Li[j * q + t] * lv;
            }
            w[j] = s;
        }
        for (std::int64_t j = 0; j < q; ++j) {  // u = L11^{-T} w
            double s = 0.0;
            for (std::int64_t t = 0; t < q; ++t) s += Li[t * q + j] * w[t];
            u[b * q + j] = s;
        }
        const double* G = in.G11 + b * q * q;
        for (std::int64_t i = 0; i < q; ++i) {
            double s = v[i];
            for (std::int64_t t = 0; t < q; ++t) {
                double lu = 0.0;
                for (std::int64_t r = 0; r < q; ++r) lu += lam[t * q + r] * u[b * q + r];
                s -= G[i * q + t] * lu;
            }
            zr[b * q + i] = s;
        }
    }

    // Selected inverse on the rest block (X part for REML, nothing for ML).
    const std::int64_t mm = in.reml ? p : 0;
    Mat S22(mm * mm, 0.0);
    if (mm) {
        Mat Lx(mm * mm), Lxi(mm * mm);
        for (std::int64_t i = 0; i < mm; ++i)
            for (std::int64_t j = 0; j < mm; ++j) Lx[i * mm + j] = LRR[i * m + j];
        lower_inverse(Lx.data(), Lxi.data(), mm);
        at_b(Lxi.data(), Lxi.data(), S22.data(), mm);
    }

    // Gradient: 2 sum_l Q_l[j, i] + dof * dpwrss / pwrss.
    Mat Qsum(q * q, 0.0), T(q * q), B(q * q), S11(q * q), SG(q * q), BT(q * q);
    for (std::int64_t b = 0; b < l; ++b) {
        for (std::int64_t i = 0; i < q; ++i)  // T = GR1_l[:mm]^T S22 GR1_l[:mm]
            for (std::int64_t j = 0; j < q; ++j) {
                double s = 0.0;
                for (std::int64_t r = 0; r < mm; ++r) {
                    double sr = 0.0;
                    for (std::int64_t c = 0; c < mm; ++c) sr += S22[r * mm + c] * in.GR1[c * n1 + b * q + j];
                    s += in.GR1[r * n1 + b * q + i] * sr;
                }
                T[i * q + j] = s;
            }
        const double* Ai = A11inv.data() + b * q * q;
        a_b(lam.data(), Ai, B.data(), q);              // B = Lambda A^{-1}
        at_b(B.data(), T.data(), BT.data(), q);       // B^T T
        a_b(BT.data(), B.data(), S11.data(), q);      // B^T T B
        for (std::int64_t i = 0; i < q * q; ++i) S11[i] += Ai[i];
        const double* G = in.G11 + b * q * q;
        at_b(lam.data(), G, tmp.data(), q);           // Lambda^T G
        a_b(S11.data(), tmp.data(), SG.data(), q);    // S11 Lambda^T G
        for (std::int64_t i = 0; i < q * q; ++i) Qsum[i] += SG[i] - BT[i];
    }
    std::int64_t k = 0;
    for (std::int64_t j = 0; j < q; ++j)
        for (std::int64_t i = j; i < q; ++i, ++k) {
            double dpw = 0.0;
            for (std::int64_t b = 0; b < l; ++b) dpw += zr[b * q + i] * u[b * q + j];
            gradient[k] = 2.0 * Qsum[j * q + i] + dof * (-2.0 * dpw) / pwrss;
        }
    (void)ntheta;
    return {objective, pwrss};
}

}  // namespace tabmixr::lmm
