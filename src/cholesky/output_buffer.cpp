#include "cholesky/output_buffer.hpp"

#include <atomic>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace py = pybind11;

namespace tabmixr::cholesky {

namespace {

constexpr std::size_t kMinMappedBytes = std::size_t(4) << 20;  // smaller: numpy's allocator
constexpr std::size_t kMaxKept = 2;  // one indices and one data array
std::atomic<bool> g_mapped{true};

struct Mapping {
    void* addr = nullptr;
    std::size_t bytes = 0;
};

void unmap(const Mapping& m) {
#if defined(__linux__)
    munmap(m.addr, m.bytes);
#else
    (void)m;
#endif
}

// A fresh anonymous mapping, or {nullptr, 0} when none can be made.
Mapping map_fresh(std::size_t bytes) {
#if defined(__linux__)
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return {};
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // best effort: fewer faults and TLB misses
#endif
    return {p, bytes};
#else
    (void)bytes;
    return {};
#endif
}

}  // namespace

struct OutputPool::State {
    std::mutex mutex;
    bool open = true;
    std::vector<Mapping> kept;  // released by Python, ready for reuse
};

namespace {

// What a capsule owns: one mapping, returned to its pool when the array dies.
struct Lease {
    std::shared_ptr<OutputPool::State> pool;
    Mapping mapping;
};

void release(void* p) {
    std::unique_ptr<Lease> lease(static_cast<Lease*>(p));
    {
        std::lock_guard<std::mutex> guard(lease->pool->mutex);
        auto& kept = lease->pool->kept;
        if (lease->pool->open && kept.size() < kMaxKept) {
            kept.push_back(lease->mapping);
            return;
        }
    }
    unmap(lease->mapping);
}

}  // namespace

OutputPool::OutputPool() : state_(std::make_shared<State>()) {}

OutputPool::~OutputPool() {
    std::vector<Mapping> kept;
    {
        std::lock_guard<std::mutex> guard(state_->mutex);
        state_->open = false;
        kept.swap(state_->kept);
    }
    for (const Mapping& m : kept) unmap(m);
}

bool OutputPool::set_mapped(bool enabled) { return g_mapped.exchange(enabled); }

py::array OutputPool::array(const py::dtype& dtype, std::size_t count) {
    const std::size_t bytes = count * static_cast<std::size_t>(dtype.itemsize());
    const py::array::ShapeContainer shape{static_cast<py::ssize_t>(count)};
    if (bytes < kMinMappedBytes || !g_mapped.load()) {
        return py::array(dtype, shape, py::array::StridesContainer{});
    }
    Mapping m;
    {
        std::lock_guard<std::mutex> guard(state_->mutex);
        auto& kept = state_->kept;
        for (size_t k = 0; k < kept.size(); ++k) {
            if (kept[k].bytes == bytes) {
                m = kept[k];
                kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(k));
                break;
            }
        }
    }
    if (m.addr == nullptr) m = map_fresh(bytes);
    if (m.addr == nullptr) return py::array(dtype, shape, py::array::StridesContainer{});
    auto lease = std::make_unique<Lease>(Lease{state_, m});
    py::capsule owner;
    try {
        owner = py::capsule(lease.get(), release);  // owns the lease from here on
    } catch (...) {
        unmap(m);
        throw;
    }
    lease.release();
    return py::array(dtype, shape, py::array::StridesContainer{}, m.addr, owner);
}

}  // namespace tabmixr::cholesky
