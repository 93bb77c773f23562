// The thread pool the layers split their work with.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "thread_pool.h"

using namespace pcplay;

TEST_CASE("the pool covers every index once, in parts aligned as asked, and rethrows a part's exception") {
  ThreadPool pool(3);
  CHECK(pool.size() >= 1);
  CHECK(pool.size() <= 3);  // 1 where there are no threads (single-threaded wasm)
  for (Index count : {0, 1, 5, 47, 48, 49, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
    std::atomic<int> parts{0}, misaligned{0};
    parallel_for(&pool, count, 1, [&](Index begin, Index end) {
      ++parts;
      if (begin % 12 != 0) ++misaligned;
      for (Index i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
    }, 12);
    for (const auto& h : hits) CHECK(h == 1);
    CHECK(misaligned == 0);
    CHECK(parts <= pool.size());
  }
  CHECK_THROWS_WITH_AS(parallel_for(&pool, 100, 1, [](Index, Index end) {  // the last part: a worker's, if any
    if (end == 100) throw std::runtime_error("part failed");
  }), "part failed", std::runtime_error);
  std::atomic<int> calls{0};  // still usable after an exception; no pool: one call on the caller's thread
  parallel_for(&pool, 10, 1, [&](Index, Index) { ++calls; });
  parallel_for(nullptr, 10, 1, [&](Index b, Index e) { CHECK((b == 0 && e == 10)); });
  CHECK(calls >= 1);
}
