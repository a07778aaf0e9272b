#include "blockdiag/quadform.hpp"

namespace tabmixr::blockdiag {

namespace {

// K[:, col_k]^T S W[:, col_w], summing over the stored entries of both columns.
double column_pair_form(const CscView& K, std::int64_t col_k, const double* S,
                        const CscView& W, std::int64_t col_w) {
    const std::int64_t m = K.nrow;
    const std::int64_t w_begin = W.col_begin(col_w);
    const std::int64_t w_end = W.col_end(col_w);
    double total = 0.0;
    for (std::int64_t a = K.col_begin(col_k); a < K.col_end(col_k); ++a) {
        const double* S_row = S + K.indices[a] * m;
        double row_total = 0.0;
        for (std::int64_t b = w_begin; b < w_end; ++b) {
            row_total += S_row[W.indices[b]] * W.data[b];
        }
        total += K.data[a] * row_total;
    }
    return total;
}

}  // namespace

void quadform(const CscView& K, const double* S, const CscView& W, std::int64_t q, double* out) {
    const std::int64_t n_blocks = K.ncol / q;
    // Blocks are independent: split them between threads when OpenMP is on.
#pragma omp parallel for schedule(static)
    for (std::int64_t l = 0; l < n_blocks; ++l) {
        double* block = out + l * q * q;
        for (std::int64_t i = 0; i < q; ++i) {
            for (std::int64_t j = 0; j < q; ++j) {
                block[i * q + j] = column_pair_form(K, l * q + i, S, W, l * q + j);
            }
        }
    }
}

}  // namespace tabmixr::blockdiag
