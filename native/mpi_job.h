// The MPI job a pcplay process is a rank of, when an MPI launcher (mpirun)
// started it: `mpirun -np R pcplay train ...` shares every batch among the R
// ranks (core/collective.h; docs/distributed.md). Only rank 0 prints and
// writes files.
//
// A collective that some rank never reaches (it hung, or died where the
// launcher did not notice) would wait forever: every sum waits at most
// timeout seconds; then it tells the other ranks, so that every rank that
// waits gives up together, they find which ranks never arrived (or arrived
// at another exchange), the lowest names them, and the job is aborted.
#pragma once

#include <memory>
#include <string>

#include "collective.h"

namespace pcplay::cli {

class MpiJob final : public Collective {
 public:
  // Joins the job if an MPI launcher started this process (its environment
  // says so); else null: one process. Throws Error if one did but pcplay was
  // built without MPI (each process would run the whole job on its own).
  static std::unique_ptr<MpiJob> join(int& argc, char**& argv);
  ~MpiJob() override;  // MPI_Finalize
  MpiJob(const MpiJob&) = delete;
  MpiJob& operator=(const MpiJob&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const { return local_size_; }  // ranks on this machine
  // The threads each rank takes unless told: its part of this machine's cores.
  int threads_per_rank() const;
  bool leader() const { return rank_ == 0; }
  void sum(double* values, size_t count, const char* what) override;
  void sum(float* values, size_t count, const char* what) override;
  bool all_equal(uint64_t value, const char* what) override;
  void set_timeout(double seconds) { timeout_ = seconds; }
  static constexpr double kDefaultTimeout = 300;
  // Ends every rank of the job with this exit code (MPI_Abort).
  [[noreturn]] void abort(int code);
  // Ends the job over a failure this rank met, told once. Rank 0 prints
  // "where: message" and tells the others before its abort; another rank
  // prints "where (rank r): message" only if rank 0 does not fail too within
  // a few seconds, so a failure every rank meets (a bad option, a missing
  // file) is one line, rank 0's.
  [[noreturn]] void fail(const std::string& where, const std::string& message, int code);

 private:
  MpiJob() = default;
  template <typename T>
  void reduce(T* values, size_t count, const char* what);
  // Waits for a collective operation, at most timeout_ (its request is an
  // MPI_Request, kept opaque here).
  void wait(void* request, const char* what);
  [[noreturn]] void give_up_waiting(const char* what);
  int rank_ = 0, size_ = 1, local_size_ = 1;
  double timeout_ = kDefaultTimeout;
  long collectives_ = 0;  // how many this rank has entered
};

}  // namespace pcplay::cli
