// Inbreeding coefficients by sire groups, on the sires' closed ancestry.
//
// Every F_o = a(s, m) / 2 for offspring o of sire s and dam m.  Let L be the
// sires together with all their ancestors: it is closed under taking parents,
// so the column A e_s = T D T' e_s restricted to L is one backward sweep over
// s's ancestors (u = T' e_s) and one forward sweep over L (val = T D u), both
// on compact arrays (Colleau 2002; all progeny of a sire at once, as in
// Sargolzaei, Iwaisaki & Colleau 2005).  A dam outside L gets a(s, m) from
// her maternal line: a(s, x) = (a(s, sire x) + a(s, dam x)) / 2 for x outside
// L, where sire x is in L, so the line is followed down to L or an unknown dam
// and memoized per sire.  The work is about sum over sires of |L| plus n times
// the depth of maternal lines: small when sires are few (artificial
// insemination), quadratic when nearly every animal is a sire, where
// Meuwissen & Luo's ancestor tracing (inbreeding_ancestors) is the better
// choice: max_cost lets the caller fall back to it.
#pragma once

#include <cstdint>

namespace tabmixr::kinship {

// F and d of the pedigree (parents before offspring, -1 unknown).  First bounds
// the work in O(n) (n plus the sweep lengths over L of every sire); when the
// bound exceeds max_cost, returns false and leaves F and d untouched.
bool inbreeding_sires(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                      double* F, double* d, double max_cost);

}  // namespace tabmixr::kinship
