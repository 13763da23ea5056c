#include "neighbours.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace lotf::mtp {

namespace {

using Vec = std::array<double, 3>;
using Mat = std::array<Vec, 3>;

Vec cross(const Vec& a, const Vec& b) {
    return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// An atom or one of its periodic images.
struct Point {
    Vec position;
    int atom;
    bool local;
    std::array<int, 3> image;  // lattice translation from the atom's given position
};

// The atoms wrapped into the cell along periodic directions, plus every image within
// `cutoff` of the cell (measured across lattice planes).
std::vector<Point> with_images(const std::vector<Vec>& positions, const Mat& cell,
                               const std::array<bool, 3>& pbc, double cutoff) {
    const bool periodic = pbc[0] || pbc[1] || pbc[2];
    std::vector<Point> points;
    if (!periodic) {
        for (int i = 0; i < static_cast<int>(positions.size()); ++i) points.push_back({positions[i], i, true, {0, 0, 0}});
        return points;
    }
    const double volume = dot(cell[0], cross(cell[1], cell[2]));
    if (std::abs(volume) < 1e-12) throw std::invalid_argument("a periodic cell needs three lattice vectors");
    Mat reciprocal;  // rows: b_d with a_e . b_d = delta_ed
    for (int d = 0; d < 3; ++d) {
        const Vec c = cross(cell[(d + 1) % 3], cell[(d + 2) % 3]);
        for (int e = 0; e < 3; ++e) reciprocal[d][e] = c[e] / volume;
    }
    std::array<int, 3> images{0, 0, 0};
    std::array<double, 3> skin{0, 0, 0};  // cutoff in fractional units across each plane
    for (int d = 0; d < 3; ++d) {
        if (!pbc[d]) continue;
        skin[d] = cutoff * std::sqrt(dot(reciprocal[d], reciprocal[d]));
        images[d] = static_cast<int>(std::ceil(skin[d]));
    }
    std::vector<Vec> fractional(positions.size());
    std::vector<std::array<int, 3>> wrapped(positions.size(), {0, 0, 0});
    for (std::size_t i = 0; i < positions.size(); ++i)
        for (int d = 0; d < 3; ++d) {
            double s = dot(reciprocal[d], positions[i]);
            if (pbc[d]) wrapped[i][d] = -static_cast<int>(std::floor(s)), s += wrapped[i][d];
            fractional[i][d] = s;
        }
    for (int n0 = -images[0]; n0 <= images[0]; ++n0)
        for (int n1 = -images[1]; n1 <= images[1]; ++n1)
            for (int n2 = -images[2]; n2 <= images[2]; ++n2) {
                const bool local = n0 == 0 && n1 == 0 && n2 == 0;
                const std::array<int, 3> shift{n0, n1, n2};
                for (int i = 0; i < static_cast<int>(positions.size()); ++i) {
                    Vec s;
                    bool inside = true;
                    for (int d = 0; d < 3; ++d) {
                        s[d] = fractional[i][d] + shift[d];
                        if (pbc[d] && (s[d] < -skin[d] || s[d] >= 1.0 + skin[d])) inside = false;
                    }
                    if (!inside) continue;
                    Vec r{0, 0, 0};
                    for (int d = 0; d < 3; ++d)
                        for (int e = 0; e < 3; ++e) r[e] += s[d] * cell[d][e];
                    points.push_back({r, i, local, {wrapped[i][0] + n0, wrapped[i][1] + n1, wrapped[i][2] + n2}});
                }
            }
    return points;
}

// The Cartesian translation between two images of the cell.
Vec translation(const Mat& cell, const std::array<int, 3>& to, const std::array<int, 3>& from) {
    Vec t{0.0, 0.0, 0.0};
    for (int d = 0; d < 3; ++d)
        for (int e = 0; e < 3; ++e) t[e] += (to[d] - from[d]) * cell[d][e];
    return t;
}

}  // namespace

Vec pair_vector(const std::vector<Vec>& positions, int j, int i, const Vec& shift) {
    return {(positions[j][0] - positions[i][0]) + shift[0], (positions[j][1] - positions[i][1]) + shift[1],
            (positions[j][2] - positions[i][2]) + shift[2]};
}

namespace {

// Atom i's neighbours from `start` on, ordered by neighbour index and periodic image: the order
// (and so every sum over neighbours, to the last bit) then depends on the positions only, not
// on where the atoms were when a Verlet list was built.
void sort_neighbours(NeighbourList& list, int start) {
    const int count = static_cast<int>(list.atom.size()) - start;
    std::vector<std::pair<std::array<long long, 4>, int>> keys(count);
    for (int n = 0; n < count; ++n) {
        std::array<long long, 4> key{list.atom[start + n], 0, 0, 0};
        for (int e = 0; e < 3; ++e) key[e + 1] = std::llround(1e6 * list.shift[start + n][e]);
        keys[n] = {key, start + n};
    }
    std::sort(keys.begin(), keys.end());
    NeighbourList sorted;
    for (const auto& key : keys) {
        sorted.atom.push_back(list.atom[key.second]);
        sorted.vector.push_back(list.vector[key.second]);
        sorted.shift.push_back(list.shift[key.second]);
    }
    std::copy(sorted.atom.begin(), sorted.atom.end(), list.atom.begin() + start);
    std::copy(sorted.vector.begin(), sorted.vector.end(), list.vector.begin() + start);
    std::copy(sorted.shift.begin(), sorted.shift.end(), list.shift.begin() + start);
}

}  // namespace

NeighbourList build_neighbours(const std::vector<Vec>& positions, const Mat& cell,
                               const std::array<bool, 3>& pbc, double cutoff) {
    const std::vector<Point> points = with_images(positions, cell, pbc, cutoff);
    Vec low{1e300, 1e300, 1e300}, high{-1e300, -1e300, -1e300};
    for (const auto& p : points)
        for (int e = 0; e < 3; ++e) low[e] = std::min(low[e], p.position[e]), high[e] = std::max(high[e], p.position[e]);
    std::array<int, 3> bins;
    for (int e = 0; e < 3; ++e)
        bins[e] = std::max(1, std::min(1 << 10, static_cast<int>((high[e] - low[e]) / cutoff)));
    auto bin_of = [&](const Vec& r, int e) {
        const int b = static_cast<int>((r[e] - low[e]) / (high[e] - low[e] + 1e-12) * bins[e]);
        return std::clamp(b, 0, bins[e] - 1);
    };
    const int total_bins = bins[0] * bins[1] * bins[2];
    std::vector<int> head(total_bins, -1), next(points.size(), -1);
    for (int p = 0; p < static_cast<int>(points.size()); ++p) {
        const auto& r = points[p].position;
        const int b = (bin_of(r, 0) * bins[1] + bin_of(r, 1)) * bins[2] + bin_of(r, 2);
        next[p] = head[b];
        head[b] = p;
    }
    NeighbourList list;
    const int natoms = static_cast<int>(positions.size());
    std::vector<int> local_point(natoms);
    for (int p = 0; p < static_cast<int>(points.size()); ++p)
        if (points[p].local) local_point[points[p].atom] = p;
    list.offsets.reserve(natoms + 1);
    list.offsets.push_back(0);
    const double cutoff2 = cutoff * cutoff;
    for (int i = 0; i < natoms; ++i) {
        const Point& centre = points[local_point[i]];
        const Vec& ri = centre.position;
        const int b0 = bin_of(ri, 0), b1 = bin_of(ri, 1), b2 = bin_of(ri, 2);
        for (int c0 = std::max(0, b0 - 1); c0 <= std::min(bins[0] - 1, b0 + 1); ++c0)
            for (int c1 = std::max(0, b1 - 1); c1 <= std::min(bins[1] - 1, b1 + 1); ++c1)
                for (int c2 = std::max(0, b2 - 1); c2 <= std::min(bins[2] - 1, b2 + 1); ++c2)
                    for (int p = head[(c0 * bins[1] + c1) * bins[2] + c2]; p >= 0; p = next[p]) {
                        if (p == local_point[i]) continue;
                        // (x_j - x_i) + lattice translation: the arithmetic a Verlet list repeats
                        const Vec shift = translation(cell, points[p].image, centre.image);
                        const Vec d = pair_vector(positions, points[p].atom, i, shift);
                        if (dot(d, d) < cutoff2) {
                            list.atom.push_back(points[p].atom);
                            list.vector.push_back(d);
                            list.shift.push_back(shift);
                        }
                    }
        sort_neighbours(list, list.offsets.back());
        list.offsets.push_back(static_cast<int>(list.atom.size()));
    }
    return list;
}

}  // namespace lotf::mtp

