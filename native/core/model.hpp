// The MTP of Shapeev (2016) as MLIP-2 defines it: a level's moments and contractions
// (alpha_index_basic, alpha_index_times, alpha_moment_mapping) and the trained parameters.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace lotf::mtp {

// What an .mtp file's header lists: the radial basis and the moment tensor contractions.
struct Basis {
    int species_count = 1;
    int radial_basis_size = 8;
    int radial_funcs_count = 1;
    int moments_count = 0;
    double min_dist = 0.0;
    double max_dist = 5.0;
    double scaling = 1.0;
    std::vector<std::array<int, 4>> basic;  // mu, powers of x, y, z of the unit vector
    std::vector<std::array<int, 4>> times;  // first, second, multiplicity, target
    std::vector<int> mapping;               // scalar moment -> moment index
};

// A monomial x^a y^b z^c of the unit vector, built from `parent` times one axis; `lower` holds
// the index of the monomial with one power lowered (or -1), which its derivatives need.
struct Monomial {
    std::array<int, 3> powers;
    int parent, axis;
    std::array<int, 3> lower;
};

// Parameters in MLIP's order: moment coefficients, species coefficients, then radial
// coefficients in C order of [centre type, neighbour type, mu, beta].
class Model {
  public:
    Model(Basis basis, std::vector<double> parameters);

    const Basis& basis() const { return basis_; }
    const std::vector<double>& parameters() const { return parameters_; }
    void set_parameters(const std::vector<double>& parameters);

    std::size_t scalar_count() const { return basis_.mapping.size(); }
    std::size_t species_offset() const { return scalar_count(); }
    std::size_t radial_offset() const { return species_offset() + basis_.species_count; }
    std::size_t parameter_count() const;
    // Index of radial coefficient [centre, neighbour, mu = 0, beta = 0].
    std::size_t radial_index(int centre, int neighbour) const {
        return radial_offset() + static_cast<std::size_t>(centre * basis_.species_count + neighbour) *
                                     basis_.radial_funcs_count * basis_.radial_basis_size;
    }
    // Every monomial the basic moments need, closed under lowering a power, by degree.
    const std::vector<Monomial>& monomials() const { return monomials_; }
    // The monomial of each basic moment, and the distinct ones.
    const std::vector<int>& basic_monomial() const { return basic_monomial_; }
    const std::vector<int>& used_monomials() const { return used_monomials_; }

  private:
    Basis basis_;
    std::vector<double> parameters_;
    std::vector<Monomial> monomials_;
    std::vector<int> basic_monomial_, used_monomials_;
};

// Chebyshev polynomials on [min_dist, max_dist] times scaling * (max_dist - r)^2, and their
// derivatives in r, zero beyond max_dist, for `count` distances given as 1/r:
// values[beta * count + j] of neighbour j.
void radial_basis(const Basis& basis, int count, const double* inverse_r, double* values, double* derivatives);

}  // namespace lotf::mtp
