// Inbreeding coefficients by ancestor tracing (Meuwissen & Luo 1992), one
// generation at a time and the animals of a generation in parallel.
//
// A_ii = d_i + sum over ancestors j of t_j^2 d_j, with t = row i of the gene-flow
// matrix T traced through i's ancestors, youngest generation first (a bucket
// queue by generation number instead of the original's sorted list).  The work
// is the number of (animal, ancestor) pairs: small in shallow pedigrees, about
// 10^3 per animal in 15 generations of random mating, where every visit is a
// random memory access.  Hence:
//   * animals are renumbered by generation (generation_order.hpp) and what a
//     trace reads of an ancestor (parents, d) is packed into one record of 16
//     bytes (int32 indices below 2^31 animals), so the ancestors of one depth
//     lie in a compact range of one array;
//   * the next ancestors' records are prefetched while the current ones are
//     summed, and founders (about half of the visits in deep random mating:
//     d = 1, no parents) are summed from t without reading their records;
//   * animals of one generation depend only on earlier generations' F and d,
//     so they are traced by several threads, each with its own t and queue;
//   * full sibs (adjacent after renumbering) share one trace, and animals with
//     an unknown parent or two distinct founder parents need none (F = 0).
// F does not depend on the number of threads: each trace visits its ancestors
// in an order fixed by the pedigree alone.
#pragma once

#include <cstdint>

namespace tabmixr::kinship {

// F and d of the pedigree (parents before offspring, -1 unknown); threads = 0
// takes worker_threads() (common/parallel_chunks.hpp), 1 runs in the caller.
void inbreeding_ancestors(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                          double* F, double* d, int threads = 0);

}  // namespace tabmixr::kinship