namespace lotf::mtp {

const NeighbourList& VerletList::update(const std::vector<std::array<double, 3>>& positions,
                                        const std::array<std::array<double, 3>, 3>& cell,
                                        const std::array<bool, 3>& pbc) {
    bool rebuild = positions.size() != reference_.size() || cell != cell_ || pbc != pbc_;
    const double limit = 0.25 * skin_ * skin_;
    for (std::size_t i = 0; !rebuild && i < positions.size(); ++i) {
        double d2 = 0.0;
        for (int e = 0; e < 3; ++e) d2 += (positions[i][e] - reference_[i][e]) * (positions[i][e] - reference_[i][e]);
        rebuild = d2 > limit;
    }
    if (rebuild) {
        const NeighbourList wide = build_neighbours(positions, cell, pbc, cutoff_ + skin_);
        first_.clear(), second_.clear(), shift_.clear();
        for (int i = 0; i < wide.size(); ++i)
            for (int p = wide.offsets[i]; p < wide.offsets[i + 1]; ++p) {
                const int j = wide.atom[p];
                first_.push_back(i), second_.push_back(j);
                shift_.push_back(wide.shift[p]);
            }
        reference_ = positions, cell_ = cell, pbc_ = pbc;
        ++builds_;
    }
    list_.offsets.assign(1, 0), list_.atom.clear(), list_.vector.clear(), list_.shift.clear();
    const double cutoff2 = cutoff_ * cutoff_;
    std::size_t p = 0;
    for (int i = 0; i < static_cast<int>(positions.size()); ++i) {
        for (; p < first_.size() && first_[p] == i; ++p) {
            const int j = second_[p];
            const std::array<double, 3> d = pair_vector(positions, j, i, shift_[p]);
            if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < cutoff2)
                list_.atom.push_back(j), list_.vector.push_back(d), list_.shift.push_back(shift_[p]);
        }
        list_.offsets.push_back(static_cast<int>(list_.atom.size()));
    }
    return list_;
}

}  // namespace lotf::mtp
