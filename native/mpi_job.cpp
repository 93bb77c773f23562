#include "mpi_job.h"

#include <sched.h>  // sched_getaffinity

#include <algorithm>
#include <chrono>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "error.h"

#ifdef PCPLAY_WITH_MPI
#include <mpi.h>
#endif

namespace pcplay::cli {

namespace {

// The variable an MPI launcher sets for the processes it starts (Open MPI,
// then PMI/PMIx as MPICH and Slurm's launchers set them), or null.
const char* launcher_variable() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return name;
  return nullptr;
}

}  // namespace

// (Capped by the cores the launcher let this rank run on: Open MPI binds
// each of up to 2 ranks to one core unless told --bind-to none.)
int MpiJob::threads_per_rank() const {
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, local_size_));
#if defined(__linux__) && !defined(__EMSCRIPTEN__)
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) threads = std::min(threads, std::max(1, CPU_COUNT(&allowed)));
#endif
  return threads;
}

#ifdef PCPLAY_WITH_MPI

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kArrivedTag = 7411;  // "I reached the collective the job waits in"
constexpr int kFailingTag = 7412;  // "rank 0 failed and has said why"

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }

}  // namespace

std::unique_ptr<MpiJob> MpiJob::join(int& argc, char**& argv) {
  if (!launcher_variable()) return nullptr;
  // Only the main thread calls MPI (the thread pool's workers never do).
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  std::unique_ptr<MpiJob> job(new MpiJob());
  if (provided < MPI_THREAD_FUNNELED) throw Error("this MPI library does not allow threads beside MPI's calls");
  MPI_Comm_rank(MPI_COMM_WORLD, &job->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &job->size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, job->rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &job->local_size_);
  MPI_Comm_free(&local);
  return job;
}

MpiJob::~MpiJob() { MPI_Finalize(); }

void MpiJob::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);  // (MPI_Abort does not return)
}

