// Weighted Gram product G blockdiag(C) G^T (see gram.hpp).
#include "blockdiag/gram.hpp"

#include <algorithm>

namespace tabmixr::blockdiag {

void weighted_gram(const CscView& G, const double* C, std::int64_t q, double* out) {
    const std::int64_t m = G.nrow;
    std::fill(out, out + m * m, 0.0);
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

}  // namespace tabmixr::blockdiag
