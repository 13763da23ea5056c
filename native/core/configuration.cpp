#include "configuration.hpp"

#include "parallel.hpp"

#include <algorithm>
#include <cmath>

namespace lotf::mtp {

namespace {

constexpr int kThreadedAtoms = 256;

std::vector<int> neighbour_types(const std::vector<int>& types, const NeighbourList& list) {
    std::vector<int> result(list.atom.size());
    for (std::size_t p = 0; p < list.atom.size(); ++p) result[p] = types[list.atom[p]];
    return result;
}

// Adds a site's gradient dE_i/dr_ij to forces (F_j -= g, F_i += g) and to the virial.
void scatter(int i, int count, const int* atoms, const Vec3* vectors, const Vec3* gradient,
             std::vector<Vec3>& forces, Mat3& virial) {
    for (int j = 0; j < count; ++j)
        for (int a = 0; a < 3; ++a) {
            forces[atoms[j]][a] -= gradient[j][a];
            forces[i][a] += gradient[j][a];
            for (int b = 0; b < 3; ++b) virial[a][b] += gradient[j][a] * vectors[j][b];
        }
}

bool fits_forces(const Sample& s, const Weights& w) { return w.forces > 0 && !s.forces.empty(); }
bool fits_stress(const Sample& s, const Weights& w) { return w.stress > 0 && s.has_stress && s.volume > 0; }

// One sample's weights on its squared residuals, as motep's (and MLIP's) training loss scales
// them: the energy per atom, the forces averaged over atoms, the stress as the virial per atom
// (stress * volume / atoms), each configuration counting 1 / samples.
struct SampleWeights {
    double energy;  // on (E - E0)^2
    double forces;  // on each |F - F0|^2 component
    double stress;  // on each (sigma - sigma0)^2 component
};

SampleWeights sample_weights(const Sample& s, const Weights& w, double per_sample) {
    const double atoms = s.neighbours.size(), volume_per_atom = s.volume / atoms;
    return {per_sample * w.energy / (atoms * atoms), per_sample * w.forces / atoms,
            per_sample * w.stress * volume_per_atom * volume_per_atom};
}

Mat3 symmetric(const Mat3& m) {
    Mat3 s;
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) s[a][b] = 0.5 * (m[a][b] + m[b][a]);
    return s;
}

}  // namespace

Evaluation evaluate(const Model& model, const std::vector<int>& types, const NeighbourList& neighbours,
                    bool with_forces, bool with_basis) {
    const int natoms = neighbours.size();
    const std::size_t nparameters = model.parameter_count();
    const std::vector<int> ntypes = neighbour_types(types, neighbours);
    Evaluation result;
    result.site_energies.assign(natoms, 0.0);
    if (with_basis) result.basis.assign(natoms * nparameters, 0.0);
    // each pair's dE_i/dr_ij, scattered into forces in one fixed order afterwards: the result
    // does not depend on how many threads ran
    std::vector<Vec3> gradients(with_forces ? neighbours.atom.size() : 0);
    // threads only pay off on larger cells: on a hundred atoms, waking them costs more than the
    // work, and far more when another process or NumPy's BLAS threads hold a core
#pragma omp parallel if (natoms >= kThreadedAtoms)
    {
        SiteKernel kernel(model);
#pragma omp for schedule(static)
        for (int i = 0; i < natoms; ++i) {
            const int start = neighbours.offsets[i], count = neighbours.offsets[i + 1] - start;
            result.site_energies[i] = kernel.energy(types[i], count, &ntypes[start], &neighbours.vector[start]);
            if (with_basis) kernel.add_parameter_gradient(&result.basis[i * nparameters]);
            if (with_forces) kernel.energy_gradient(&gradients[start]);
        }
    }
    for (double e : result.site_energies) result.energy += e;
    if (with_forces) {
        result.forces.assign(natoms, Vec3{0.0, 0.0, 0.0});
        for (int i = 0; i < natoms; ++i) {
            const int start = neighbours.offsets[i], count = neighbours.offsets[i + 1] - start;
            scatter(i, count, &neighbours.atom[start], &neighbours.vector[start], &gradients[start], result.forces,
                    result.virial);
        }
        result.virial = symmetric(result.virial);
    }
    return result;
}

