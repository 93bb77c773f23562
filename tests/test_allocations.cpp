// The relaxation's inner loop allocates nothing once its buffers are sized:
// malloc itself is counted (Eigen and the standard library both end there),
// on every thread, while a relaxation runs.
//
// Counting replaces glibc's malloc family in this executable, which the
// sanitizers' own allocators and wasm's exclude: there the test only says so.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>

#include "helpers.h"
#include "model_file.h"
#include "pc_infer.h"
#include "thread_pool.h"

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(__EMSCRIPTEN__)
#define PCPLAY_COUNT_MALLOC 1
#endif

#ifdef PCPLAY_COUNT_MALLOC
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

inline void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t k, size_t n) {
  count();
  return __libc_calloc(k, n);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  count();
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12;  // ENOMEM
}
}
#endif

using namespace pcplay;
using namespace pcplay::test;

#ifdef PCPLAY_COUNT_MALLOC
namespace {

// Allocations made by `fn` on any thread.
template <typename Fn>
long allocations_in(Fn fn) {
  allocations = 0;
  counting = true;
  fn();
  counting = false;
  return allocations.load();
}

}  // namespace
#endif

TEST_CASE("a relaxation allocates nothing once its buffers are sized (every error type, conv and dense, threads)") {
#ifndef PCPLAY_COUNT_MALLOC
  MESSAGE("malloc is not counted in this build (sanitizers or wasm)");
#else
  CHECK(allocations_in([] { std::free(std::malloc(64)); }) == 1);  // the counter sees malloc
  ThreadPool pool(2);
  for (const char* name : {"paper-mnist", "mlp-mnist"}) {
    Model<float> model(model_preset(name));
    model.init(3);
    model.set_thread_pool(&pool);
    Rng rng(4);
    const Tensor<float> X = random_tensor<float>(batch_shape(24, model.input_shape()), rng, 0, 1);
    const Targets<float> Y = random_targets<float>(model.loss(), 24, 10, rng);
    const auto adam = make_optimizer<float>(OptimizerConfig{});  // iPC's updates, inside its relaxation
    for (const Named<ErrType>& named : err_types()) {
      const ErrType err = named.value;
      CAPTURE(name);
      CAPTURE(named.name);
      PCInference<float> inference(model, err, 0.1f, learns_while_relaxing(err) ? adam.get() : nullptr);
      inference.set_tolerance(0.01);  // the stopping rule's measure is taken each iteration too
      auto relaxation = [&] { inference.run(X, Y, 3); };
      relaxation();  // sizes every buffer
      CHECK(allocations_in(relaxation) == 0);
    }
  }
#endif
}
