// Neighbour lists of periodic cells by binning the atoms and their periodic images.
#pragma once

#include <array>
#include <vector>

namespace lotf::mtp {

// Full neighbour list in CSR form: atom i's neighbours are [offsets[i], offsets[i + 1]).
// `atom` is the neighbour's index in the cell and `vector` the vector from i to that image; each
// atom's neighbours are ordered by index and image, whatever the positions.
struct NeighbourList {
    std::vector<int> offsets;
    std::vector<int> atom;
    std::vector<std::array<double, 3>> vector;
    std::vector<std::array<double, 3>> shift;  // lattice translation: vector = x_j - x_i + shift

    int size() const { return static_cast<int>(offsets.size()) - 1; }
};

// The vector from atom i to an image of atom j: (x_j - x_i) + shift, computed the same way by
// every list so that a Verlet list's vectors equal a fresh list's to the last bit.
std::array<double, 3> pair_vector(const std::vector<std::array<double, 3>>& positions, int j, int i,
                                  const std::array<double, 3>& shift);

// All pairs closer than `cutoff`, with images along the periodic directions; `cell` rows are
// the lattice vectors (a full cell is needed when any direction is periodic).
NeighbourList build_neighbours(const std::vector<std::array<double, 3>>& positions,
                               const std::array<std::array<double, 3>, 3>& cell,
                               const std::array<bool, 3>& pbc, double cutoff);

}  // namespace lotf::mtp

namespace lotf::mtp {

// A Verlet list for MD: pairs within cutoff + skin are found again only when an atom has moved
// more than skin / 2 or the cell changed; each update recomputes the vectors and keeps those
// within the cutoff.
class VerletList {
  public:
    VerletList(double cutoff, double skin) : cutoff_(cutoff), skin_(skin) {}
    const NeighbourList& update(const std::vector<std::array<double, 3>>& positions,
                                const std::array<std::array<double, 3>, 3>& cell, const std::array<bool, 3>& pbc);
    int builds() const { return builds_; }
    double cutoff() const { return cutoff_; }

  private:
    double cutoff_, skin_;
    int builds_ = 0;
    std::vector<std::array<double, 3>> reference_;  // positions at the last build
    std::array<std::array<double, 3>, 3> cell_{};
    std::array<bool, 3> pbc_{};
    std::vector<int> first_, second_;                // pairs within cutoff + skin
    std::vector<std::array<double, 3>> shift_;       // lattice translation of each pair
    NeighbourList list_;
};

}  // namespace lotf::mtp
