// tabmixr._kernels: the compiled kernels.  One registration call per area;
// each area lives in its own folder (src/<area>/) with a bindings.cpp.
#include <pybind11/pybind11.h>

#include "blockdiag/bindings.hpp"
#include "cholesky/bindings.hpp"
#include "lmm/bindings.hpp"
#include "spde/bindings.hpp"
#include "kinship/bindings.hpp"

PYBIND11_MODULE(_kernels, m) {
    m.doc() = "tabmixr compiled kernels (private; use tabmixr.kernels)";
    tabmixr::blockdiag::register_bindings(m);
    tabmixr::cholesky::register_bindings(m);
    tabmixr::lmm::register_bindings(m);
    tabmixr::spde::register_bindings(m);
    tabmixr::kinship::register_bindings(m);
}
