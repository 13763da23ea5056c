#include "site.hpp"

#include <algorithm>
#include <cmath>

namespace lotf::mtp {

SiteKernel::SiteKernel(const Model& model)
    : model_(model), basis_(model.basis()), monomials_(model.monomials()),
      basic_monomial_(model.basic_monomial()), used_(model.used_monomials()) {
    moments_.resize(basis_.moments_count);
    adjoint_.resize(basis_.moments_count);
    tangent_.resize(basis_.moments_count);
    tangent_adjoint_.resize(basis_.moments_count);
}

LOTF_WIDE double SiteKernel::energy(int type, int count, const int* types, const Vec3* vectors) {
    const int nb = basis_.radial_basis_size, nf = basis_.radial_funcs_count;
    const int nm = static_cast<int>(monomials_.size());
    type_ = type, count_ = count, types_ = types;
    energy_adjoint_ = false;
    inverse_r_.resize(count), unit_.resize(3 * count);
    q_.resize(nb * count), dq_.resize(nb * count), f_.resize(nf * count), df_.resize(nf * count);
    monomial_.resize(nm * count);
    const double* parameters = model_.parameters().data();
    for (int j = 0; j < count; ++j) {
        const double r = std::sqrt(vectors[j][0] * vectors[j][0] + vectors[j][1] * vectors[j][1] +
                                   vectors[j][2] * vectors[j][2]);
        inverse_r_[j] = 1.0 / r;
        for (int e = 0; e < 3; ++e) unit_[e * count + j] = vectors[j][e] * inverse_r_[j];
    }
    radial_basis(basis_, count, inverse_r_.data(), q_.data(), dq_.data());
    for (int j = 0; j < count; ++j) {
        const double* c = parameters + model_.radial_index(type, types[j]);
        for (int mu = 0; mu < nf; ++mu) {
            double value = 0.0, derivative = 0.0;
            for (int b = 0; b < nb; ++b)
                value += c[mu * nb + b] * q_[b * count + j], derivative += c[mu * nb + b] * dq_[b * count + j];
            f_[mu * count + j] = value, df_[mu * count + j] = derivative;
        }
    }
    for (int m = 0; m < nm; ++m) {
        double* out = row(monomial_, m);
        if (monomials_[m].parent < 0) {
            std::fill(out, out + count, 1.0);
            continue;
        }
        const double* parent = row(monomial_, monomials_[m].parent);
        const double* u = row(unit_, monomials_[m].axis);
        for (int j = 0; j < count; ++j) out[j] = parent[j] * u[j];
    }
    std::fill(moments_.begin(), moments_.end(), 0.0);
    for (int k = 0; k < static_cast<int>(basis_.basic.size()); ++k) {
        const double* f = row(f_, basis_.basic[k][0]);
        const double* m = row(monomial_, basic_monomial_[k]);
        double sum = 0.0;
        for (int j = 0; j < count; ++j) sum += f[j] * m[j];
        moments_[k] = sum;
    }
    for (const auto& t : basis_.times) moments_[t[3]] += t[2] * moments_[t[0]] * moments_[t[1]];
    double energy = parameters[model_.species_offset() + type];
    for (std::size_t a = 0; a < basis_.mapping.size(); ++a) energy += parameters[a] * moments_[basis_.mapping[a]];
    return energy;
}

void SiteKernel::reverse_contractions() {
    for (auto t = basis_.times.rbegin(); t != basis_.times.rend(); ++t) {
        const double target = (*t)[2] * adjoint_[(*t)[3]];
        adjoint_[(*t)[0]] += target * moments_[(*t)[1]];
        adjoint_[(*t)[1]] += target * moments_[(*t)[0]];
    }
}

// sum_k adjoint_k d(basic moment k)/d(vector to j), for every neighbour j: the basic moments
// of one monomial are summed over mu first (weight_ of f, weight_derivative_ of df).
LOTF_WIDE void SiteKernel::vector_gradient(Vec3* out) {
    const int n = count_, nm = static_cast<int>(monomials_.size());
    weight_.resize(nm * n), weight_derivative_.resize(nm * n);
    for (int m : used_) {
        std::fill(row(weight_, m), row(weight_, m) + n, 0.0);
        std::fill(row(weight_derivative_, m), row(weight_derivative_, m) + n, 0.0);
    }
    for (int k = 0; k < static_cast<int>(basis_.basic.size()); ++k) {
        const double a = adjoint_[k];
        if (a == 0.0) continue;
        const double *f = row(f_, basis_.basic[k][0]), *df = row(df_, basis_.basic[k][0]);
        double *w = row(weight_, basic_monomial_[k]), *wd = row(weight_derivative_, basic_monomial_[k]);
        for (int j = 0; j < n; ++j) w[j] += a * f[j], wd[j] += a * df[j];
    }
    along_.assign(4 * n, 0.0);  // [0]: along the unit vector, [1..3]: x, y, z
    double* along = along_.data();
    for (int m : used_) {
        const Monomial& mono = monomials_[m];
        const int degree = mono.powers[0] + mono.powers[1] + mono.powers[2];
        const double *value = row(monomial_, m), *w = row(weight_, m), *wd = row(weight_derivative_, m);
        for (int j = 0; j < n; ++j) along[j] += value[j] * (wd[j] - degree * w[j] * inverse_r_[j]);
        for (int e = 0; e < 3; ++e) {
            if (mono.lower[e] < 0) continue;
            const double* lower = row(monomial_, mono.lower[e]);
            double* out_e = along + (e + 1) * n;
            const double power = mono.powers[e];
            for (int j = 0; j < n; ++j) out_e[j] += power * lower[j] * w[j] * inverse_r_[j];
        }
    }
    for (int j = 0; j < n; ++j)
        for (int e = 0; e < 3; ++e) out[j][e] = along[j] * unit_[e * n + j] + along[(e + 1) * n + j];
}

void SiteKernel::energy_adjoint() {
    if (energy_adjoint_) return;
    std::fill(adjoint_.begin(), adjoint_.end(), 0.0);
    const double* parameters = model_.parameters().data();
    for (std::size_t a = 0; a < basis_.mapping.size(); ++a) adjoint_[basis_.mapping[a]] += parameters[a];
    reverse_contractions();
    energy_adjoint_ = true;
}

LOTF_WIDE void SiteKernel::energy_gradient(Vec3* out) {
    energy_adjoint();
    vector_gradient(out);
}

LOTF_WIDE void SiteKernel::scalar_gradient(int scalar, Vec3* out) {
    energy_adjoint_ = false;
    std::fill(adjoint_.begin(), adjoint_.end(), 0.0);
    adjoint_[basis_.mapping[scalar]] = 1.0;
    reverse_contractions();
    vector_gradient(out);
}

LOTF_WIDE void SiteKernel::add_radial(double* gradient, bool with_dq) {
    const int nb = basis_.radial_basis_size, nf = basis_.radial_funcs_count, n = count_;
    for (int j = 0; j < n; ++j) {
        double* c = gradient + model_.radial_index(type_, types_[j]);
        for (int mu = 0; mu < nf; ++mu) {
            const double s = per_q_[mu * n + j], t = with_dq ? per_dq_[mu * n + j] : 0.0;
            for (int b = 0; b < nb; ++b) c[mu * nb + b] += s * q_[b * n + j] + t * dq_[b * n + j];
        }
    }
}

LOTF_WIDE void SiteKernel::add_parameter_gradient(double* row_out) {
    for (std::size_t a = 0; a < basis_.mapping.size(); ++a) row_out[a] += moments_[basis_.mapping[a]];
    row_out[model_.species_offset() + type_] += 1.0;
    energy_adjoint();  // after energy_gradient (MD with a grade), already there
    const int n = count_;
    per_q_.assign(basis_.radial_funcs_count * n, 0.0);
    for (int k = 0; k < static_cast<int>(basis_.basic.size()); ++k) {
        const double a = adjoint_[k];
        const double* m = row(monomial_, basic_monomial_[k]);
        double* s = row(per_q_, basis_.basic[k][0]);
        for (int j = 0; j < n; ++j) s[j] += a * m[j];
    }
    add_radial(row_out, false);
}

LOTF_WIDE void SiteKernel::add_loss_gradient(double lambda, const Vec3* directions, double* gradient) {
    const int n = count_, nbasic = static_cast<int>(basis_.basic.size());
    const double* parameters = model_.parameters().data();
    // forward tangent: d/d(epsilon) with neighbour vectors r_j + epsilon * directions_j
    delta_.resize(3 * n), rate_.resize(n);
    for (int j = 0; j < n; ++j) {
        rate_[j] = 0.0;
        for (int e = 0; e < 3; ++e) {
            delta_[e * n + j] = directions[j][e];
            rate_[j] += directions[j][e] * unit_[e * n + j];  // d|r|/d(epsilon)
        }
    }
    // monomial_rate_ [m][j]: r_j * d(monomial)/d(epsilon)
    monomial_rate_.resize(monomials_.size() * n);
    for (int m : used_) {
        const Monomial& mono = monomials_[m];
        const int degree = mono.powers[0] + mono.powers[1] + mono.powers[2];
        const double* value = row(monomial_, m);
        double* out = row(monomial_rate_, m);
        for (int j = 0; j < n; ++j) out[j] = -degree * value[j] * rate_[j];
        for (int e = 0; e < 3; ++e) {
            if (mono.lower[e] < 0) continue;
            const double* lower = row(monomial_, mono.lower[e]);
            const double power = mono.powers[e];
            for (int j = 0; j < n; ++j) out[j] += power * lower[j] * delta_[e * n + j];
        }
    }
    std::fill(tangent_.begin(), tangent_.end(), 0.0);
    for (int k = 0; k < nbasic; ++k) {
        const double *f = row(f_, basis_.basic[k][0]), *df = row(df_, basis_.basic[k][0]);
        const double *m = row(monomial_, basic_monomial_[k]), *dm = row(monomial_rate_, basic_monomial_[k]);
        double sum = 0.0;
        for (int j = 0; j < n; ++j) sum += df[j] * rate_[j] * m[j] + f[j] * dm[j] * inverse_r_[j];
        tangent_[k] = sum;
    }
    for (const auto& t : basis_.times)
        tangent_[t[3]] += t[2] * (tangent_[t[0]] * moments_[t[1]] + moments_[t[0]] * tangent_[t[1]]);
    // reverse: adjoint_ of the values, tangent_adjoint_ of the tangents
    energy_adjoint_ = false;
    std::fill(adjoint_.begin(), adjoint_.end(), 0.0);
    std::fill(tangent_adjoint_.begin(), tangent_adjoint_.end(), 0.0);
    for (std::size_t a = 0; a < basis_.mapping.size(); ++a) {
        const int m = basis_.mapping[a];
        gradient[a] += lambda * moments_[m] + tangent_[m];
        adjoint_[m] += lambda * parameters[a];
        tangent_adjoint_[m] += parameters[a];
    }
    gradient[model_.species_offset() + type_] += lambda;
    for (auto t = basis_.times.rbegin(); t != basis_.times.rend(); ++t) {
        const int first = (*t)[0], second = (*t)[1], target = (*t)[3];
        const double value = (*t)[2] * adjoint_[target], rate = (*t)[2] * tangent_adjoint_[target];
        adjoint_[first] += value * moments_[second] + rate * tangent_[second];
        adjoint_[second] += value * moments_[first] + rate * tangent_[first];
        tangent_adjoint_[first] += rate * moments_[second];
        tangent_adjoint_[second] += rate * moments_[first];
    }
    const int nf = basis_.radial_funcs_count;
    per_q_.assign(nf * n, 0.0), per_dq_.assign(nf * n, 0.0);
    for (int k = 0; k < nbasic; ++k) {
        const double a = adjoint_[k], ta = tangent_adjoint_[k];
        const double *m = row(monomial_, basic_monomial_[k]), *dm = row(monomial_rate_, basic_monomial_[k]);
        double *s = row(per_q_, basis_.basic[k][0]), *t = row(per_dq_, basis_.basic[k][0]);
        for (int j = 0; j < n; ++j) {
            s[j] += a * m[j] + ta * dm[j] * inverse_r_[j];
            t[j] += ta * m[j] * rate_[j];
        }
    }
    add_radial(gradient, true);
}

}  // namespace lotf::mtp