// Rank 0's notice is a message, not a delay: whichever rank reaches its
// failure first, the others learn that rank 0 has spoken before they would.
void MpiJob::fail(const std::string& where, const std::string& message, int code) {
  if (leader()) {
    std::fprintf(stderr, "%s: %s\n", where.c_str(), message.c_str());
    std::fflush(stderr);
    std::vector<MPI_Request> notices(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    for (int r = 1; r < size_; ++r)
      MPI_Isend(&code, 1, MPI_INT, r, kFailingTag, MPI_COMM_WORLD, &notices[static_cast<size_t>(r)]);
    // Let the notices leave, but a rank that died must not hold the abort up.
    for (const Clock::time_point until = Clock::now() + std::chrono::seconds(1); Clock::now() < until;) {
      int sent = 0;
      MPI_Testall(size_, notices.data(), &sent, MPI_STATUSES_IGNORE);
      if (sent) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    abort(code);
  }
  for (const Clock::time_point until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
    int told = 0;
    MPI_Iprobe(0, kFailingTag, MPI_COMM_WORLD, &told, MPI_STATUS_IGNORE);
    if (told) {  // rank 0 has said it; its abort ends this process
      std::this_thread::sleep_for(std::chrono::seconds(30));
      abort(code);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "%s (rank %d): %s\n", where.c_str(), rank_, message.c_str());
  abort(code);
}

void MpiJob::sum(double* values, size_t count, const char* what) { reduce(values, count, what); }
void MpiJob::sum(float* values, size_t count, const char* what) { reduce(values, count, what); }

// A non-blocking sum, polled: at once for a little while (a step's sums come
// microseconds apart), then with short sleeps that leave the core to the
// other ranks when there are more ranks than cores.
template <typename T>
void MpiJob::reduce(T* values, size_t count, const char* what) {
  ++collectives_;
  if (size_ == 1) return;
  if (count > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw Error(std::string(what) + ": more values than one MPI message holds");
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(count), mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD, &request);
  wait(&request, what);
}

// Equal everywhere iff the bitwise AND and OR of the values agree.
bool MpiJob::all_equal(uint64_t value, const char* what) {
  ++collectives_;
  if (size_ == 1) return true;
  uint64_t both[2] = {value, value}, all = 0, any = 0;
  MPI_Request requests[2];
  MPI_Iallreduce(&both[0], &all, 1, MPI_UINT64_T, MPI_BAND, MPI_COMM_WORLD, &requests[0]);
  MPI_Iallreduce(&both[1], &any, 1, MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD, &requests[1]);
  wait(&requests[0], what);
  wait(&requests[1], what);
  return all == any;
}

void MpiJob::wait(void* opaque, const char* what) {
  MPI_Request& request = *static_cast<MPI_Request*>(opaque);
  const Clock::time_point start = Clock::now();
  for (long polls = 0;; ++polls) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (polls < 2000) continue;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    if ((polls & 63) != 0) continue;
    int notice = 0;  // another rank gave up waiting: answer it now
    MPI_Iprobe(MPI_ANY_SOURCE, kArrivedTag, MPI_COMM_WORLD, &notice, MPI_STATUS_IGNORE);
    if (notice || std::chrono::duration<double>(Clock::now() - start).count() > timeout_) give_up_waiting(what);
  }
}

// Every rank that waited tells the others so; after a grace period each
// knows which never did, and the lowest of those that did names them.
void MpiJob::give_up_waiting(const char* what) {
  long reached = collectives_;
  std::vector<MPI_Request> sends(static_cast<size_t>(size_), MPI_REQUEST_NULL);
  for (int r = 0; r < size_; ++r)
    if (r != rank_) MPI_Isend(&reached, 1, MPI_LONG, r, kArrivedTag, MPI_COMM_WORLD, &sends[static_cast<size_t>(r)]);
  std::vector<bool> arrived(static_cast<size_t>(size_));
  arrived[static_cast<size_t>(rank_)] = true;
  std::string elsewhere;  // ranks waiting at another exchange: the ranks' paths parted (a bug)
  const Clock::time_point grace = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < grace) {
    int found = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kArrivedTag, MPI_COMM_WORLD, &found, &status);
    if (!found) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    long other = 0;
    MPI_Recv(&other, 1, MPI_LONG, status.MPI_SOURCE, kArrivedTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    arrived[static_cast<size_t>(status.MPI_SOURCE)] = true;
    if (other != reached)
      elsewhere += " rank " + std::to_string(status.MPI_SOURCE) + " waits at exchange " + std::to_string(other) + ",";
  }
  std::string missing;
  int reporter = size_;
  for (int r = 0; r < size_; ++r) {
    if (!arrived[static_cast<size_t>(r)]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    else if (reporter == size_) reporter = r;
  }
  if (rank_ == reporter && !missing.empty())
    std::fprintf(stderr,
                 "pcplay: rank %s of %d did not reach %s within %g s (it hung, or died unnoticed): ending the job\n",
                 missing.c_str(), size_, what, timeout_);
  else if (rank_ == reporter)
    std::fprintf(stderr, "pcplay: the ranks wait at different exchanges (rank %d at %s, exchange %ld;%s a bug): "
                 "ending the job\n", rank_, what, reached, elsewhere.c_str());
  abort(kExitJobFailed);
}

#else  // built without MPI

std::unique_ptr<MpiJob> MpiJob::join(int&, char**&) {
  if (const char* variable = launcher_variable())
    throw Error(std::string("an MPI launcher started this process (") + variable +
                " is set), but pcplay was built without MPI: each rank would run the whole job on its own; "
                "install libopenmpi-dev and rebuild (docs/distributed.md)");
  return nullptr;
}
MpiJob::~MpiJob() = default;
void MpiJob::abort(int code) { std::exit(code); }
void MpiJob::fail(const std::string& where, const std::string& message, int code) {
  std::fprintf(stderr, "%s: %s\n", where.c_str(), message.c_str());
  abort(code);
}
void MpiJob::sum(double*, size_t, const char*) {}
void MpiJob::sum(float*, size_t, const char*) {}
bool MpiJob::all_equal(uint64_t, const char*) { return true; }

#endif

}  // namespace pcplay::cli
