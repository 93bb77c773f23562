#include "guidance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pcplay::ui {

namespace {

constexpr size_t kRecent = kGuidanceWindow / 2;  // judged on the last kRecent steps against the kRecent before
constexpr double kLearned = 0.8;                  // test accuracy past which a run is not stuck (noisy sets stop short of 1)
constexpr double kFlat = 0.03;                    // relative change of the mean loss that counts as flat

template <typename F>
double mean(const std::vector<StepRecord>& h, size_t from, size_t to, F value) {
  double sum = 0;
  size_t count = 0;
  for (size_t i = from; i < to; ++i) {
    const double v = value(h[i]);
    if (std::isfinite(v)) sum += v, ++count;
  }
  return count ? sum / static_cast<double>(count) : NAN;
}

// The median over steps [from, to) of one layer's agreement with backprop (NaN: none).
template <typename F>
double median(const std::vector<StepRecord>& h, size_t from, size_t to, F value) {
  std::vector<double> v;
  for (size_t i = from; i < to; ++i) {
    const double x = value(h[i]);
    if (std::isfinite(x)) v.push_back(x);
  }
  if (v.empty()) return NAN;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

}  // namespace

std::vector<Guidance> guidance(const Settings& s, const std::vector<std::vector<StepRecord>>& history) {
  std::vector<Guidance> out;
  const std::vector<Racer> raced = s.raced();
  for (size_t lane = 0; lane < history.size() && lane < raced.size(); ++lane) {
    const std::vector<StepRecord>& h = history[lane];
    if (h.size() < kGuidanceWindow) continue;
    const size_t end = h.size(), mid = end - kRecent, begin = end - 2 * kRecent;
    const double accuracy = mean(h, mid, end, [](const StepRecord& r) { return r.test.accuracy; });
    if (!(accuracy < kLearned)) continue;  // learning (or learned)
    const double loss_now = mean(h, mid, end, [](const StepRecord& r) { return r.train.loss; });
    const double loss_before = mean(h, begin, mid, [](const StepRecord& r) { return r.train.loss; });
    const bool stuck = !(loss_now < loss_before * (1 - kFlat));  // flat, rising or not finite
    if (!stuck) continue;

    const Racer racer = raced[lane];
    const ErrType err = racer.err;
    const std::string name = racer_label(racer);
    Guidance g;
    g.lane = lane;
    auto remedy = [&](const std::string& label, auto change) {
      Settings next = s;
      change(next);
      if (!(next == s)) g.remedies.push_back({label, next});
    };
    auto smaller_eta = [&] {
      const double eta = s.eta / 10;
      remedy(format("eta = %g", eta) + (raced.size() > 1 ? " (every lane)" : ""), [&](Settings& n) { n.eta = eta; });
    };
    // The race a failing PC run is best understood in: itself beside ePC and backprop.
    auto race = [&] {
      if (raced.size() > 1) return;
      remedy("race it against ePC and backprop", [&](Settings& n) {
        n.compare = {racer};
        for (ErrType other : {ErrType::ErrorBased, ErrType::Exact})
          if (other != err) n.compare.push_back({other, false});
      });
    };

    long rose = 0;
    for (size_t i = mid; i < end; ++i) rose += h[i].energy_rose;
    const size_t depth = h.back().agreement.size();
    auto layer = [&](size_t l, auto field) {
      return median(h, mid, end, [&](const StepRecord& r) { return l < r.agreement.size() ? field(r.agreement[l]) : NAN; });
    };
    const double signal = depth ? layer(0, [](const GradientAgreement& a) { return a.norm_ratio; }) : NAN;
    double worst_angle = NAN;
    size_t worst_layer = 0;
    for (size_t l = 0; l < depth; ++l) {
      const double angle = layer(l, [](const GradientAgreement& a) { return a.angle_deg; });
      if (std::isfinite(angle) && !(angle <= worst_angle)) worst_angle = angle, worst_layer = l;
    }
    const std::string accuracy_text = format("test accuracy %.2f", accuracy);
    if (relaxes(err) && rose > static_cast<long>(kRecent / 10)) {
      g.text = name + ": the energy rose during " + std::to_string(rose) + " of the last " + std::to_string(kRecent) +
               " relaxations (" + accuracy_text + "): eta = " + format("%g", s.eta) +
               " is too large for these weights, and the updates are far from backprop's.";
      smaller_eta();
      race();
    } else if (relaxes(err) && worst_angle > 30) {
      g.text = name + ": layer " + std::to_string(worst_layer + 1) + "'s update points " + format("%.0f", worst_angle) +
               " degrees away from backprop's (" + accuracy_text + "): a smaller eta keeps the beliefs near the prediction.";
      smaller_eta();
      race();
    } else if (relaxes(err) && signal < 0.25) {
      g.text = name + ": layer 1 receives " + format("%.0f", 100 * signal) + " % of backprop's signal (" +
               accuracy_text + "): the error decays on its way down.";
      if (err == ErrType::Strict || err == ErrType::Incremental)
        remedy("try ePC", [&](Settings& n) {
          const Racer epc{ErrType::ErrorBased, racer.mupc};
          if (n.compare.empty()) n.err = ErrType::ErrorBased;
          else if (std::find(n.compare.begin(), n.compare.end(), epc) == n.compare.end())
            n.compare[lane] = epc;
        });
      // A residual MLP keeps the signal through depth in μPC's parameterisation: race the two.
      const Racer mu{err, true};
      if (!racer.mupc && races_mupc(s.model) && std::find(raced.begin(), raced.end(), mu) == raced.end() &&
          raced.size() < kMaxRaced)
        remedy("race it in muPC's parameterisation", [&](Settings& n) {
          n.compare = raced;
          n.compare.push_back(mu);
        });
      remedy(format("n = %g", std::min(400.0, 5.0 * s.n)), [&](Settings& n) { n.n = std::min(400, 5 * s.n); });
    } else {
      g.text = name + ": the loss has not fallen in the last " + std::to_string(kRecent) + " steps (" + accuracy_text + ").";
      if (s.lr < 0.01) remedy(format("learning rate = %g", 0.01), [&](Settings& n) { n.lr = 0.01; });
      if (relaxes(err)) smaller_eta();
      race();
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace pcplay::ui