namespace {

// Energy, forces and virial of a sample on one thread (the caller threads over samples).
double sample_forward(SiteKernel& kernel, const Sample& s, const std::vector<int>& ntypes, bool with_forces,
                      std::vector<Vec3>& forces, Mat3& virial, std::vector<Vec3>& gradient) {
    const int natoms = s.neighbours.size();
    forces.assign(natoms, Vec3{0.0, 0.0, 0.0});
    virial = Mat3{};
    double energy = 0.0;
    for (int i = 0; i < natoms; ++i) {
        const int start = s.neighbours.offsets[i], count = s.neighbours.offsets[i + 1] - start;
        energy += kernel.energy(s.types[i], count, &ntypes[start], &s.neighbours.vector[start]);
        if (!with_forces) continue;
        gradient.resize(count);
        kernel.energy_gradient(gradient.data());
        scatter(i, count, &s.neighbours.atom[start], &s.neighbours.vector[start], gradient.data(), forces, virial);
    }
    virial = symmetric(virial);
    return energy;
}

}  // namespace

Loss loss(const Model& model, const std::vector<Sample>& samples, const Weights& weights, bool with_gradient) {
    const std::size_t nparameters = model.parameter_count();
    const double per_sample = 1.0 / std::max<std::size_t>(1, samples.size());
    const int blocks = block_count(samples.size());
    std::vector<double> block_value(blocks, 0.0);
    std::vector<std::vector<double>> block_gradient(blocks, std::vector<double>(with_gradient ? nparameters : 0));
#pragma omp parallel
    {
        SiteKernel kernel(model);
        std::vector<Vec3> forces, gradient, directions, force_residual;
        Mat3 virial;
        for_samples_in_blocks(samples.size(), blocks, [&](int block, std::size_t n) {
            double& local_value = block_value[block];
            std::vector<double>& local_gradient = block_gradient[block];
            const Sample& s = samples[n];
            const int natoms = s.neighbours.size();
            const std::vector<int>& ntypes = s.neighbour_types;
            const bool fit_forces = fits_forces(s, weights), fit_stress = fits_stress(s, weights);
            const SampleWeights w = sample_weights(s, weights, per_sample);
            const double energy = sample_forward(kernel, s, ntypes, fit_forces || fit_stress, forces, virial, gradient);
            const double energy_residual = energy - s.energy;
            local_value += w.energy * energy_residual * energy_residual;
            force_residual.assign(natoms, Vec3{0.0, 0.0, 0.0});
            if (fit_forces)
                for (int i = 0; i < natoms; ++i)
                    for (int a = 0; a < 3; ++a) {
                        force_residual[i][a] = forces[i][a] - s.forces[i][a];
                        local_value += w.forces * force_residual[i][a] * force_residual[i][a];
                    }
            Mat3 stress_residual{};
            if (fit_stress)
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) {
                        stress_residual[a][b] = virial[a][b] / s.volume - s.stress[a][b];
                        local_value += w.stress * stress_residual[a][b] * stress_residual[a][b];
                    }
            if (!with_gradient) return;
            const double lambda = 2.0 * w.energy * energy_residual;
            const double force_scale = fit_forces ? -2.0 * w.forces : 0.0;
            const double stress_scale = fit_stress ? 2.0 * w.stress / s.volume : 0.0;
            for (int i = 0; i < natoms; ++i) {
                const int start = s.neighbours.offsets[i], count = s.neighbours.offsets[i + 1] - start;
                kernel.energy(s.types[i], count, &ntypes[start], &s.neighbours.vector[start]);
                directions.resize(count);
                for (int j = 0; j < count; ++j) {
                    const Vec3& r = s.neighbours.vector[start + j];
                    const Vec3& other = force_residual[s.neighbours.atom[start + j]];
                    for (int a = 0; a < 3; ++a)
                        directions[j][a] = force_scale * (other[a] - force_residual[i][a]) +
                                           stress_scale * (stress_residual[a][0] * r[0] + stress_residual[a][1] * r[1] +
                                                           stress_residual[a][2] * r[2]);
                }
                kernel.add_loss_gradient(lambda, directions.data(), local_gradient.data());
            }
        });
    }
    Loss total;
    total.gradient.assign(with_gradient ? nparameters : 0, 0.0);
    for (double value : block_value) total.value += value;
    add_blocks(block_gradient, total.gradient);
    return total;
}

