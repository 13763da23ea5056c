// pair_style mtp: lotf's MTP core inside LAMMPS, on a full neighbour list with ghost atoms
// (newton pair on: ghost forces go back to their owners by reverse communication).
#pragma once

#include <memory>
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

  private:
    std::unique_ptr<lotf::mtp::Model> model_;
    std::vector<int> species_;  // MTP species of each LAMMPS type (1-based types)
    double cutoff_ = 0.0;
};

}  // namespace LAMMPS_NS
