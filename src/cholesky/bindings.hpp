// Registers the sparse Cholesky class (_kernels.SparseCholesky) on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace tabmixr::cholesky {

void register_bindings(pybind11::module_& m);

}  // namespace tabmixr::cholesky
