#include "spde/mesh_fem.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tabmixr::spde {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

}  // namespace

MeshFem mesh_fem(const double* vertices, std::int64_t n, const std::int64_t* triangles,
                 std::int64_t m) {
    if (n < 1 || m < 1) fail("a mesh needs at least one vertex and one triangle");
    double scale = 0.0;  // squared extent, for the relative degeneracy test
    for (std::int64_t v = 0; v < n; ++v) {
        const double x = vertices[2 * v], y = vertices[2 * v + 1];
        if (!std::isfinite(x) || !std::isfinite(y)) {
            fail("vertex " + std::to_string(v) + " has a non-finite coordinate");
        }
        scale = std::max(scale, x * x + y * y);
    }
    // Per triangle: its area and 3 x 3 stiffness block; per vertex: its triangles.
    std::vector<double> area(m), stiffness(9 * m);
    std::vector<std::int64_t> first(n + 1, 0);
    for (std::int64_t t = 0; t < m; ++t) {
        const std::int64_t* tri = triangles + 3 * t;
        for (int a = 0; a < 3; ++a) {
            if (tri[a] < 0 || tri[a] >= n) {
                fail("triangle " + std::to_string(t) + " refers to vertex " +
                     std::to_string(tri[a]) + ", outside [0, " + std::to_string(n) + ")");
            }
        }
        if (tri[0] == tri[1] || tri[1] == tri[2] || tri[0] == tri[2]) {
            fail("triangle " + std::to_string(t) + " repeats a vertex");
        }
        // e_a = p_{a+2} - p_{a+1}, the edge opposite vertex a.
        double ex[3], ey[3];
        for (int a = 0; a < 3; ++a) {
            const std::int64_t u = tri[(a + 2) % 3], w = tri[(a + 1) % 3];
            ex[a] = vertices[2 * u] - vertices[2 * w];
            ey[a] = vertices[2 * u + 1] - vertices[2 * w + 1];
        }
        area[t] = 0.5 * std::abs(ex[2] * ey[0] - ey[2] * ex[0]);
        if (!(area[t] > 1e-14 * scale) || !(area[t] > 0.0)) {
            fail("triangle " + std::to_string(t) + " has zero area (collinear vertices " +
                 std::to_string(tri[0]) + ", " + std::to_string(tri[1]) + ", " +
                 std::to_string(tri[2]) + ")");
        }
        for (int a = 0; a < 3; ++a) {
            for (int b = 0; b < 3; ++b) {
                stiffness[9 * t + 3 * a + b] = (ex[a] * ex[b] + ey[a] * ey[b]) / (4.0 * area[t]);
            }
            ++first[tri[a] + 1];
        }
    }
    for (std::int64_t v = 0; v < n; ++v) {
        if (first[v + 1] == 0) {
            fail("vertex " + std::to_string(v) + " belongs to no triangle; drop it or mesh it");
        }
        first[v + 1] += first[v];
    }
    std::vector<std::int64_t> corner(first[n]);  // 3 t + local index, grouped by vertex
    {
        std::vector<std::int64_t> next(first.begin(), first.end() - 1);
        for (std::int64_t t = 0; t < m; ++t) {
            for (int a = 0; a < 3; ++a) corner[next[triangles[3 * t + a]]++] = 3 * t + a;
        }
    }
    // Column c gathers the blocks of c's triangles in dense work arrays.
    MeshFem fem;
    fem.n_vertices = n;
    fem.C_lumped.assign(n, 0.0);
    fem.indptr.assign(n + 1, 0);
    fem.indices.reserve(7 * n);
    fem.G.reserve(7 * n);
    fem.C.reserve(7 * n);
    std::vector<double> work_G(n, 0.0), work_C(n, 0.0);
    std::vector<char> marked(n, 0);
    std::vector<std::int64_t> rows;
    for (std::int64_t c = 0; c < n; ++c) {
        rows.clear();
        for (std::int64_t k = first[c]; k < first[c + 1]; ++k) {
            const std::int64_t t = corner[k] / 3;
            const int b = static_cast<int>(corner[k] % 3);
            fem.C_lumped[c] += area[t] / 3.0;
            for (int a = 0; a < 3; ++a) {
                const std::int64_t r = triangles[3 * t + a];
                if (!marked[r]) {
                    marked[r] = 1;
                    rows.push_back(r);
                }
                work_G[r] += stiffness[9 * t + 3 * a + b];
                work_C[r] += area[t] * (a == b ? 2.0 : 1.0) / 12.0;
            }
        }
        std::sort(rows.begin(), rows.end());
        for (const std::int64_t r : rows) {
            fem.indices.push_back(r);
            fem.G.push_back(work_G[r]);
            fem.C.push_back(work_C[r]);
            work_G[r] = work_C[r] = 0.0;
            marked[r] = 0;
        }
        fem.indptr[c + 1] = static_cast<std::int64_t>(fem.indices.size());
    }
    return fem;
}

