#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <system_error>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pcplay {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  } catch (const std::system_error&) {
    // No more threads to be had (a build without them): work with those there are.
  }
}

ThreadPool::ThreadPool(ExternalTeam team) : team_(team) {
  if (!team_.run || team_.threads < 1) throw std::invalid_argument("ThreadPool: an external team needs run and threads >= 1");
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  start_.notify_all();
  for (std::thread& t : workers_) t.join();
}

namespace {

// Spins while `busy()` for up to 100 µs before the caller sleeps instead.
// Not in the browser: there the page's own threads and its renderer share
// the cores with the pool (spinning halved the threaded page's training
// speed), and each clock reading is a call into JavaScript.
template <typename Busy>
void spin_while([[maybe_unused]] Busy busy) {
#ifndef __EMSCRIPTEN__
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
  for (int i = 0; busy(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return;
  }
#endif
}

// Part p of `parts`: units [U·p/parts, U·(p+1)/parts) of `align` indices each,
// U = ⌈count/align⌉. The caller takes part 0, worker i part i.
std::pair<Index, Index> part_range(Index count, Index align, int parts, int p) {
  const Index units = (count + align - 1) / align;
  const Index begin = units * p / parts * align, end = units * (p + 1) / parts * align;
  return {std::min(begin, count), std::min(end, count)};
}

}  // namespace

void ThreadPool::parallel_for(Index count, Index min_part, PartFn fn, Index align) {
  align = std::max<Index>(1, align);
  const Index units = (count + align - 1) / align;
  const Index most = std::min(units, std::max<Index>(1, count / std::max<Index>(1, min_part)));
  const int parts = static_cast<int>(std::min<Index>(size(), most));
  if (parts <= 1 || running_.exchange(true, std::memory_order_acq_rel)) {
    if (count > 0) fn(0, 0, count);
    return;
  }
  struct NotRunning {  // however the call ends
    std::atomic<bool>& running;
    ~NotRunning() { running.store(false, std::memory_order_release); }
  } not_running{running_};
  if (team_.run) return run_on_team(count, align, parts, fn);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    count_ = count;
    align_ = align;
    parts_ = parts;
    pending_ = parts - 1;
    error_ = nullptr;
    ++generation_;
  }
  start_.notify_all();
  try {
    const auto [begin, end] = part_range(count, align, parts, 0);
    fn(0, begin, end);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
  std::exception_ptr error;
  spin_while([&] { return pending_.load(std::memory_order_acquire) != 0; });
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

// The same parts on the external team; the first exception is kept for the caller.
void ThreadPool::run_on_team(Index count, Index align, int parts, const PartFn& fn) {
  struct Job {
    const PartFn& fn;
    Index count, align;
    int parts;
    std::mutex mutex;
    std::exception_ptr error;
  } job{fn, count, align, parts, {}, nullptr};
  team_.run(parts, [](void* context, int p) {
    Job& j = *static_cast<Job*>(context);
    try {
      const auto [begin, end] = part_range(j.count, j.align, j.parts, p);
      if (begin < end) j.fn(p, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(j.mutex);
      if (!j.error) j.error = std::current_exception();
    }
  }, &job);
  if (job.error) std::rethrow_exception(job.error);
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    const PartFn* job;
    Index count, align;
    int parts;
    spin_while([&] { return generation_.load(std::memory_order_acquire) == seen; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
      job = job_;
      count = count_;
      align = align_;
      parts = parts_;
    }
    if (index >= parts || !job) continue;  // this round needs fewer threads
    try {
      const auto [begin, end] = part_range(count, align, parts, index);
      if (begin < end) (*job)(index, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace pcplay
