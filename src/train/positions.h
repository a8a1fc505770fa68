// Position ids for training sequences: PoSE (positional skip-wise training, Zhu et al. 2023,
// arXiv 2309.10400) and positions restarting at each document.
#pragma once
#include <cstdint>

namespace longctx::train {

// PoSE: a window of T tokens is cut into `chunks` contiguous chunks at cut points drawn
// uniformly (distinct, in [1, T-1]); chunk i is shifted by a skip u_i, with u_0 = 0 and
// u_1 <= ... <= u_{chunks-1} drawn uniformly from [0, target - T] and sorted. Positions
// therefore increase strictly, stay inside [0, target), and relative distances up to
// target - 1 occur while only T tokens are computed. Deterministic in `seed`.
// positions (T).
void pose_positions(int32_t* positions, int64_t T, int64_t target, int64_t chunks, uint64_t seed);

// positions (T)[t] = t - (first index of t's document); segment_ids (T) as the sampler gives
// them (documents numbered in order, -1 on padding, where the position continues).
void document_positions(int32_t* positions, const int32_t* segment_ids, int64_t T);

}  // namespace longctx::train
