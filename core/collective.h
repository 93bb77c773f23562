// The processes one training run is shared among (MPI ranks), as one of them
// sees them. Predictive coding parallelises over data: each sample relaxes on
// its own, so each process takes a contiguous share of every batch, and only
// sums cross between them: the parameter gradients, the loss, and the
// per-iteration measures (Σ eps², the step) that the energy, the stopping
// rule and the divergence checks are made of. core/ knows only this
// interface; native/mpi_job.cpp implements it with MPI. A run without one
// (nullptr) is one process.
//
// The losses are means over the whole (global) batch: a share's loss is its
// samples' part of that mean (Targets::batch_total), so that each sample's
// relaxation is exactly what it is in one process and summing the shares'
// losses and gradients gives the global ones; only the order of the final
// sums differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"
#include "tensor.h"

namespace pcplay {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;  // 0 .. size() − 1
  virtual int size() const = 0;
  // Replaces each of the `count` values with its sum over the processes (the
  // same result on every one). Every process calls it at the same point;
  // `what` names that point for the message when a process never arrives.
  virtual void sum(double* values, size_t count, const char* what) = 0;
  virtual void sum(float* values, size_t count, const char* what) = 0;
  // Whether every process holds the same `value` (a fingerprint of what
  // must agree), the same answer on every one.
  virtual bool all_equal(uint64_t value, const char* what) = 0;
};

// Whether this process is the one that prints and writes files (rank 0, or
// the only one).
inline bool leads(const Collective* c) { return !c || c->rank() == 0; }

// [begin, end) of `total` items that process `rank` of `size` takes:
// contiguous shares in rank order that differ by at most one item.
struct Share {
  Index begin = 0, end = 0;
  Index count() const { return end - begin; }
};
Share share_of(Index total, int rank, int size);
inline Share share_of(Index total, const Collective* c) { return c ? share_of(total, c->rank(), c->size()) : Share{0, total}; }

// Every parameter gradient of `params` summed over the processes, packed into
// one message (`scratch` keeps its buffer). Nothing without a collective.
template <typename T>
void sum_gradients(Collective* c, const std::vector<NamedParam<T>>& params, std::vector<T>& scratch);

}  // namespace pcplay
