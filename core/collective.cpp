#include "collective.h"

#include <algorithm>

namespace pcplay {

Share share_of(Index total, int rank, int size) {
  // The first total % size processes take one more.
  const Index base = total / size, extra = total % size, r = rank;
  const Index begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

template <typename T>
void sum_gradients(Collective* c, const std::vector<NamedParam<T>>& params, std::vector<T>& scratch) {
  if (!c) return;
  size_t count = 0;
  for (const NamedParam<T>& p : params) count += static_cast<size_t>(p.param->grad.size());
  scratch.resize(count);
  T* at = scratch.data();
  for (const NamedParam<T>& p : params) at = std::copy_n(p.param->grad.data(), p.param->grad.size(), at);
  c->sum(scratch.data(), count, "the gradients");
  at = scratch.data();
  for (const NamedParam<T>& p : params) {
    std::copy_n(at, p.param->grad.size(), p.param->grad.data());
    at += p.param->grad.size();
  }
}

template void sum_gradients(Collective*, const std::vector<NamedParam<float>>&, std::vector<float>&);
template void sum_gradients(Collective*, const std::vector<NamedParam<double>>&, std::vector<double>&);

}  // namespace pcplay
