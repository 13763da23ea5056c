// Sums over samples that come out bit-identical whatever the number of OpenMP threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace lotf::mtp {

// Samples are summed in fixed blocks (each block in order, then the blocks in order), so a
// sum over samples does not depend on how many threads shared the blocks.
inline int block_count(std::size_t samples) { return static_cast<int>(std::min<std::size_t>(16, samples)); }
inline std::size_t block_start(int block, int blocks, std::size_t samples) { return samples * block / blocks; }

// Inside a parallel region: body(block, n) for every sample n, each thread taking whole blocks.
template <class Body>
void for_samples_in_blocks(std::size_t samples, int blocks, Body&& body) {
#pragma omp for schedule(dynamic)
    for (int block = 0; block < blocks; ++block)
        for (std::size_t n = block_start(block, blocks, samples); n < block_start(block + 1, blocks, samples); ++n)
            body(block, n);
}

// total += every block's partial sum, in block order.
inline void add_blocks(const std::vector<std::vector<double>>& partial, std::vector<double>& total) {
    for (const auto& block : partial)
        for (std::size_t p = 0; p < total.size(); ++p) total[p] += block[p];
}

}  // namespace lotf::mtp
