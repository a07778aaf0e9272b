// Dynamic chunked loops on std::thread, for kernels whose items differ widely
// in cost (one static split would leave threads idle).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace tabmixr {

// Threads a kernel uses when the caller asks for `requested` (0 = automatic):
// the hardware's count, capped at `cap` (past a few threads these memory-bound
// kernels gain little and each thread holds its own workspace).
inline int worker_threads(int requested, int cap = 8) {
    if (requested > 0) return requested;
    const int hardware = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(hardware, 1, cap);
}

// Runs body(worker, begin, end) over [0, count) in chunks of `chunk` items,
// handed out in order to up to `threads` workers as each finishes its last
// chunk.  The calling thread is worker 0; no thread is started when one chunk
// covers everything.  The first exception thrown by a worker stops the loop
// and is rethrown here.
template <class Body>
void parallel_chunks(std::int64_t count, std::int64_t chunk, int threads, Body&& body) {
    if (count <= 0) return;
    chunk = std::max<std::int64_t>(chunk, 1);
    const std::int64_t chunks = (count + chunk - 1) / chunk;
    const int workers = static_cast<int>(std::clamp<std::int64_t>(threads, 1, chunks));
    std::atomic<std::int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](int worker) {
        try {
            for (;;) {
                const std::int64_t begin = next.fetch_add(chunk);
                if (begin >= count) break;
                body(worker, begin, std::min(begin + chunk, count));
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next = count;  // the others stop after their current chunk
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(workers - 1);
    for (int w = 1; w < workers; ++w) {
        try {
            pool.emplace_back(work, w);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: the started ones share the work
        }
    }
    work(0);
    for (std::thread& t : pool) t.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace tabmixr
