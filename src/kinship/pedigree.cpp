#include "kinship/pedigree.hpp"

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
                double* d, InbreedingMethod method) {
    if (method == InbreedingMethod::ancestors) {
        inbreeding_ancestors(sire, dam, n, F, d);
        return;
    }
    const double max_cost = method == InbreedingMethod::sires
                                ? std::numeric_limits<double>::infinity()
                                : 1000.0 * static_cast<double>(n) + 1e6;
    if (!inbreeding_sires(sire, dam, n, F, d, max_cost)) inbreeding_ancestors(sire, dam, n, F, d);
}

void inbreeding_ancestors(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                          double* F, double* d) {
    // Generation numbers: founders 0, others 1 + the larger parent's.  A parent's
    // generation is below its offspring's, so visiting ancestors generation by
    // generation, youngest first, meets every animal after all its descendants
    // (the order the method needs) with a bucket queue instead of a heap.
    std::vector<std::int64_t> generation(n, 0);
    std::int64_t max_generation = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p >= 0) generation[i] = std::max(generation[i], generation[p] + 1);
        }
        max_generation = std::max(max_generation, generation[i]);
    }
    std::vector<std::vector<std::int64_t>> bucket(max_generation + 1);
    std::vector<double> t(n, 0.0);  // row i of T, on the ancestors visited
    auto enqueue = [&](std::int64_t j, double value) {
        if (j < 0) return;
        if (t[j] == 0.0) bucket[generation[j]].push_back(j);
        t[j] += value;
    };
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t s = sire[i], m = dam[i];
        d[i] = mendelian_variance(sire, dam, F, i);
        if (s < 0 || m < 0) {
            F[i] = 0.0;  // a parent unknown: no common ancestor possible
            continue;
        }
        if (i > 0 && sire[i - 1] == s && dam[i - 1] == m) {
            F[i] = F[i - 1];  // full sib of the previous animal
            continue;
        }
        // A_ii = d_i + sum over ancestors j of t_j^2 d_j (t_i = 1); t_j > 0 once queued.
        double aii = d[i];
        enqueue(s, 0.5);
        enqueue(m, 0.5);
        for (std::int64_t g = generation[i] - 1; g >= 0; --g) {
            std::vector<std::int64_t>& level = bucket[g];
            // Animals of one generation are not ancestors of each other.
            for (std::size_t k = 0; k < level.size(); ++k) {
                const std::int64_t j = level[k];
                const double tj = t[j];
                t[j] = 0.0;
                aii += tj * tj * d[j];
                enqueue(sire[j], 0.5 * tj);
                enqueue(dam[j], 0.5 * tj);
            }
            level.clear();
        }
        F[i] = aii - 1.0;
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
