// Registers the lmm kernels on the _kernels module.
#pragma once

#include <pybind11/pybind11.h>

namespace tabmixr::lmm {

void register_bindings(pybind11::module_& m);

}  // namespace tabmixr::lmm
