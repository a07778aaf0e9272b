// Ancestor tracing generation by generation (see inbreeding_ancestors.hpp).
#include "kinship/inbreeding_ancestors.hpp"

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "common/parallel_chunks.hpp"
#include "kinship/ancestor_tracer.hpp"
#include "kinship/generation_order.hpp"
#include "kinship/pedigree.hpp"

namespace tabmixr::kinship {

namespace {

// Full-sib families handed to a thread at a time: a few hundred microseconds of
// tracing in deep generations, small enough to balance the last ones.
constexpr std::int64_t kFamiliesPerChunk = 16;

// The pedigree in generation order, packed for tracing.
template <class Index>
struct GenerationPedigree {
    GenerationOrder order;
    std::vector<TracedAnimal<Index>> animals;  // d filled generation by generation
    std::vector<Index> generation;             // new index -> generation number
    // Runs of equal (sire, dam) within a generation: family f is new indices
    // [family_start[f], family_start[f+1]); generation g holds families
    // [level_family[g], level_family[g+1]).
    std::vector<Index> family_start;
    std::vector<std::int64_t> level_family;

    GenerationView<Index> view() const {
        return {animals.data(), generation.data(), order.level_start.data()};
    }
};

template <class Index>
GenerationPedigree<Index> generation_pedigree(const std::int64_t* sire, const std::int64_t* dam,
                                              std::int64_t n) {
    GenerationPedigree<Index> p;
    p.order = generation_order(sire, dam, n);
    const GenerationOrder& o = p.order;
    const std::int64_t generations = o.generations();
    p.generation.resize(n);
    for (std::int64_t g = 0; g < generations; ++g) {
        for (std::int64_t k = o.level_start[g]; k < o.level_start[g + 1]; ++k) {
            p.generation[k] = static_cast<Index>(g);
        }
    }
    p.animals.resize(n);
    for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t i = o.animal[k];
        p.animals[k] = {sire[i] >= 0 ? static_cast<Index>(o.rank[sire[i]]) : Index{-1},
                        dam[i] >= 0 ? static_cast<Index>(o.rank[dam[i]]) : Index{-1}, 0.0};
    }
    p.level_family.assign(generations + 1, 0);
    for (std::int64_t g = 0; g < generations; ++g) {
        p.level_family[g] = static_cast<std::int64_t>(p.family_start.size());
        for (std::int64_t k = o.level_start[g]; k < o.level_start[g + 1]; ++k) {
            const bool new_family = k == o.level_start[g] ||
                                    p.animals[k].sire != p.animals[k - 1].sire ||
                                    p.animals[k].dam != p.animals[k - 1].dam;
            if (new_family) p.family_start.push_back(static_cast<Index>(k));
        }
    }
    p.level_family[generations] = static_cast<std::int64_t>(p.family_start.size());
    p.family_start.push_back(static_cast<Index>(n));
    return p;
}

template <class Index>
void inbreeding_by_generation(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                              double* F, double* d, int threads) {
    GenerationPedigree<Index> p = generation_pedigree<Index>(sire, dam, n);
    TracedAnimal<Index>* animals = p.animals.data();
    const std::int64_t generations = p.order.generations();
    const int workers = worker_threads(threads);
    std::vector<double> F_new(n, 0.0);
    // One tracer (t of n doubles + queue) per worker, made on its first trace.
    std::vector<std::unique_ptr<AncestorTracer<Index>>> tracers(workers);
    for (std::int64_t g = 0; g < generations; ++g) {
        const std::int64_t first_family = p.level_family[g];
        auto trace_families = [&](int worker, std::int64_t begin, std::int64_t end) {
            for (std::int64_t f = first_family + begin; f < first_family + end; ++f) {
                const Index first = p.family_start[f], last = p.family_start[f + 1];
                const Index s = animals[first].sire, m = animals[first].dam;
                // d from the parents' F, final in earlier generations.
                const double d_family = mendelian_variance(s, m, F_new.data());
                for (Index k = first; k < last; ++k) animals[k].d = d_family;
                // No common ancestor with a parent unknown or two distinct founders.
                const bool traced = s >= 0 && m >= 0 &&
                                    (s == m || p.generation[s] > 0 || p.generation[m] > 0);
                if (!traced) continue;  // F_new stays 0
                std::unique_ptr<AncestorTracer<Index>>& tracer = tracers[worker];
                if (!tracer) {
                    tracer = std::make_unique<AncestorTracer<Index>>(p.view(), n, generations);
                }
                const double Fi = tracer->inbreeding_of(first, static_cast<Index>(g));
                for (Index k = first; k < last; ++k) F_new[k] = Fi;
            }
        };
        parallel_chunks(p.level_family[g + 1] - first_family, kFamiliesPerChunk, workers,
                        trace_families);
    }
    for (std::int64_t k = 0; k < n; ++k) {
        F[p.order.animal[k]] = F_new[k];
        d[p.order.animal[k]] = animals[k].d;
    }
}

}  // namespace

void inbreeding_ancestors(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                          double* F, double* d, int threads) {
    if (n < std::numeric_limits<std::int32_t>::max()) {
        inbreeding_by_generation<std::int32_t>(sire, dam, n, F, d, threads);
    } else {
        inbreeding_by_generation<std::int64_t>(sire, dam, n, F, d, threads);
    }
}

}  // namespace tabmixr::kinship
