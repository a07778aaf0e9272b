// Inbreeding by sire groups on the sires' closed ancestry (see inbreeding_sires.hpp).
#include "kinship/inbreeding_sires.hpp"

#include <algorithm>
#include <vector>

#include "kinship/pedigree.hpp"

namespace tabmixr::kinship {

namespace {

// The sires' ancestral closure L in compact, ascending form.
struct SireClosure {
    std::vector<std::int64_t> compact;  // animal -> index in L, or -1
    std::vector<std::int64_t> below;    // animal -> number of L members with a smaller index
    std::vector<std::int64_t> animal;   // index in L -> animal
    std::vector<std::int64_t> sire;     // index in L -> sire's index in L (L_size = unknown)
    std::vector<std::int64_t> dam;      // index in L -> dam's index in L (L_size = unknown)
};

SireClosure sire_closure(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n) {
    std::vector<char> in(n, 0);
    for (std::int64_t i = 0; i < n; ++i) {
        if (sire[i] >= 0) in[sire[i]] = 1;
    }
    // Parents precede offspring, so one descending sweep closes L under ancestry.
    for (std::int64_t i = n - 1; i >= 0; --i) {
        if (!in[i]) continue;
        if (sire[i] >= 0) in[sire[i]] = 1;
        if (dam[i] >= 0) in[dam[i]] = 1;
    }
    SireClosure c;
    c.compact.assign(n, -1);
    c.below.resize(n + 1);
    std::int64_t m = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        c.below[i] = m;
        if (in[i]) {
            c.compact[i] = m++;
            c.animal.push_back(i);
        }
    }
    c.below[n] = m;
    c.sire.resize(m);
    c.dam.resize(m);
    for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t a = c.animal[k];
        c.sire[k] = sire[a] >= 0 ? c.compact[sire[a]] : m;
        c.dam[k] = dam[a] >= 0 ? c.compact[dam[a]] : m;
    }
    return c;
}

// Progeny with both parents known, grouped by sire (ascending), as (offspring, dam).
struct SireGroups {
    std::vector<std::int64_t> start;  // group g is entries [start[g], start[g+1])
    std::vector<std::int64_t> sire;   // group -> sire
    std::vector<std::int64_t> offspring, dam;
};

SireGroups sire_groups(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n) {
    std::vector<std::int64_t> count(n + 1, 0);
    for (std::int64_t i = 0; i < n; ++i) {
        if (sire[i] >= 0 && dam[i] >= 0) ++count[sire[i] + 1];
    }
    SireGroups g;
    for (std::int64_t s = 0; s < n; ++s) {
        if (count[s + 1] > 0) g.sire.push_back(s);
        count[s + 1] += count[s];
    }
    g.offspring.resize(count[n]);
    g.dam.resize(count[n]);
    std::vector<std::int64_t> next(count.begin(), count.end() - 1);
    for (std::int64_t i = 0; i < n; ++i) {
        if (sire[i] < 0 || dam[i] < 0) continue;
        const std::int64_t at = next[sire[i]]++;
        g.offspring[at] = i;
        g.dam[at] = dam[i];
    }
    g.start.reserve(g.sire.size() + 1);
    for (const std::int64_t s : g.sire) g.start.push_back(count[s]);
    g.start.push_back(count[n]);
    return g;
}

}  // namespace

bool inbreeding_sires(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                      double* F, double* d, double max_cost) {
    const SireClosure c = sire_closure(sire, dam, n);
    const SireGroups g = sire_groups(sire, dam, n);
    // Each group's youngest mate bounds its forward sweep; the sweeps bound the work.
    std::vector<std::int64_t> last_dam(g.sire.size());
    double cost = static_cast<double>(n);
    for (std::size_t k = 0; k < g.sire.size(); ++k) {
        last_dam[k] =
            *std::max_element(g.dam.begin() + g.start[k], g.dam.begin() + g.start[k + 1]);
        cost += static_cast<double>(c.below[g.sire[k] + 1]) +
                static_cast<double>(c.below[last_dam[k] + 1]);
    }
    if (cost > max_cost) return false;
    std::fill(F, F + n, 0.0);
    const std::int64_t m = static_cast<std::int64_t>(c.animal.size());
    // u = T' e_s (backward), then val = T D u = A e_s (forward), both on L; slot m is
    // the unknown parent and stays 0.  val is 0 below the sire's oldest ancestor.
    std::vector<double> u(m + 1, 0.0), val(m + 1, 0.0);
    std::vector<double> dl(m, 0.0);  // d on L, filled as the F it needs become final
    std::int64_t ready = 0;  // dl holds d for L members with compact index < ready
    // a(s, x) for x outside L, memoized per sire along maternal lines.
    std::vector<double> memo(n, 0.0);
    std::vector<std::int64_t> stamp(n, -1);
    std::vector<std::int64_t> chain;
    for (std::size_t k = 0; k < g.sire.size(); ++k) {
        const std::int64_t s = g.sire[k];
        const std::int64_t ls = c.compact[s];
        // Every L member up to s has its parents' F final (their sires precede s).
        for (; ready <= ls; ++ready) {
            dl[ready] = mendelian_variance(sire, dam, F, c.animal[ready]);
        }
        // Backward: u over s's ancestors, youngest first; lo = oldest ancestor touched.
        std::int64_t lo = ls;
        u[ls] = 1.0;
        for (std::int64_t j = ls; j >= lo; --j) {
            const double uj = u[j];
            if (uj == 0.0) continue;
            u[j] = 0.0;
            val[j] = uj * dl[j];  // holds v = D u until the forward sweep reaches j
            const std::int64_t ps = c.sire[j], pd = c.dam[j];
            if (ps < m) {
                u[ps] += 0.5 * uj;
                lo = std::min(lo, ps);
            }
            if (pd < m) {
                u[pd] += 0.5 * uj;
                lo = std::min(lo, pd);
            }
        }
        // Forward: val = v + (val[sire] + val[dam]) / 2 up to the youngest mate.
        const std::int64_t hi = c.below[last_dam[k] + 1];
        for (std::int64_t j = lo; j < hi; ++j) {
            val[j] += 0.5 * (val[c.sire[j]] + val[c.dam[j]]);
        }
        // val[m] is the unknown parent; entries below lo stay 0 between sires.
        auto relationship = [&](std::int64_t x) -> double {
            // a(s, x): on L from val; outside L along x's maternal line, whose sires are in L.
            chain.clear();
            double tail = 0.0;
            while (true) {
                if (x < 0) break;
                if (c.compact[x] >= 0) {
                    tail = val[c.compact[x]];
                    break;
                }
                if (stamp[x] == static_cast<std::int64_t>(k)) {
                    tail = memo[x];
                    break;
                }
                chain.push_back(x);
                x = dam[x];
            }
            for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
                const std::int64_t y = *it;
                const double from_sire = sire[y] >= 0 ? val[c.compact[sire[y]]] : 0.0;
                tail = 0.5 * (from_sire + tail);
                memo[y] = tail;
                stamp[y] = static_cast<std::int64_t>(k);
            }
            return tail;
        };
        for (std::int64_t e = g.start[k]; e < g.start[k + 1]; ++e) {
            F[g.offspring[e]] = 0.5 * relationship(g.dam[e]);
        }
        std::fill(val.begin() + lo, val.begin() + std::max(hi, ls + 1), 0.0);
    }
    mendelian_variances(sire, dam, n, F, d);
    return true;
}

}  // namespace tabmixr::kinship
