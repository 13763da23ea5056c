#include "pair_mtp.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "mtp_file.hpp"
#include "neigh_list.h"
#include "neighbor.h"
#include "site.hpp"

using namespace LAMMPS_NS;

PairMTP::PairMTP(LAMMPS* lmp) : Pair(lmp) {
    single_enable = 0;
    restartinfo = 0;
    one_coeff = 1;
    manybody_flag = 1;
}

PairMTP::~PairMTP() {
    pvector = nullptr;  // extra_ owns it
    if (allocated) {
        memory->destroy(setflag);
        memory->destroy(cutsq);
    }
}

void PairMTP::settings(int narg, char** arg) {
    if (narg == 2 && std::string(arg[0]) == "grade")
        read_grade_file(arg[1]);
    else if (narg != 0)
        error->all(FLERR, "pair_style mtp takes no arguments or `grade FILE` (the potential goes to pair_coeff)");
}

// "lotf-grade neighbourhood|configuration ROWS COLUMNS" then ROWS * COLUMNS numbers, row-major.
void PairMTP::read_grade_file(const std::string& path) {
    std::ifstream file(path);
    std::string magic, mode;
    long rows = 0;
    if (!(file >> magic >> mode >> rows >> grade_columns_) || magic != "lotf-grade")
        error->all(FLERR, "{} is not a lotf grade file", path);
    configuration_grade_ = mode == "configuration";
    grade_matrix_.resize(rows * grade_columns_);
    for (double& value : grade_matrix_)
        if (!(file >> value)) error->all(FLERR, "{} ends early", path);
    nextra = 1;
    pvector = extra_.data();
}

LOTF_WIDE double PairMTP::grade(const std::vector<double>& row) const {  // an axpy per parameter: AVX2 where there is one
    double worst = 0.0;
    const std::size_t rows = row.size();
    std::vector<double> projected(grade_columns_, 0.0);
    for (std::size_t p = 0; p < rows; ++p) {
        if (row[p] == 0.0) continue;
        const double* m = &grade_matrix_[p * grade_columns_];
        for (int c = 0; c < grade_columns_; ++c) projected[c] += row[p] * m[c];
    }
    for (double value : projected) {
        if (!std::isfinite(value)) return HUGE_VAL;  // an exploded environment extrapolates
        worst = std::max(worst, std::abs(value));
    }
    return worst;
}

void PairMTP::coeff(int narg, char** arg) {
    const int ntypes = atom->ntypes;
    if (narg != 3 + ntypes)
        error->all(FLERR, "pair_coeff * * file.mtp needs one MTP species index per atom type ({} types)", ntypes);
    if (std::string(arg[0]) != "*" || std::string(arg[1]) != "*")
        error->all(FLERR, "pair_coeff for mtp must be * * file.mtp species...");
    try {
        model_ = std::make_unique<lotf::mtp::Model>(lotf::mtp::read_mtp_file(arg[2]));
    } catch (const std::exception& e) {
        error->all(FLERR, e.what());
    }
    if (!allocated) {
        allocated = 1;
        memory->create(setflag, ntypes + 1, ntypes + 1, "pair:setflag");
        memory->create(cutsq, ntypes + 1, ntypes + 1, "pair:cutsq");
    }
    species_.assign(ntypes + 1, -1);
    for (int t = 1; t <= ntypes; ++t) {
        const int s = utils::inumeric(FLERR, arg[2 + t], false, lmp);
        if (s < 0 || s >= model_->basis().species_count)
            error->all(FLERR, "pair_coeff mtp: species index {} of type {} is not in the potential's 0..{}", s, t,
                       model_->basis().species_count - 1);
        species_[t] = s;
    }
    cutoff_ = model_->basis().max_dist;
    if (!grade_matrix_.empty() && grade_matrix_.size() != model_->parameter_count() * grade_columns_)
        error->all(FLERR, "the grade file has {} rows; the potential has {} parameters",
                   grade_matrix_.size() / grade_columns_, model_->parameter_count());
    for (int i = 1; i <= ntypes; ++i)
        for (int j = 1; j <= ntypes; ++j) setflag[i][j] = 1;
}

void PairMTP::init_style() {
    if (!model_) error->all(FLERR, "pair_style mtp needs pair_coeff * * file.mtp ...");
    if (force->newton_pair == 0) error->all(FLERR, "pair_style mtp requires newton pair on");
    neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairMTP::init_one(int /*i*/, int /*j*/) { return cutoff_; }

void* PairMTP::extract(const char* name, int& dim) {
    dim = 0;
    if (std::string(name) == "energy") return &energy_;
    if (std::string(name) == "grade" && !grade_matrix_.empty()) return &extra_[0];
    return nullptr;
}

void PairMTP::compute(int eflag, int vflag) {
    ev_init(eflag, vflag);
    double** x = atom->x;
    double** f = atom->f;
    const int* type = atom->type;
    const double cutoff2 = cutoff_ * cutoff_;
    lotf::mtp::SiteKernel kernel(*model_);
    std::vector<lotf::mtp::Vec3> vectors, gradient;
    std::vector<int> types, atoms;
    const bool grading = !grade_matrix_.empty();
    std::vector<double> row, total(grading && configuration_grade_ ? model_->parameter_count() : 0, 0.0);
    double worst = 0.0, local_energy = 0.0;
    for (int ii = 0; ii < list->inum; ++ii) {
        const int i = list->ilist[ii];
        vectors.clear(), types.clear(), atoms.clear();
        for (int jj = 0; jj < list->numneigh[i]; ++jj) {
            const int j = list->firstneigh[i][jj] & NEIGHMASK;
            const lotf::mtp::Vec3 d{x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]};
            if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= cutoff2) continue;
            vectors.push_back(d), types.push_back(species_[type[j]]), atoms.push_back(j);
        }
        const int count = static_cast<int>(vectors.size());
        const double energy = kernel.energy(species_[type[i]], count, types.data(), vectors.data());
        gradient.resize(count);
        kernel.energy_gradient(gradient.data());
        for (int n = 0; n < count; ++n) {
            const int j = atoms[n];
            const lotf::mtp::Vec3& g = gradient[n];
            for (int a = 0; a < 3; ++a) f[j][a] -= g[a], f[i][a] += g[a];
            // per-atom virial: each pair term of the site, half to i and half to j
            if (vflag_atom)
                ev_tally_xyz(i, j, atom->nlocal, force->newton_pair, 0.0, 0.0, g[0], g[1], g[2],
                             -vectors[n][0], -vectors[n][1], -vectors[n][2]);
        }
        local_energy += energy;
        if (eflag_global) eng_vdwl += energy;
        if (eflag_atom) eatom[i] += energy;
        if (grading) {
            row.assign(model_->parameter_count(), 0.0);
            kernel.add_parameter_gradient(row.data());
            if (configuration_grade_)
                for (std::size_t p = 0; p < row.size(); ++p) total[p] += row[p];
            else
                worst = std::max(worst, grade(row));
        }
    }
    if (vflag_fdotr) virial_fdotr_compute();
    MPI_Allreduce(&local_energy, &energy_, 1, MPI_DOUBLE, MPI_SUM, world);
    if (grading) {
        if (configuration_grade_) {
            std::vector<double> sum(total.size());
            MPI_Allreduce(total.data(), sum.data(), static_cast<int>(total.size()), MPI_DOUBLE, MPI_SUM, world);
            extra_[0] = grade(sum) / static_cast<double>(atom->natoms);  // the grade of the atoms' mean row
        } else {
            MPI_Allreduce(&worst, &extra_[0], 1, MPI_DOUBLE, MPI_MAX, world);
        }
    }
}
