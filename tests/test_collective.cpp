// A run shared among processes (core/collective.h), without MPI: threads
// stand in for the ranks, each with its own Trainer, and sum through shared
// memory in rank order. What holds for them holds for mpirun's ranks, whose
// only difference is the transport (tests/cli/test_mpi.py runs those).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "collective.h"
#include "error.h"
#include "model_file.h"
#include "trainer.h"

using namespace pcplay;

// The single-threaded WebAssembly build has no threads to stand in for ranks.
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
constexpr bool kNoThreads = true;
#else
constexpr bool kNoThreads = false;
#endif

TEST_CASE("shares of a batch are contiguous, in rank order, and differ by at most one") {
  for (Index total : {0, 1, 2, 7, 100, 301})
    for (int size : {1, 2, 3, 8}) {
      Index next = 0, smallest = total, largest = 0;
      for (int rank = 0; rank < size; ++rank) {
        const Share s = share_of(total, rank, size);
        CHECK(s.begin == next);
        next = s.end;
        smallest = std::min(smallest, s.count());
        largest = std::max(largest, s.count());
      }
      CHECK(next == total);
      CHECK(largest - smallest <= 1);
    }
}

namespace {

// R threads as R processes: each writes its values in its slot; once all have,
// each adds the slots up in rank order (so every "rank" gets the same sum).
class ThreadTeam {
 public:
  explicit ThreadTeam(int size) : size_(size), slots_(static_cast<size_t>(size)) {}
  class Member : public Collective {
   public:
    Member(ThreadTeam& team, int rank) : team_(team), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return team_.size_; }
    void sum(double* values, size_t count, const char* what) override { team_.sum(rank_, values, count, what); }
    void sum(float* values, size_t count, const char* what) override {
      std::vector<double> wide(values, values + count);
      team_.sum(rank_, wide.data(), count, what);  // (float sums in double, rounded once: as exact as MPI's)
      std::copy(wide.begin(), wide.end(), values);
    }
    bool all_equal(uint64_t value, const char*) override { return team_.same_everywhere(rank_, value); }

   private:
    ThreadTeam& team_;
    int rank_;
  };

 private:
  // Every rank must reach the same sum, of the same size, in the same order:
  // a rank that took another path is a defect even where it did not deadlock.
  void sum(int rank, double* values, size_t count, const char* what) {
    slots_[static_cast<size_t>(rank)].assign(values, values + count);
    names_[static_cast<size_t>(rank)] = what;
    wait();
    for (int r = 0; r < size_; ++r)
      if (names_[static_cast<size_t>(r)] != what || slots_[static_cast<size_t>(r)].size() != count) paths_parted = true;
    for (size_t i = 0; i < count; ++i) {
      double total = 0;
      for (const auto& slot : slots_) total += slot[i];
      values[i] = total;
    }
    wait();  // no slot is written again before every rank has read them all
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const long round = round_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++round_;
      all_arrived_.notify_all();
    } else {
      all_arrived_.wait(lock, [&] { return round_ != round; });
    }
  }
  bool same_everywhere(int rank, uint64_t value) {
    fingerprints_[static_cast<size_t>(rank)] = value;
    wait();
    const bool same = std::all_of(fingerprints_.begin(), fingerprints_.end(), [&](uint64_t v) { return v == value; });
    wait();
    return same;
  }

 public:
  std::atomic<bool> paths_parted{false};

 private:
  int size_;
  std::vector<std::vector<double>> slots_;
  std::vector<std::string> names_ = std::vector<std::string>(static_cast<size_t>(size_));
  std::vector<uint64_t> fingerprints_ = std::vector<uint64_t>(static_cast<size_t>(size_));
  std::mutex mutex_;
  std::condition_variable all_arrived_;
  int arrived_ = 0;
  long round_ = 0;
};

struct RunResult {
  std::vector<StepMetrics> steps;
  std::vector<Tensor<double>> weights;
};

// `steps` steps of the same run on `ranks` threads (0: one Trainer, no collective).
RunResult train_shared(const ModelSpec& spec, const DataSplit& data, const TrainConfig& config, int ranks, int steps) {
  auto shared = std::make_shared<const DataSplit>(data);
  auto run_one = [&](Collective* c, RunResult* out) {
    Trainer<double> trainer(spec, shared, config);
    trainer.share_with(c);
    for (int s = 0; s < steps; ++s) out->steps.push_back(trainer.step());
    for (auto& p : trainer.model().parameters()) out->weights.push_back(p.param->value);
  };
  std::vector<RunResult> results(static_cast<size_t>(std::max(ranks, 1)));
  if (ranks == 0) {
    run_one(nullptr, &results[0]);
    return results[0];
  }
  ThreadTeam team(ranks);
  std::vector<std::unique_ptr<ThreadTeam::Member>> members;
  for (int r = 0; r < ranks; ++r) members.push_back(std::make_unique<ThreadTeam::Member>(team, r));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) threads.emplace_back(run_one, members[static_cast<size_t>(r)].get(), &results[static_cast<size_t>(r)]);
  for (auto& t : threads) t.join();
  CHECK_FALSE(team.paths_parted);
  for (int r = 1; r < ranks; ++r) {  // every rank took the same steps
    for (size_t i = 0; i < results[0].weights.size(); ++i)
      CHECK((results[static_cast<size_t>(r)].weights[i].array() == results[0].weights[i].array()).all());
    CHECK(results[static_cast<size_t>(r)].steps.back().train.loss == results[0].steps.back().train.loss);
  }
  return results[0];
}

