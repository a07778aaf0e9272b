// Weighted Gram product G blockdiag(C) G^T (see gram.hpp).
#include "blockdiag/gram.hpp"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tabmixr::blockdiag {

namespace {

// Accumulates the rows [row_begin, row_end) of the product.
void weighted_gram_rows(const CscView& G, const double* C, std::int64_t q, double* out,
                        std::int64_t row_begin, std::int64_t row_end) {
    const std::int64_t m = G.nrow;
    const std::int64_t n_blocks = G.ncol / q;
    for (std::int64_t l = 0; l < n_blocks; ++l) {
        const double* Cl = C + l * q * q;
        for (std::int64_t i = 0; i < q; ++i) {
            const std::int64_t ci = l * q + i;
            for (std::int64_t j = 0; j < q; ++j) {
                const double c = Cl[i * q + j];
                if (c == 0.0) continue;
                const std::int64_t cj = l * q + j;
                for (std::int64_t a = G.col_begin(ci); a < G.col_end(ci); ++a) {
                    if (G.indices[a] < row_begin || G.indices[a] >= row_end) continue;
                    const double ca = c * G.data[a];
                    double* row = out + G.indices[a] * m;
                    for (std::int64_t b = G.col_begin(cj); b < G.col_end(cj); ++b) {
                        row[G.indices[b]] += ca * G.data[b];
                    }
                }
            }
        }
    }
}

}  // namespace

void weighted_gram(const CscView& G, const double* C, std::int64_t q, double* out) {
    const std::int64_t m = G.nrow;
    std::fill(out, out + m * m, 0.0);
    // Threads own disjoint row ranges of the output, so no two write one entry.
#pragma omp parallel
    {
        std::int64_t threads = 1, me = 0;
#ifdef _OPENMP
        threads = omp_get_num_threads();
        me = omp_get_thread_num();
#endif
        const std::int64_t chunk = (m + threads - 1) / threads;
        const std::int64_t begin = std::min(m, me * chunk);
        weighted_gram_rows(G, C, q, out, begin, std::min(m, begin + chunk));
    }
}

}  // namespace tabmixr::blockdiag
