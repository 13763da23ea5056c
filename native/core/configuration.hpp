// Whole configurations: energy, forces, virial and basis rows, the fitting loss with its
// gradient, and the normal equations of the linear coefficients; OpenMP-parallel.
#pragma once

#include <array>
#include <vector>

#include "model.hpp"
#include "neighbours.hpp"
#include "site.hpp"

namespace lotf::mtp {

using Mat3 = std::array<Vec3, 3>;

struct Evaluation {
    double energy = 0.0;
    std::vector<double> site_energies;
    std::vector<Vec3> forces;
    Mat3 virial{};               // sum over pairs of dE/dr (x) r: stress * volume
    std::vector<double> basis;   // (atoms, parameters) d(site energy)/d(parameters), if asked
};

// One configuration: species indices and neighbour list, threaded over atoms.
Evaluation evaluate(const Model& model, const std::vector<int>& types, const NeighbourList& neighbours,
                    bool with_forces, bool with_basis);

// A labelled configuration for fitting; labels that are absent have no weight.
struct Sample {
    std::vector<int> types;
    NeighbourList neighbours;
    std::vector<int> neighbour_types;  // types[neighbours.atom[p]], fixed for the fit
    double volume = 0.0;
    double energy = 0.0;
    std::vector<Vec3> forces;  // empty: no force labels
    bool has_stress = false;
    Mat3 stress{};             // ASE sign (eV/A^3)
};

struct Weights {
    double energy = 1.0, forces = 0.01, stress = 0.001;
};

struct Loss {
    double value = 0.0;
    std::vector<double> gradient;
};

// (1/configurations) sum of w_E ((E - E_ref)/N)^2 + w_F |F - F_ref|^2 / N + w_S |(s - s_ref) V/N|^2
// (N atoms, volume V, full 3x3 stress: the virial per atom), motep's training loss, and, if
// asked, its gradient in all parameters; threaded over configurations.
Loss loss(const Model& model, const std::vector<Sample>& samples, const Weights& weights, bool with_gradient);

// Normal equations (hessian, right-hand side) of that loss in the moment and species
// coefficients, which it is quadratic in at fixed radial coefficients.
std::pair<std::vector<double>, std::vector<double>> normal_equations(const Model& model,
                                                                     const std::vector<Sample>& samples,
                                                                     const Weights& weights);

// Normal equations of the same loss for the MTP reduced to level 2 (moment coefficients
// (1, 0, ...), a pair potential) in the radial coefficients of mu = 0 and the species
// coefficients: MLIP's and motep's start for the radial coefficients.
std::pair<std::vector<double>, std::vector<double>> pair_normal_equations(const Model& model,
                                                                          const std::vector<Sample>& samples,
                                                                          const Weights& weights);

}  // namespace lotf::mtp
