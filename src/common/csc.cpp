#include "common/csc.hpp"

#include <cmath>
#include <stdexcept>

namespace tabmixr {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

}  // namespace

void require_finite(const char* what, const double* values, std::int64_t n) {
    for (std::int64_t k = 0; k < n; ++k) {
        if (!std::isfinite(values[k])) {
            fail(std::string(what) + " holds a non-finite value (" + std::to_string(values[k]) +
                 ") at position " + std::to_string(k) + "; remove NaN/Inf before calling");
        }
    }
}

CscView make_csc_view(const char* what, const std::int64_t* indptr, std::int64_t indptr_len,
                      const std::int64_t* indices, std::int64_t indices_len, const double* data,
                      std::int64_t data_len, std::int64_t nrow) {
    const std::string name(what);
    if (indptr_len < 1) {
        fail(name + "_indptr must have length ncol + 1 >= 1, got length 0");
    }
    if (indices_len != data_len) {
        fail(name + "_indices and " + name + "_data must have the same length, got " +
             std::to_string(indices_len) + " and " + std::to_string(data_len));
    }
    const std::int64_t ncol = indptr_len - 1;
    if (indptr[0] != 0) {
        fail(name + "_indptr[0] must be 0, got " + std::to_string(indptr[0]));
    }
    for (std::int64_t j = 0; j < ncol; ++j) {
        if (indptr[j + 1] < indptr[j]) {
            fail(name + "_indptr must be nondecreasing, but indptr[" + std::to_string(j + 1) +
                 "] = " + std::to_string(indptr[j + 1]) + " < indptr[" + std::to_string(j) +
                 "] = " + std::to_string(indptr[j]));
        }
    }
    if (indptr[ncol] != indices_len) {
        fail(name + "_indptr[-1] = " + std::to_string(indptr[ncol]) + " must equal len(" + name +
             "_indices) = " + std::to_string(indices_len));
    }
    for (std::int64_t k = 0; k < indices_len; ++k) {
        if (indices[k] < 0 || indices[k] >= nrow) {
            fail(name + "_indices[" + std::to_string(k) + "] = " + std::to_string(indices[k]) +
                 " is out of range for " + std::to_string(nrow) + " rows");
        }
    }
    require_finite((name + "_data").c_str(), data, data_len);
    return CscView{indptr, indices, data, nrow, ncol};
}

}  // namespace tabmixr
