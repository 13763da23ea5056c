#include "model.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

namespace lotf::mtp {

namespace {

// Every index in range, and every moment finished before it is used as a factor, so one
// forward sweep over `times` evaluates all contractions.
void check(const Basis& b) {
    auto fail = [](const std::string& what) { throw std::invalid_argument("MTP basis: " + what); };
    if (b.species_count < 1 || b.radial_basis_size < 2 || b.radial_funcs_count < 1)
        fail("species_count, radial_basis_size (>= 2) and radial_funcs_count must be positive");
    if (!(b.min_dist < b.max_dist)) fail("min_dist must be below max_dist");
    if (static_cast<int>(b.basic.size()) > b.moments_count) fail("more basic moments than moments");
    for (const auto& k : b.basic)
        if (k[0] < 0 || k[0] >= b.radial_funcs_count || k[1] < 0 || k[2] < 0 || k[3] < 0)
            fail("alpha_index_basic has a radial function or power out of range");
    std::vector<int> last_written(b.moments_count, -1), first_read(b.moments_count, 1 << 30);
    for (int row = 0; row < static_cast<int>(b.times.size()); ++row) {
        const auto& t = b.times[row];
        for (int c : {0, 1, 3})
            if (t[c] < 0 || t[c] >= b.moments_count) fail("alpha_index_times index out of range");
        if (t[3] < static_cast<int>(b.basic.size())) fail("a contraction writes a basic moment");
        last_written[t[3]] = row;
        first_read[t[0]] = std::min(first_read[t[0]], row);
        first_read[t[1]] = std::min(first_read[t[1]], row);
    }
    for (int m = 0; m < b.moments_count; ++m)
        if (last_written[m] >= first_read[m]) fail("a moment is used before its contractions end");
    for (int m : b.mapping)
        if (m < 0 || m >= b.moments_count) fail("alpha_moment_mapping index out of range");
}

}  // namespace

Model::Model(Basis basis, std::vector<double> parameters) : basis_(std::move(basis)) {
    check(basis_);
    set_parameters(parameters);
    std::map<std::array<int, 3>, int> index;
    std::vector<std::array<int, 3>> pending, all{{0, 0, 0}};
    index[{0, 0, 0}] = 0;
    for (const auto& k : basis_.basic) pending.push_back({k[1], k[2], k[3]});
    while (!pending.empty()) {
        const auto p = pending.back();
        pending.pop_back();
        if (!index.emplace(p, 0).second) continue;
        all.push_back(p);
        for (int e = 0; e < 3; ++e)
            if (p[e] > 0) {
                auto lower = p;
                --lower[e];
                pending.push_back(lower);
            }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return std::make_pair(a[0] + a[1] + a[2], a) < std::make_pair(b[0] + b[1] + b[2], b);
    });
    for (int i = 0; i < static_cast<int>(all.size()); ++i) index[all[i]] = i;
    for (const auto& p : all) {
        Monomial m{p, -1, -1, {-1, -1, -1}};
        for (int e = 0; e < 3; ++e)
            if (p[e] > 0) {
                auto lower = p;
                --lower[e];
                m.lower[e] = index.at(lower);
                if (m.parent < 0) m.parent = m.lower[e], m.axis = e;
            }
        monomials_.push_back(m);
    }
    for (const auto& k : basis_.basic) basic_monomial_.push_back(index.at({k[1], k[2], k[3]}));
    used_monomials_ = basic_monomial_;
    std::sort(used_monomials_.begin(), used_monomials_.end());
    used_monomials_.erase(std::unique(used_monomials_.begin(), used_monomials_.end()), used_monomials_.end());
}

std::size_t Model::parameter_count() const {
    return radial_offset() + static_cast<std::size_t>(basis_.species_count) * basis_.species_count *
                                 basis_.radial_funcs_count * basis_.radial_basis_size;
}

void Model::set_parameters(const std::vector<double>& parameters) {
    if (parameters.size() != parameter_count())
        throw std::invalid_argument("MTP: " + std::to_string(parameters.size()) + " parameters given, " +
                                    std::to_string(parameter_count()) + " expected");
    parameters_ = parameters;
}

void radial_basis(const Basis& basis, int count, const double* inverse_r, double* values, double* derivatives) {
    const int size = basis.radial_basis_size;
    const double low = basis.min_dist, high = basis.max_dist, scale = 2.0 / (high - low);
    thread_local std::vector<double> smooth, slope;  // scaling * (high - r)^2 and its derivative
    smooth.resize(count), slope.resize(count);
    for (int j = 0; j < count; ++j) {
        const double r = 1.0 / inverse_r[j], gap = r < high ? high - r : 0.0;
        smooth[j] = basis.scaling * gap * gap, slope[j] = -2.0 * basis.scaling * gap;
        values[j] = 1.0, values[count + j] = scale * (r - low) - 1.0;  // T_0 and T_1 = x
        derivatives[j] = 0.0, derivatives[count + j] = 1.0;           // dT/dx
    }
    const double* x = values + count;
    for (int b = 2; b < size; ++b) {
        const double *t1 = values + (b - 1) * count, *t2 = values + (b - 2) * count;
        const double *d1 = derivatives + (b - 1) * count, *d2 = derivatives + (b - 2) * count;
        double *t = values + b * count, *d = derivatives + b * count;
        for (int j = 0; j < count; ++j) t[j] = 2.0 * x[j] * t1[j] - t2[j], d[j] = 2.0 * t1[j] + 2.0 * x[j] * d1[j] - d2[j];
    }
    for (int b = 0; b < size; ++b) {
        double *t = values + b * count, *d = derivatives + b * count;
        for (int j = 0; j < count; ++j) d[j] = d[j] * scale * smooth[j] + t[j] * slope[j], t[j] *= smooth[j];
    }
}

}  // namespace lotf::mtp
