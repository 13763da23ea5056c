// Sums over samples that come out bit-identical whatever the number of OpenMP threads.
#pragma once

#include <algorithm>
#include <cstddef>

namespace lotf::mtp {

// Samples are summed in fixed blocks (each block in order, then the blocks in order), so a
// sum over samples does not depend on how many threads shared the blocks.
inline int block_count(std::size_t samples) { return static_cast<int>(std::min<std::size_t>(16, samples)); }
inline std::size_t block_start(int block, int blocks, std::size_t samples) { return samples * block / blocks; }

}  // namespace lotf::mtp
