// Recycled memory for the large output arrays of SparseCholesky.selected_inverse().
//
// The default selected inverse writes 12 bytes per entry of L + L^T (1.6 GB at
// 10^6 nodes) into new arrays.  On a VM whose balloon takes freed memory back
// from the guest, first-touch page faults on fresh memory cost far more than
// the scatter itself (measured: 11 s against 2 s).  An OutputPool therefore
// gives each large array its own anonymous mapping (huge pages requested) and,
// once Python drops the array, keeps the mapping for the next call that asks
// for the same size: the next selected_inverse() after a refactorization
// writes into memory that is already faulted in.  At most kMaxKept mappings are
// kept; they are unmapped when the pool is closed (its owner is destroyed).
//
// When a mapping cannot be made (or mappings are switched off), the array is
// an ordinary numpy allocation.
#pragma once

#include <pybind11/numpy.h>

#include <cstddef>
#include <memory>

namespace tabmixr::cholesky {

class OutputPool {
public:
    OutputPool();
    ~OutputPool();
    OutputPool(const OutputPool&) = delete;
    OutputPool& operator=(const OutputPool&) = delete;

    // A writable, uninitialized 1-D array of `count` elements of `dtype` (GIL held).
    pybind11::array array(const pybind11::dtype& dtype, std::size_t count);

    // Process-wide switch (tests): false makes array() use numpy's allocator.
    static bool set_mapped(bool enabled);

    struct State;  // shared with the arrays' owners (capsules)

private:
    std::shared_ptr<State> state_;
};

}  // namespace tabmixr::cholesky
