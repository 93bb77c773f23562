// Configure-time probe (cmake/avx512.cmake): whether this CPU's AVX-512
// multiply-adds do twice the work of its AVX2 ones per unit of time. On CPUs
// that run a 512-bit instruction as two 256-bit halves (AMD Zen 4, Intel's
// single-FMA-unit Xeons) they do not, and Eigen's 48-row AVX-512 product
// panels then cost the few-channel layers of the paper's nets more than they
// give. Prints the ratio of 512-bit to 256-bit multiply-add throughput; 0
// when the CPU has no AVX-512.
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr long kRounds = 20000000;

// Ten independent chains of multiply-adds (more than the FMA latency times
// the units), so that throughput, not latency, bounds the loop.
__attribute__((target("avx2,fma"), noinline)) double fma256(float seed) {
  __m256 a[10];
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 10; ++i) a[i] = _mm256_set1_ps(seed + static_cast<float>(i));
  for (long r = 0; r < kRounds; ++r)
    for (int i = 0; i < 10; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"), noinline)) double fma512(float seed) {
  __m512 a[10];
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 10; ++i) a[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  for (long r = 0; r < kRounds; ++r)
    for (int i = 0; i < 10; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  return _mm512_reduce_add_ps(a[0]) + _mm512_reduce_add_ps(a[9]);
}

template <typename Fn>
double seconds(Fn fn, double& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  sink += fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char**) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("0\n");
    return 0;
  }
  // Interleaved, the fastest of five each: a neighbour on the machine slows
  // single runs, not the best of several.
  double sink = 0, best256 = 1e9, best512 = 1e9;
  const float seed = static_cast<float>(argc);
  for (int i = 0; i < 5; ++i) {
    const double t256 = seconds([&] { return fma256(seed); }, sink);
    const double t512 = seconds([&] { return fma512(seed); }, sink);
    best256 = t256 < best256 ? t256 : best256;
    best512 = t512 < best512 ? t512 : best512;
  }
  // 512-bit lanes do twice the multiply-adds of 256-bit ones.
  std::printf("%.2f\n", 2 * best256 / best512 + (sink == 12345 ? 1 : 0));
  return 0;
}
