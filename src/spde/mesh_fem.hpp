// SPDE Matern precision on a triangulated 2-D mesh by piecewise-linear finite
// elements (Lindgren, Rue & Lindstrom 2011, section 2.3 and appendix C).
//
// For each triangle with area a and edge vectors e_0, e_1, e_2 (e_i opposite
// vertex i): stiffness G_ij += e_i . e_j / (4 a), consistent mass
// C_ij += a (1 + [i == j]) / 12, lumped mass Ct_ii += a / 3.  With the lumped
// mass (natural, zero-flux boundary):
//
//   alpha = 1:  Q = tau^2 (kappa^2 Ct + G)
//   alpha = 2:  Q = tau^2 (kappa^4 Ct + 2 kappa^2 G + G Ct^-1 G)
//
// Q's pattern depends only on the mesh and alpha.
#pragma once

#include <cstdint>
#include <vector>

namespace tabmixr::spde {

// FEM matrices on the vertex-adjacency pattern (diagonal included, both
// triangles stored, rows sorted per column).
struct MeshFem {
    std::int64_t n_vertices = 0;
    std::vector<std::int64_t> indptr;
    std::vector<std::int64_t> indices;
    std::vector<double> C;          // consistent mass
    std::vector<double> G;          // stiffness
    std::vector<double> C_lumped;   // diagonal of the lumped mass, length n_vertices
};

// Assembles the FEM matrices.  vertices: n x 2 row-major; triangles: m x 3
// row-major vertex indices.  Throws std::invalid_argument naming the triangle
// with an out-of-range or repeated vertex or (near) zero area, or the first
// vertex that belongs to no triangle.
MeshFem mesh_fem(const double* vertices, std::int64_t n_vertices, const std::int64_t* triangles,
                 std::int64_t n_triangles);

struct MeshPrecision {
    std::vector<std::int64_t> indptr;
    std::vector<std::int64_t> indices;
    std::vector<double> Q;
    std::vector<double> dQ_dkappa;
    std::vector<double> dQ_dtau;
};

// Q(kappa, tau) and its derivatives for alpha in {1, 2}.
MeshPrecision mesh_precision(const MeshFem& fem, double kappa, double tau, int alpha);

}  // namespace tabmixr::spde
