// Animals renumbered by generation, full sibs adjacent.
//
// The generation number of an animal is 0 for a founder (both parents
// unknown) and 1 + the larger of its known parents' otherwise, so a parent's
// generation is below its offspring's.  Listing animals by generation is then
// again a parents-before-offspring order, in which
//   * animals of one generation are not ancestors of each other: given the
//     earlier generations' F and d they can be traced independently (in
//     parallel), and
//   * ancestors met at the same depth of a trace lie in one compact range.
// Within a generation animals are sorted by (sire, dam) so that full sibs,
// who share F, are adjacent wherever the input listed them, and half sibs,
// whose traces share the sire's half, are traced one after the other.
#pragma once

#include <cstdint>
#include <vector>

namespace tabmixr::kinship {

struct GenerationOrder {
    std::vector<std::int64_t> animal;       // new index -> input index
    std::vector<std::int64_t> rank;         // input index -> new index
    std::vector<std::int64_t> level_start;  // generation g is new indices [level_start[g], level_start[g+1])
    std::int64_t generations() const { return static_cast<std::int64_t>(level_start.size()) - 1; }
};

// The order of a pedigree in parents-before-offspring order (sire[i], dam[i]
// -1 or < i).  O(n): three stable counting sorts (by dam, by sire, by generation).
GenerationOrder generation_order(const std::int64_t* sire, const std::int64_t* dam,
                                 std::int64_t n);

}  // namespace tabmixr::kinship
