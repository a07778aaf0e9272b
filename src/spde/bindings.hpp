// Registers the SPDE kernels on the _kernels module.
#pragma once

#include <pybind11/pybind11.h>

namespace tabmixr::spde {

void register_bindings(pybind11::module_& m);

}  // namespace tabmixr::spde