namespace {

// h += weight * row row^T, y += weight * row * target.
void add_normal_row(int n, std::vector<double>& h, std::vector<double>& y, const double* row, double weight,
                    double target) {
    for (int p = 0; p < n; ++p) {
        if (row[p] == 0.0) continue;
        y[p] += weight * row[p] * target;
        for (int q = 0; q < n; ++q) h[p * n + q] += weight * row[p] * row[q];
    }
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> normal_equations(const Model& model,
                                                                     const std::vector<Sample>& samples,
                                                                     const Weights& weights) {
    const int nscalar = static_cast<int>(model.scalar_count());
    const int nlinear = nscalar + model.basis().species_count;
    const double per_sample = 1.0 / std::max<std::size_t>(1, samples.size());
    std::vector<double> hessian(nlinear * nlinear, 0.0), rhs(nlinear, 0.0);
    const auto add_row = [nlinear](std::vector<double>& h, std::vector<double>& y, const double* row, double weight,
                                   double target) { add_normal_row(nlinear, h, y, row, weight, target); };
    const int blocks = block_count(samples.size());
    std::vector<std::vector<double>> block_h(blocks, std::vector<double>(hessian.size())),
        block_y(blocks, std::vector<double>(nlinear));
#pragma omp parallel
    {
        SiteKernel kernel(model);
        std::vector<double> energy_row, force_rows, stress_rows;
        std::vector<Vec3> gradient;
        for_samples_in_blocks(samples.size(), blocks, [&](int block, std::size_t n) {
            std::vector<double>& local_h = block_h[block];
            std::vector<double>& local_y = block_y[block];
            const Sample& s = samples[n];
            const int natoms = s.neighbours.size();
            const std::vector<int>& ntypes = s.neighbour_types;
            const bool fit_forces = fits_forces(s, weights), fit_stress = fits_stress(s, weights);
            energy_row.assign(nlinear, 0.0);
            force_rows.assign(3 * natoms * nlinear, 0.0);  // row (atom, component): -dB/dx
            stress_rows.assign(9 * nlinear, 0.0);          // row (a, b): virial of B / volume
            for (int i = 0; i < natoms; ++i) {
                const int start = s.neighbours.offsets[i], count = s.neighbours.offsets[i + 1] - start;
                kernel.energy(s.types[i], count, &ntypes[start], &s.neighbours.vector[start]);
                energy_row[nscalar + s.types[i]] += 1.0;
                for (int a = 0; a < nscalar; ++a) energy_row[a] += kernel.scalar(a);
                if (!fit_forces && !fit_stress) continue;
                gradient.resize(count);
                for (int a = 0; a < nscalar; ++a) {
                    kernel.scalar_gradient(a, gradient.data());
                    for (int j = 0; j < count; ++j) {
                        const int other = s.neighbours.atom[start + j];
                        const Vec3& r = s.neighbours.vector[start + j];
                        for (int c = 0; c < 3; ++c) {
                            force_rows[(3 * other + c) * nlinear + a] -= gradient[j][c];
                            force_rows[(3 * i + c) * nlinear + a] += gradient[j][c];
                            if (fit_stress)
                                for (int d = 0; d < 3; ++d)
                                stress_rows[(3 * c + d) * nlinear + a] +=
                                    0.5 * (gradient[j][c] * r[d] + gradient[j][d] * r[c]) / s.volume;
                        }
                    }
                }
            }
            const SampleWeights w = sample_weights(s, weights, per_sample);
            add_row(local_h, local_y, energy_row.data(), w.energy, s.energy);
            if (fit_forces)
                for (int i = 0; i < natoms; ++i)
                    for (int c = 0; c < 3; ++c)
                        add_row(local_h, local_y, &force_rows[(3 * i + c) * nlinear], w.forces, s.forces[i][c]);
            if (fit_stress)
                for (int c = 0; c < 3; ++c)
                    for (int d = 0; d < 3; ++d)
                        add_row(local_h, local_y, &stress_rows[(3 * c + d) * nlinear], w.stress, s.stress[c][d]);
        });
    }
    add_blocks(block_h, hessian);
    add_blocks(block_y, rhs);
    return {hessian, rhs};
}

std::pair<std::vector<double>, std::vector<double>> pair_normal_equations(const Model& model,
                                                                          const std::vector<Sample>& samples,
                                                                          const Weights& weights) {
    const Basis& basis = model.basis();
    const int nb = basis.radial_basis_size, species = basis.species_count;
    const int nradial = species * species * nb, nlinear = nradial + species;
    const double per_sample = 1.0 / std::max<std::size_t>(1, samples.size());
    std::vector<double> hessian(nlinear * nlinear, 0.0), rhs(nlinear, 0.0);
    const int blocks = block_count(samples.size());
    std::vector<std::vector<double>> block_h(blocks, std::vector<double>(hessian.size())),
        block_y(blocks, std::vector<double>(nlinear));
#pragma omp parallel
    {
        std::vector<double> q, dq, inverse_r;
        std::vector<double> energy_row, force_rows, stress_rows;
        for_samples_in_blocks(samples.size(), blocks, [&](int block, std::size_t n) {
            std::vector<double>& local_h = block_h[block];
            std::vector<double>& local_y = block_y[block];
            const Sample& s = samples[n];
            const int natoms = s.neighbours.size();
            const bool fit_forces = fits_forces(s, weights), fit_stress = fits_stress(s, weights);
            energy_row.assign(nlinear, 0.0), force_rows.assign(3 * natoms * nlinear, 0.0);
            stress_rows.assign(9 * nlinear, 0.0);
            for (int i = 0; i < natoms; ++i) {
                energy_row[nradial + s.types[i]] += 1.0;
                const int start = s.neighbours.offsets[i], count = s.neighbours.offsets[i + 1] - start;
                inverse_r.resize(count), q.resize(nb * count), dq.resize(nb * count);
                for (int j = 0; j < count; ++j) {
                    const Vec3& r = s.neighbours.vector[start + j];
                    inverse_r[j] = 1.0 / std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
                }
                radial_basis(basis, count, inverse_r.data(), q.data(), dq.data());
                for (int j = 0; j < count; ++j) {
                    const int other = s.neighbours.atom[start + j];
                    const Vec3& r = s.neighbours.vector[start + j];
                    const int column = (s.types[i] * species + s.types[other]) * nb;
                    for (int b = 0; b < nb; ++b) {
                        energy_row[column + b] += q[b * count + j];
                        for (int c = 0; c < 3; ++c) {  // d(site energy)/d(r_c) = dq * r_c / |r|
                            const double g = dq[b * count + j] * r[c] * inverse_r[j];
                            force_rows[(3 * other + c) * nlinear + column + b] -= g;
                            force_rows[(3 * i + c) * nlinear + column + b] += g;
                            if (fit_stress)
                                for (int d = 0; d < 3; ++d)
                                    stress_rows[(3 * c + d) * nlinear + column + b] += g * r[d] / s.volume;
                        }
                    }
                }
            }
            const SampleWeights w = sample_weights(s, weights, per_sample);
            add_normal_row(nlinear, local_h, local_y, energy_row.data(), w.energy, s.energy);
            if (fit_forces)
                for (int i = 0; i < natoms; ++i)
                    for (int c = 0; c < 3; ++c)
                        add_normal_row(nlinear, local_h, local_y, &force_rows[(3 * i + c) * nlinear], w.forces,
                                       s.forces[i][c]);
            if (fit_stress)
                for (int c = 0; c < 3; ++c)
                    for (int d = 0; d < 3; ++d)
                        add_normal_row(nlinear, local_h, local_y, &stress_rows[(3 * c + d) * nlinear], w.stress,
                                       s.stress[c][d]);
        });
    }
    add_blocks(block_h, hessian);
    add_blocks(block_y, rhs);
    return {hessian, rhs};
}

}  // namespace lotf::mtp
