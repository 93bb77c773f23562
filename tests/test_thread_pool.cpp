// The thread pool the layers split their work with.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
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

TEST_CASE("a call from inside a part runs whole on that part's thread") {
  ThreadPool pool(2);
  const Index outer = 8, inner = 1000;
  std::vector<std::atomic<int>> hits(static_cast<size_t>(outer * inner));
  std::atomic<int> wrong_thread{0}, inner_parts{0};
  parallel_for(&pool, outer, 1, [&](Index o0, Index o1) {
    const std::thread::id mine = std::this_thread::get_id();
    for (Index o = o0; o < o1; ++o)
      parallel_parts(&pool, inner, 1, [&](int part, Index b, Index e) {
        ++inner_parts;
        if (std::this_thread::get_id() != mine || part != 0 || b != 0 || e != inner) ++wrong_thread;
        for (Index i = b; i < e; ++i) ++hits[static_cast<size_t>(o * inner + i)];
      });
  });
  for (const auto& h : hits) CHECK(h == 1);
  CHECK(inner_parts == outer);
  CHECK(wrong_thread == 0);
  std::atomic<int> parts{0};  // and once the outer call is over, the pool splits again
  parallel_for(&pool, 1000, 1, [&](Index, Index) { ++parts; });
  CHECK(parts == pool.size());
}

namespace {
// A team as a caller might lend one: here its own threads, one per part
// (the parts one after another where there are no threads: wasm without them).
void run_on_threads(int parts, void (*part)(void*, int), void* context) {
  std::vector<std::thread> threads;
  for (int p = 1; p < parts; ++p) {
    try {
      threads.emplace_back(part, context, p);
    } catch (const std::system_error&) {
      part(context, p);
    }
  }
  part(context, 0);
  for (std::thread& t : threads) t.join();
}
}  // namespace

TEST_CASE("a pool on an external team cuts the same parts and rethrows a part's exception") {
  ThreadPool own(3), lent(ExternalTeam{3, run_on_threads});
  CHECK(lent.size() == 3);
  for (Index count : {0, 1, 47, 1000}) {
    std::vector<std::pair<Index, Index>> cuts[2];
    std::mutex mutex;
    ThreadPool* pools[2] = {&own, &lent};
    for (int i = 0; i < 2; ++i)
      parallel_parts(pools[i], count, 1, [&](int part, Index begin, Index end) {
        std::lock_guard<std::mutex> lock(mutex);
        CHECK(part < pools[i]->size());
        cuts[i].emplace_back(begin, end);
      }, 12);
    std::sort(cuts[0].begin(), cuts[0].end());
    std::sort(cuts[1].begin(), cuts[1].end());
    if (own.size() == 3) CHECK(cuts[0] == cuts[1]);
    Index covered = 0;
    for (const auto& [begin, end] : cuts[1]) covered += end - begin;
    CHECK(covered == count);
  }
  CHECK_THROWS_WITH_AS(parallel_for(&lent, 100, 1, [](Index, Index end) {
    if (end == 100) throw std::runtime_error("part failed");
  }), "part failed", std::runtime_error);
  CHECK_THROWS_AS(ThreadPool(ExternalTeam{0, run_on_threads}), std::invalid_argument);
}