MeshPrecision mesh_precision(const MeshFem& fem, double kappa, double tau, int alpha) {
    if (!(std::isfinite(kappa) && kappa > 0.0)) {
        fail("kappa must be positive and finite, got " + std::to_string(kappa));
    }
    if (!(std::isfinite(tau) && tau > 0.0)) {
        fail("tau must be positive and finite, got " + std::to_string(tau));
    }
    if (alpha != 1 && alpha != 2) fail("alpha must be 1 or 2, got " + std::to_string(alpha));
    const std::int64_t n = fem.n_vertices;
    const double k2 = kappa * kappa, t2 = tau * tau;
    MeshPrecision out;
    if (alpha == 1) {
        out.indptr = fem.indptr;
        out.indices = fem.indices;
        out.Q.resize(fem.G.size());
        out.dQ_dkappa.assign(fem.G.size(), 0.0);
        for (std::int64_t c = 0; c < n; ++c) {
            for (std::int64_t p = fem.indptr[c]; p < fem.indptr[c + 1]; ++p) {
                const double Ct = fem.indices[p] == c ? fem.C_lumped[c] : 0.0;
                out.Q[p] = t2 * (k2 * Ct + fem.G[p]);
                out.dQ_dkappa[p] = t2 * 2.0 * kappa * Ct;
            }
        }
    } else {
        // Column c of G Ct^-1 G = sum over stored G[m, c] of G[:, m] G[m, c] / Ct[m].
        std::vector<double> work(n, 0.0), g_col(n, 0.0);
        std::vector<char> marked(n, 0);
        std::vector<std::int64_t> rows;
        out.indptr.assign(n + 1, 0);
        const std::size_t guess = 3 * fem.indices.size();
        out.indices.reserve(guess);
        out.Q.reserve(guess);
        out.dQ_dkappa.reserve(guess);
        for (std::int64_t c = 0; c < n; ++c) {
            rows.clear();
            for (std::int64_t p = fem.indptr[c]; p < fem.indptr[c + 1]; ++p) {
                const std::int64_t mid = fem.indices[p];
                g_col[mid] = fem.G[p];
                const double factor = fem.G[p] / fem.C_lumped[mid];
                for (std::int64_t q = fem.indptr[mid]; q < fem.indptr[mid + 1]; ++q) {
                    const std::int64_t r = fem.indices[q];
                    if (!marked[r]) {
                        marked[r] = 1;
                        rows.push_back(r);
                    }
                    work[r] += fem.G[q] * factor;
                }
            }
            std::sort(rows.begin(), rows.end());
            for (const std::int64_t r : rows) {
                const double Ct = r == c ? fem.C_lumped[c] : 0.0;
                const double G = g_col[r];
                out.indices.push_back(r);
                out.Q.push_back(t2 * (k2 * k2 * Ct + 2.0 * k2 * G + work[r]));
                out.dQ_dkappa.push_back(t2 * (4.0 * k2 * kappa * Ct + 4.0 * kappa * G));
                work[r] = 0.0;
                marked[r] = 0;
            }
            for (std::int64_t p = fem.indptr[c]; p < fem.indptr[c + 1]; ++p) {
                g_col[fem.indices[p]] = 0.0;
            }
            out.indptr[c + 1] = static_cast<std::int64_t>(out.indices.size());
        }
    }
    out.dQ_dtau.resize(out.Q.size());
    for (std::size_t p = 0; p < out.Q.size(); ++p) out.dQ_dtau[p] = 2.0 * out.Q[p] / tau;
    return out;
}

}  // namespace tabmixr::spde
