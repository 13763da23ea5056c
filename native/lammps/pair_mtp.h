// pair_style mtp [grade FILE]: lotf's MTP core inside LAMMPS, on a full neighbour list with
// ghost atoms (newton pair on: ghost forces go back to their owners by reverse communication).
// With `grade`, the extrapolation grade of the active set in FILE (written by lotf) is the
// pair's extra quantity 1, the maximum over atoms (or of the configuration): `compute g all
// pair mtp`, then `fix halt` on c_g[1] stops a run that extrapolates. The configuration's
// energy and grade at the last force call are also `extract`able ("energy", "grade"; reduced
// over ranks every step), so a library caller reads them every step without a compute.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pair.h"

namespace lotf::mtp {
class Model;
}

namespace LAMMPS_NS {

class PairMTP : public Pair {
  public:
    explicit PairMTP(LAMMPS* lmp);
    ~PairMTP() override;

    void compute(int eflag, int vflag) override;
    void settings(int narg, char** arg) override;
    // pair_coeff * * pot.mtp s1 s2 ...: the MTP file and the MTP species of each atom type
    void coeff(int narg, char** arg) override;
    void init_style() override;
    double init_one(int i, int j) override;
    void* extract(const char* name, int& dim) override;

  private:
    void read_grade_file(const std::string& path);
    double grade(const std::vector<double>& row) const;

    std::unique_ptr<lotf::mtp::Model> model_;
    std::vector<double> grade_matrix_;  // (parameters, k): projection @ inverse of the active set
    int grade_columns_ = 0;
    bool configuration_grade_ = false;
    std::vector<double> extra_{0.0};
    double energy_ = 0.0;  // the configuration's energy at the last force call
    std::vector<int> species_;  // MTP species of each LAMMPS type (1-based types)
    double cutoff_ = 0.0;
};

}  // namespace LAMMPS_NS
