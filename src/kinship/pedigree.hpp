// Pedigree relationship kernels on integer parent indices.
//
// Animals are 0..n-1 ordered parents before offspring: sire[i] and dam[i] are
// -1 (unknown) or an index < i.  With T the unit lower triangular matrix of
// gene flow (row i of T is e_i plus half the rows of i's parents) and D the
// diagonal of Mendelian-sampling variances d_i, the numerator relationship
// matrix is A = T D T' (Henderson 1976), so log det A = sum_i log d_i and
// A^-1 = T^-T D^-1 T^-1 with T^-1 = I - P (P holds 1/2 at (i, sire) and (i, dam)).
// A sire equal to the dam (selfing) is allowed.
#pragma once

#include <cstdint>
#include <vector>

namespace tabmixr::kinship {

// Throws std::invalid_argument naming the first animal whose parent index is
// not -1 and not in [0, i).
void check_parent_order(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n);

// How inbreeding() computes F.
enum class InbreedingMethod { automatic, ancestors, sires };

// F and d by inbreeding_sires (inbreeding_sires.hpp) when its cost bound is at
// most 1000 sweep steps per animal (plus 10^6) (about 1-3 us, what ancestor tracing costs per
// animal at best), else by inbreeding_ancestors (inbreeding_ancestors.hpp, on
// `threads` threads, 0 = automatic); or by the method named.  Measured on 2
// shared cores (bench/kernels.py --pedigree): AI-like 10^6 animals, bound
// 135/animal: sires 0.35 s, ancestors 0.56 s; random mating 10^5 animals, bound
// 39,000/animal: 2.8 s vs 0.26 s.
void inbreeding(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, double* F,
                double* d, InbreedingMethod method = InbreedingMethod::automatic,
                int threads = 0);

// Mendelian-sampling variance of an animal with sire s and dam m (-1 unknown)
// from their F: 1/2 - (F_s + F_d)/4 with both parents known, 3/4 - F_p/4 with
// one, 1 with none.
inline double mendelian_variance(std::int64_t s, std::int64_t m, const double* F) {
    if (s >= 0 && m >= 0) return 0.5 - 0.25 * (F[s] + F[m]);
    if (s >= 0 || m >= 0) return 0.75 - 0.25 * F[s >= 0 ? s : m];
    return 1.0;
}

// The same for animal i of the pedigree.
inline double mendelian_variance(const std::int64_t* sire, const std::int64_t* dam,
                                 const double* F, std::int64_t i) {
    return mendelian_variance(sire[i], dam[i], F);
}

// mendelian_variance for every animal.
void mendelian_variances(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                         const double* F, double* d);

struct SymmetricCsc {
    std::vector<std::int64_t> indptr;
    std::vector<std::int64_t> indices;
    std::vector<double> data;
};

// A^-1 by Henderson's rules with Quaas' (1976) inbreeding extension: animal i
// adds b_i = 1/d_i times (e_i - e_s/2 - e_d/2)(e_i - e_s/2 - e_d/2)'.  Both
// triangles stored, rows sorted within each column.  The contributions are
// generated row by row (an animal's own, then its offspring's) and scattered
// by column, so rows arrive sorted and repeated entries adjacent: O(n), no sort.
SymmetricCsc ainv(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                  const double* d);

// Y = A X (Colleau 2002): X is n x k row-major; Y = T D T' X by one backward
// and one forward sweep through the pedigree, O(n k) without forming A.
void a_times(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, const double* d,
             const double* X, std::int64_t k, double* Y);

// Y = A^-1 X = (I - P)' D^-1 (I - P) X, O(n k) without forming A^-1.
void ainv_times(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n,
                const double* d, const double* X, std::int64_t k, double* Y);

// Dense A (n x n row-major) by the tabular method (Emik & Terrill 1949).
void dense_a(const std::int64_t* sire, const std::int64_t* dam, std::int64_t n, double* A);

}  // namespace tabmixr::kinship
