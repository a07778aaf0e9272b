// Profiled (RE)ML objective and gradient of a Gaussian LMM with one
// random-effect term, from theta-independent cross-products only.
//
// This is the exact engine's innermost loop for the common single-term model
// (e.g. (Days | Subject)): the same algebra as tabmixr/engines/exact/
// factorization.py, effects.py and gradient.py with an empty rest block, run
// without Python overhead.  The Python path stays the reference; tests compare
// the two.
#pragma once

#include <cstdint>

namespace tabmixr::lmm {

struct SingleTermInput {
    const double* G11;  // (l, q, q): diagonal blocks of Z^T W Z
    const double* GR1;  // (m, l*q) row-major: [X y]^T W Z, m = p + 1
    const double* GRR;  // (m, m): [X y]^T W [X y]
    std::int64_t l;     // levels
    std::int64_t q;     // columns of the term
    std::int64_t p;     // fixed-effect columns
    std::int64_t n;     // observations
    double ldW;         // sum(log(weights))
    bool reml;
};

struct SingleTermResult {
    double objective;  // +inf when the factorization fails
    double pwrss;
};

// Evaluates the objective at theta (q(q+1)/2 values, lme4's column-major
// lower-triangle order) and writes its gradient to `gradient` (same length).
SingleTermResult single_term_objective(const SingleTermInput& in, const double* theta,
                                       double* gradient);

}  // namespace tabmixr::lmm
