// MLIP-2 .mtp files read in C++ (for the LAMMPS plugin; Python has lotf.potential.mtp_file).
#pragma once

#include <string>

#include "model.hpp"

namespace lotf::mtp {

// A trained MTP from an .mtp file; std::runtime_error names the file and what is wrong.
Model read_mtp_file(const std::string& path);

}  // namespace lotf::mtp
