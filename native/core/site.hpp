// One atomic environment: moments, site energy and every derivative lotf needs of it.
#pragma once

#include <array>
#include <vector>

#include "model.hpp"

// The per-neighbour loops get an AVX2 clone, chosen when the library loads on a CPU that has
// it, and the SSE2 code elsewhere. Their results are identical: the loops only get wider (sums
// keep their order) and floating-point contraction into FMA is off (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define LOTF_WIDE __attribute__((target_clones("avx2", "default")))
#else
#define LOTF_WIDE
#endif

namespace lotf::mtp {

using Vec3 = std::array<double, 3>;

// Evaluates one site at a time; `energy` must come first, the other methods reuse its state.
// Per-neighbour quantities are stored neighbour-last so the loops over neighbours vectorise,
// and each monomial of the unit vector is computed once for all radial functions.
class SiteKernel {
  public:
    explicit SiteKernel(const Model& model);

    // Site energy of a centre of type `type` with `count` neighbours (types, vectors to them).
    double energy(int type, int count, const int* types, const Vec3* vectors);
    // d(site energy)/d(vector to neighbour j), for every neighbour.
    void energy_gradient(Vec3* out);
    // d(site energy)/d(parameters), added into `row` (the grade's basis row).
    void add_parameter_gradient(double* row);
    // d/d(parameters) of lambda * E + sum_j dE/dr_j . directions_j, added into `gradient`: the
    // loss gradient's contribution from this site (reverse mode over a forward tangent).
    void add_loss_gradient(double lambda, const Vec3* directions, double* gradient);
    // d(scalar moment `scalar`)/d(vector to neighbour j), for every neighbour.
    void scalar_gradient(int scalar, Vec3* out);
    // Value of scalar moment `scalar` (a basis function) at the last site.
    double scalar(int scalar) const { return moments_[basis_.mapping[scalar]]; }

  private:
    double* row(std::vector<double>& a, int index) { return a.data() + static_cast<std::size_t>(index) * count_; }
    void reverse_contractions();
    // adjoint_ := d(site energy)/d(moments), unless it already is for this site
    void energy_adjoint();
    void vector_gradient(Vec3* out);
    // d(radial coefficient)-sums over neighbours: per_q[mu][j] * q + per_dq[mu][j] * dq.
    void add_radial(double* gradient, bool with_dq);

    const Model& model_;
    const Basis& basis_;
    const std::vector<Monomial>& monomials_;
    const std::vector<int>& basic_monomial_;  // monomial of each basic moment
    const std::vector<int>& used_;            // monomials that basic moments use
    int type_ = 0, count_ = 0;
    bool energy_adjoint_ = false;  // adjoint_ holds the site energy's (energy_gradient, forces
                                   // and basis rows of one site share the reverse pass)
    const int* types_ = nullptr;
    std::vector<double> inverse_r_, unit_, q_, dq_, f_, df_, monomial_;
    std::vector<double> weight_, weight_derivative_, along_, delta_, rate_, monomial_rate_;
    std::vector<double> per_q_, per_dq_;
    std::vector<double> moments_, adjoint_, tangent_, tangent_adjoint_;
};

}  // namespace lotf::mtp
