// The relaxations' element-wise pass over one layer's values, with the row
// sums their measures are made of (energy, the step's size, divergence).
#pragma once

#include "tensor.h"
#include "thread_pool.h"

namespace pcplay {

// What updating one value adds to its row's sums: the error (Σ error²), the
// step direction (Σ step²) and the value after the update (finite or not).
template <typename T>
struct ValueUpdate {
  T error, step, updated;
};

// For each row r of a layer of B rows of n values, rows in parallel: calls
// update(k) for its values k = r·n + i, i = 0..n−1 in order, then writes the
// row's Σ error², Σ step² and whether every updated value is finite into
// row_sq[r], row_step_sq[r] and row_finite[r]. Each sum is kept in kLanes partial sums, added up in a
// fixed order at the row's end: one running sum is a chain of dependent
// additions that no compiler may split into SIMD lanes, and it took a fifth
// of a FixedPred step. A row's sums do not depend on how the rows are split.
template <typename T, typename Update>
void update_rows(ThreadPool* pool, Index B, Index n, double* row_sq, double* row_step_sq, char* row_finite,
                 const Update& update) {
  constexpr Index kLanes = 16;
  parallel_for(pool, B, min_rows(n), [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      // finite stays 0 unless some updated − updated is NaN (it is Inf or NaN)
      T sq[kLanes] = {}, step_sq[kLanes] = {}, finite[kLanes] = {};
      auto add = [&](Index i, Index lane) {
        const ValueUpdate<T> u = update(r * n + i);
        sq[lane] += u.error * u.error;
        step_sq[lane] += u.step * u.step;
        finite[lane] += u.updated - u.updated;
      };
      Index i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (Index lane = 0; lane < kLanes; ++lane) add(i + lane, lane);
      for (Index lane = 0; i < n; ++i, ++lane) add(i, lane);
      T sq_sum = 0, step_sum = 0, finite_sum = 0;
      for (Index lane = 0; lane < kLanes; ++lane) {
        sq_sum += sq[lane];
        step_sum += step_sq[lane];
        finite_sum += finite[lane];
      }
      row_sq[r] = static_cast<double>(sq_sum);
      row_step_sq[r] = static_cast<double>(step_sum);
      row_finite[r] = finite_sum == 0;
    }
  });
}

}  // namespace pcplay