double largest_difference(const RunResult& a, const RunResult& b) {
  double worst = 0;
  for (size_t i = 0; i < a.weights.size(); ++i) {
    const double scale = std::max(b.weights[i].array().abs().maxCoeff(), 1e-300);
    worst = std::max(worst, (a.weights[i].array() - b.weights[i].array()).abs().maxCoeff() / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("a run shared among 2 and 3 ranks is one process's run, to the order of its sums" * doctest::skip(kNoThreads)) {
  // 201 training samples in batches of 50: each epoch ends with a batch of 1,
  // so that some ranks have shares of no samples.
  const DataSplit data = make_toy_data({"circle", 402, 0.1, 0.5, 3});
  const ModelSpec spec = model_for_data("dense:12,12:tanh", data.train.sample_shape, data.train.num_classes);
  for (ErrType err : {ErrType::Strict, ErrType::FixedPred, ErrType::Exact, ErrType::ErrorBased, ErrType::Incremental}) {
    TrainConfig config;
    config.err = err;
    config.n = 10;
    config.batch = 50;
    config.compare_bp = true;
    config.tol = err == ErrType::Strict ? 0.3 : 0;  // the stopping rule, decided on the whole batch
    const std::string name = err_type_name(err);
    CAPTURE(name);
    const RunResult one = train_shared(spec, data, config, 0, 12);
    for (int ranks : {2, 3}) {
      CAPTURE(ranks);
      const RunResult shared = train_shared(spec, data, config, ranks, 12);
      CHECK(largest_difference(shared, one) < 1e-12);
      for (size_t s = 0; s < one.steps.size(); ++s) {
        const StepMetrics &a = shared.steps[s], &b = one.steps[s];
        CHECK(a.iterations == b.iterations);
        CHECK(a.train.loss == doctest::Approx(b.train.loss).epsilon(1e-12));
        CHECK(a.train.accuracy == b.train.accuracy);
        CHECK(a.test.loss == doctest::Approx(b.test.loss).epsilon(1e-12));
        CHECK(a.test.accuracy == b.test.accuracy);
        CHECK(a.bp_test.accuracy == b.bp_test.accuracy);
        REQUIRE(a.sweeps.size() == b.sweeps.size());
        for (size_t k = 0; k < a.sweeps.size(); ++k) {
          CHECK(a.sweeps[k].energy == doctest::Approx(b.sweeps[k].energy).epsilon(1e-12));
          CHECK(a.sweeps[k].step_rms == doctest::Approx(b.sweeps[k].step_rms).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("a value that goes non-finite on one rank stops every rank at the same step, saying the same" * doctest::skip(kNoThreads)) {
  // One training sample with an infinite feature: whichever rank's share it
  // falls in, only that rank meets it.
  DataSplit data = make_toy_data({"xor", 200, 0, 0.5, 1});
  data.train.x[2 * 17] = INFINITY;
  TrainConfig config;
  config.batch = 40;
  const ModelSpec spec = model_for_data("dense:8:tanh", data.train.sample_shape, data.train.num_classes);
  const RunResult one = train_shared(spec, data, config, 0, 3), shared = train_shared(spec, data, config, 3, 3);
  REQUIRE(one.steps.back().diverged);
  CHECK(shared.steps.back().diverged);
  CHECK(shared.steps.back().divergence == one.steps.back().divergence);
  CHECK(largest_difference(shared, one) < 1e-12);  // the last good weights
}

TEST_CASE("processes that read different data, or were told other settings, are refused, each of them" * doctest::skip(kNoThreads)) {
  const DataSplit data = make_toy_data({"xor", 200, 0, 0.5, 1});
  DataSplit other = data;
  other.train.x[5] += 0.5f;  // one value of one sample differs on rank 1
  const ModelSpec spec = model_for_data("dense:8:tanh", data.train.sample_shape, data.train.num_classes);
  for (bool differ_in_data : {true, false}) {
    ThreadTeam team(2);
    std::vector<std::string> errors(2);
    auto run = [&](int rank) {
      ThreadTeam::Member member(team, rank);
      TrainConfig config;
      if (!differ_in_data && rank == 1) config.eta = 0.2;
      try {
        Trainer<float> trainer(spec, rank == 1 && differ_in_data ? other : data, config);
        trainer.share_with(&member);
      } catch (const Error& e) {
        errors[static_cast<size_t>(rank)] = e.what();
      }
    };
    std::thread second(run, 1);
    run(0);
    second.join();
    CAPTURE(differ_in_data);
    CHECK(errors[0] == errors[1]);
    CHECK(errors[0].find(differ_in_data ? "different data" : "different models or settings") != std::string::npos);
  }
}
