#include "kinship/pedigree.hpp"

#include "kinship/inbreeding_ancestors.hpp"
#include "kinship/inbreeding_sires.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace tabmixr::kinship {

void check_parent_order(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p < -1 || p >= i) {
                throw std::invalid_argument(
                    "animal " + std::to_string(i) + " has parent index " + std::to_string(p) +
                    "; parents must be -1 (unknown) or listed before their offspring");
            }
        }
    }
}

void mendelian_variances(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                         const double* F, double* d) {
    for (std::int64_t i = 0; i < n; ++i) d[i] = mendelian_variance(sire, dam, F, i);
}

void inbreeding(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, double* F,
                double* d, InbreedingMethod method, int threads) {
    if (method == InbreedingMethod::ancestors) {
        inbreeding_ancestors(sire, dam, n, F, d, threads);
        return;
    }
    const double max_cost = method == InbreedingMethod::sires
                                ? std::numeric_limits<double>::infinity()
                                : 1000.0 * static_cast<double>(n) + 1e6;
    if (!inbreeding_sires(sire, dam, n, F, d, max_cost)) {
        inbreeding_ancestors(sire, dam, n, F, d, threads);
    }
}

SymmetricCsc ainv(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                  const double* d) {
    // Offspring lists (an animal appears twice under a selfing parent).
    std::vector<std::int64_t> child_start(n + 1, 0);
    for (std::int64_t i = 0; i < n; ++i) {
        if (sire[i] >= 0) ++child_start[sire[i] + 1];
        if (dam[i] >= 0) ++child_start[dam[i] + 1];
    }
    for (std::int64_t k = 0; k < n; ++k) child_start[k + 1] += child_start[k];
    std::vector<std::int64_t> child(child_start[n]);
    {
        std::vector<std::int64_t> next(child_start.begin(), child_start.end() - 1);
        for (std::int64_t i = 0; i < n; ++i) {
            if (sire[i] >= 0) child[next[sire[i]]++] = i;
            if (dam[i] >= 0) child[next[dam[i]]++] = i;
        }
    }
    // Animal o contributes (1 + known parents of o) entries to each of its rows,
    // and by symmetry as many to each of its columns.
    auto width = [&](std::int64_t o) {
        return std::int64_t{1} + (sire[o] >= 0) + (dam[o] >= 0);
    };
    std::vector<std::int64_t> start(n + 1, 0);
    for (std::int64_t o = 0; o < n; ++o) {
        const std::int64_t w = width(o);
        start[o + 1] += w;
        if (sire[o] >= 0) start[sire[o] + 1] += w;
        if (dam[o] >= 0) start[dam[o] + 1] += w;
    }
    for (std::int64_t k = 0; k < n; ++k) start[k + 1] += start[k];
    std::vector<std::int64_t> rows(start[n]);
    std::vector<double> values(start[n]);
    std::vector<std::int64_t> next(start.begin(), start.end() - 1);
    // Row r of animal o's contribution, scaled by r's coefficient c in (e_o - e_s/2 - e_d/2).
    auto emit_row = [&](std::int64_t r, std::int64_t o, double c) {
        const double b = c / d[o];
        std::int64_t at = next[o]++;
        rows[at] = r;
        values[at] = b;
        if (sire[o] >= 0) {
            at = next[sire[o]]++;
            rows[at] = r;
            values[at] = -0.5 * b;
        }
        if (dam[o] >= 0) {
            at = next[dam[o]]++;
            rows[at] = r;
            values[at] = -0.5 * b;
        }
    };
    for (std::int64_t r = 0; r < n; ++r) {
        emit_row(r, r, 1.0);
        for (std::int64_t e = child_start[r]; e < child_start[r + 1]; ++e) {
            emit_row(r, child[e], -0.5);
        }
    }
    // Merge the adjacent repeats of a row within each column, in place.
    SymmetricCsc out;
    out.indptr.assign(n + 1, 0);
    std::int64_t kept = 0;
    for (std::int64_t c = 0; c < n; ++c) {
        const std::int64_t first = kept;
        for (std::int64_t e = start[c]; e < start[c + 1]; ++e) {
            if (kept > first && rows[kept - 1] == rows[e]) {
                values[kept - 1] += values[e];
            } else {
                rows[kept] = rows[e];
                values[kept] = values[e];
                ++kept;
            }
        }
        out.indptr[c + 1] = kept;
    }
    rows.resize(kept);
    values.resize(kept);
    out.indices = std::move(rows);
    out.data = std::move(values);
    return out;
}

void a_times(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, const double* d,
             const double* X, std::int64_t k, double* Y) {
    std::copy(X, X + n * k, Y);
    // Y <- T' X: offspring pass half of their value to each parent (backward).
    for (std::int64_t i = n - 1; i >= 0; --i) {
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p < 0) continue;
            for (std::int64_t c = 0; c < k; ++c) Y[p * k + c] += 0.5 * Y[i * k + c];
        }
    }
    // Y <- D Y, then Y <- T Y: each animal adds half of each parent's value (forward).
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < k; ++c) Y[i * k + c] *= d[i];
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p < 0) continue;
            for (std::int64_t c = 0; c < k; ++c) Y[i * k + c] += 0.5 * Y[p * k + c];
        }
    }
}

void ainv_times(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                const double* d, const double* X, std::int64_t k, double* Y) {
    std::fill(Y, Y + n * k, 0.0);
    std::vector<double> v(k);
    for (std::int64_t i = 0; i < n; ++i) {
        // v = row i of D^-1 (I - P) X, scattered through (I - P)'.
        for (std::int64_t c = 0; c < k; ++c) v[c] = X[i * k + c];
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p < 0) continue;
            for (std::int64_t c = 0; c < k; ++c) v[c] -= 0.5 * X[p * k + c];
        }
        for (std::int64_t c = 0; c < k; ++c) {
            v[c] /= d[i];
            Y[i * k + c] += v[c];
        }
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p < 0) continue;
            for (std::int64_t c = 0; c < k; ++c) Y[p * k + c] -= 0.5 * v[c];
        }
    }
}

void dense_a(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, double* A) {
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t s = sire[i], m = dam[i];
        for (std::int64_t j = 0; j < i; ++j) {
            double value = 0.0;
            if (s >= 0) value += 0.5 * A[j * n + s];
            if (m >= 0) value += 0.5 * A[j * n + m];
            A[i * n + j] = value;
            A[j * n + i] = value;
        }
        A[i * n + i] = 1.0 + ((s >= 0 && m >= 0) ? 0.5 * A[s * n + m] : 0.0);
    }
}

}  // namespace tabmixr::kinship
