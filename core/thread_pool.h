// A fixed team of threads that splits work over index ranges: the rows of a
// batch, a layer's output channels. The calling thread takes a share, so a
// pool of n threads starts n - 1 workers; a pool of 1 starts none and runs
// everything on the caller's thread. Owned by whoever trains (the Trainer,
// `pcplay bench`) and lent to a model (Model::set_thread_pool): no globals.
//
// The layers split only work whose every output element is computed the same
// way wherever the range is cut (samples, elements; rows of a product, cut at
// multiples of the product kernel's row panel), so results do not depend on
// the number of threads, bit for bit.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor.h"

namespace pcplay {

// A borrowed reference to a callable fn(part, begin, end): unlike
// std::function it never allocates, so a layer's inner loop can call the pool
// as often as it likes.
class PartFn {
 public:
  template <typename Fn>
  PartFn(const Fn& fn)  // NOLINT: converts implicitly, as std::function does
      : fn_(&fn), call_([](const void* f, int part, Index begin, Index end) {
          (*static_cast<const Fn*>(f))(part, begin, end);
        }) {}
  void operator()(int part, Index begin, Index end) const { call_(fn_, part, begin, end); }

 private:
  const void* fn_;
  void (*call_)(const void*, int, Index, Index);
};

// A team of threads its owner already runs, for a pool to run its parts on
// instead of threads of its own: the Python module lends OpenMP's, the team
// torch computes with, so that the two do not compete for the cores.
struct ExternalTeam {
  int threads = 1;
  // Calls part(context, p) once for every p in [0, parts), in parallel, and
  // returns when all have returned (part never throws).
  void (*run)(int parts, void (*part)(void* context, int p), void* context) = nullptr;
};

class ThreadPool {
 public:
  // threads: 1 or more (0: one per hardware thread); fewer where the
  // platform gives no more (a WebAssembly build without threads: 1).
  explicit ThreadPool(int threads = 0);
  // Parts run on `team`; the pool starts no threads.
  explicit ThreadPool(ExternalTeam team);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return team_.run ? team_.threads : static_cast<int>(workers_.size()) + 1; }

  // Calls fn(part, begin, end) on contiguous parts of [0, count) of at
  // least `min_part` indices each (small ranges stay on the caller's thread),
  // each part but the last a multiple of `align` long, in parallel, and
  // returns when all are done. Parts are numbered from 0 (the caller's) to
  // below size(), so that they can index per-thread scratch. The first
  // exception thrown by a part is rethrown here. A call made while parts
  // run (from inside one: a share of a batch relaxing on its own thread
  // calls its layers, which call the pool) runs all of [0, count) there, as
  // part 0, on the thread that made it.
  void parallel_for(Index count, Index min_part, PartFn fn, Index align = 1);

 private:
  void work(int worker);
  void run_on_team(Index count, Index align, int parts, const PartFn& fn);

  ExternalTeam team_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const PartFn* job_ = nullptr;
  Index count_ = 0, align_ = 1;
  int parts_ = 0;
  // Written under mutex_; atomic so that a thread can watch them without it
  // for a moment before it sleeps (a wake-up from the condition variable
  // takes tens of microseconds on a virtual machine, and an inference
  // iteration of the paper's MNIST net makes about 25 parallel_for calls in
  // 4 ms).
  std::atomic<uint64_t> generation_{0};  // one per parallel_for
  std::atomic<int> pending_{0};          // parts not yet finished
  std::exception_ptr error_;
  bool quit_ = false;
  std::atomic<bool> running_{false};  // parts of a parallel_for are running
};

// Eigen's product kernel takes the rows of its result in panels of this many
// (and the rows left over at the end by narrower kernels): a product cut into
// row parts at multiples of it computes every element as the whole product
// would, so the parts may go to any number of threads. (A multiple of the
// SIMD packet: a part's first row is as aligned as the whole's.)
template <typename T>
constexpr Index kPanelRows = Eigen::internal::gebp_traits<T, T>::mr;

// Parts of a batch worth a thread of their own hold at least this many values.
constexpr Index kMinValuesPerPart = 16384;

// The fewest rows of `row_size` values a part should have (element-wise work).
inline Index min_rows(Index row_size) { return std::max<Index>(1, kMinValuesPerPart / std::max<Index>(1, row_size)); }

// ThreadPool::parallel_for on `pool`, or on the caller's thread (as part 0)
// when there is none: fn(part, begin, end).
template <typename Fn>
void parallel_parts(ThreadPool* pool, Index count, Index min_part, const Fn& fn, Index align = 1) {
  if (pool && pool->size() > 1 && count >= 2 * std::max(min_part, align))
    pool->parallel_for(count, min_part, PartFn(fn), align);
  else if (count > 0)
    fn(0, Index(0), count);
}

// The same for work that needs no scratch of its own: fn(begin, end).
template <typename Fn>
void parallel_for(ThreadPool* pool, Index count, Index min_part, const Fn& fn, Index align = 1) {
  parallel_parts(pool, count, min_part, [&fn](int, Index begin, Index end) { fn(begin, end); }, align);
}

}  // namespace pcplay
