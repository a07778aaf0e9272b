// Renumbering by generation (see generation_order.hpp).
#include "kinship/generation_order.hpp"

#include <algorithm>

namespace tabmixr::kinship {

namespace {

// Reorders `items` stably by key(item), a value in [0, keys).
template <class Key>
void stable_sort_by(std::vector<std::int64_t>& items, std::int64_t keys, Key key) {
    std::vector<std::int64_t> next(keys + 1, 0);
    for (const std::int64_t item : items) ++next[key(item) + 1];
    for (std::int64_t k = 0; k < keys; ++k) next[k + 1] += next[k];
    std::vector<std::int64_t> sorted(items.size());
    for (const std::int64_t item : items) sorted[next[key(item)]++] = item;
    items.swap(sorted);
}

}  // namespace

GenerationOrder generation_order(const std::int64_t* sire, const std::int64_t* dam,
                                 std::int64_t n) {
    std::vector<std::int64_t> generation(n, 0);
    std::int64_t max_generation = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        for (const std::int64_t p : {sire[i], dam[i]}) {
            if (p >= 0) generation[i] = std::max(generation[i], generation[p] + 1);
        }
        max_generation = std::max(max_generation, generation[i]);
    }
    GenerationOrder order;
    order.animal.resize(n);
    for (std::int64_t i = 0; i < n; ++i) order.animal[i] = i;
    // Least significant key first: the last sort (generation) keeps (sire, dam) order
    // within each generation.  Unknown parents (-1) sort first.
    stable_sort_by(order.animal, n + 1, [&](std::int64_t i) { return dam[i] + 1; });
    stable_sort_by(order.animal, n + 1, [&](std::int64_t i) { return sire[i] + 1; });
    stable_sort_by(order.animal, max_generation + 1,
                   [&](std::int64_t i) { return generation[i]; });
    order.rank.resize(n);
    for (std::int64_t k = 0; k < n; ++k) order.rank[order.animal[k]] = k;
    order.level_start.assign(n > 0 ? max_generation + 2 : 1, 0);
    for (std::int64_t i = 0; i < n; ++i) ++order.level_start[generation[i] + 1];
    for (std::size_t g = 1; g < order.level_start.size(); ++g) {
        order.level_start[g] += order.level_start[g - 1];
    }
    return order;
}

}  // namespace tabmixr::kinship
