// One animal's ancestor trace (Meuwissen & Luo 1992) on animals numbered by
// generation: the per-thread state of inbreeding_ancestors.
#pragma once

#include <cstdint>
#include <vector>

namespace tabmixr::kinship {

// What a trace reads of one ancestor, in one record: its parents (-1 unknown)
// and its Mendelian-sampling variance.  16 bytes with int32 indices.
template <class Index>
struct TracedAnimal {
    Index sire, dam;
    double d;
};

// The pedigree in generation order as every tracer reads it.
template <class Index>
struct GenerationView {
    const TracedAnimal<Index>* animals;
    const Index* generation;   // new index -> generation number
    const std::int64_t* level_start;  // generation g: new indices [level_start[g], level_start[g+1])
};

// Holds t (row i of T on the ancestors visited; 0 elsewhere between traces)
// and the bucket queue by generation.
template <class Index>
class AncestorTracer {
  public:
    AncestorTracer(GenerationView<Index> pedigree, std::int64_t n, std::int64_t generations)
        : p_(pedigree), t_(n, 0.0), bucket_(generations) {}

    // A_ii - 1 for animal i of generation g, once every animal of lower
    // generation has its final d.
    double inbreeding_of(Index i, Index g) {
        const TracedAnimal<Index>& a = p_.animals[i];
        double aii = a.d;
        enqueue(a.sire, g, 0.5);
        enqueue(a.dam, g, 0.5);
        // Animals of one generation are not ancestors of each other, and parents
        // go to lower buckets, so each bucket is complete when reached.  Stops
        // at the oldest ancestor rather than at generation 0.
        for (--g; pending_ > 0 && g > 0; --g) {
            std::vector<Index>& level = bucket_[g];
            const Index* j = level.data();
            const std::size_t m = level.size();
            for (std::size_t k = 0; k < m; ++k) {
                // Two stages, as the records and t lie at random in large arrays:
                // the record wanted kPrefetch visits from now, and t of the parents
                // of the one wanted half as far ahead (whose record has arrived).
                if (k + kPrefetch < m) prefetch(&p_.animals[j[k + kPrefetch]]);
                if (k + kPrefetch / 2 < m) {
                    const TracedAnimal<Index>& ahead = p_.animals[j[k + kPrefetch / 2]];
                    if (ahead.sire >= 0) prefetch(&t_[ahead.sire]);
                    if (ahead.dam >= 0) prefetch(&t_[ahead.dam]);
                }
                const TracedAnimal<Index>& aj = p_.animals[j[k]];
                const double tj = t_[j[k]];
                t_[j[k]] = 0.0;
                aii += tj * tj * aj.d;
                enqueue(aj.sire, g, 0.5 * tj);
                enqueue(aj.dam, g, 0.5 * tj);
            }
            pending_ -= static_cast<std::int64_t>(m);
            level.clear();
        }
        if (pending_ > 0) add_founders(aii);
        return aii - 1.0;
    }

  private:
    static constexpr std::size_t kPrefetch = 32;

    static void prefetch(const void* p) {
#if defined(__GNUC__)
        __builtin_prefetch(p);
#else
        (void)p;
#endif
    }

    // Adds t_j^2 d_j over the founders queued (generation 0: d = 1, no parents),
    // read from t alone: about half of all visits in deep random-mating
    // pedigrees, whose records need not be fetched.
    void add_founders(double& aii) {
        std::vector<Index>& level = bucket_[0];
        const Index* j = level.data();
        const std::size_t m = level.size();
        for (std::size_t k = 0; k < m; ++k) {
            const double tj = t_[j[k]];
            t_[j[k]] = 0.0;
            aii += tj * tj;
        }
        pending_ = 0;
        level.clear();
    }

    // Adds value to t_j for parent j of an animal of generation `child`, queueing
    // j on its first visit (t_j > 0 once queued).  Most parents belong to the
    // generation just before the child's, told by one comparison; only older
    // ones need the generation array, itself another random access.
    void enqueue(Index j, Index child, double value) {
        if (j < 0) return;
        if (t_[j] == 0.0) {
            const Index g = j >= p_.level_start[child - 1] ? child - 1 : p_.generation[j];
            bucket_[g].push_back(j);
            ++pending_;
        }
        t_[j] += value;
    }

    GenerationView<Index> p_;
    std::vector<double> t_;
    std::vector<std::vector<Index>> bucket_;
    std::int64_t pending_ = 0;  // ancestors queued and not yet visited
};

}  // namespace tabmixr::kinship
