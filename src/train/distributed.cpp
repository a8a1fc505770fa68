#include "train/distributed.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.h"

namespace longctx::train {

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw_error("MPI %s failed: %.*s", what, len, text);
}

int checked_int(int64_t n, const char* what) {
  LONGCTX_CHECK(n >= 0 && n <= INT32_MAX, "MPI %s: %lld elements exceed one message", what,
                static_cast<long long>(n));
  return static_cast<int>(n);
}

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(var) != nullptr) return true;
  return false;
}

Comm::Comm() {
  if (!launched_by_mpi()) return;
  int initialised = 0, provided = MPI_THREAD_SINGLE;
  MPI_Initialized(&initialised);
  if (!initialised)
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
              "MPI_Init_thread");
  else
    MPI_Query_thread(&provided);
  thread_level_ok_ = provided >= MPI_THREAD_SERIALIZED;
  handle_ = static_cast<int>(MPI_Comm_c2f(MPI_COMM_WORLD));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  mpi_ = true;
}

Comm::Comm(int handle, int rank, int size)
    : rank_(rank), size_(size), mpi_(true), world_(false), handle_(handle) {
  thread_level_ok_ = world().thread_level_ok_;
}

Comm::~Comm() {
  if (!mpi_ || world_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  MPI_Comm c = MPI_Comm_f2c(handle_);
  MPI_Comm_free(&c);
}

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

std::unique_ptr<Comm> Comm::split(int color, int key) {
  if (!mpi_) return std::unique_ptr<Comm>(new Comm());  // alone: a communicator of one
  MPI_Comm part;
  check_mpi(MPI_Comm_split(MPI_Comm_f2c(handle_), color, key, &part), "Comm_split");
  int rank = 0, size = 1;
  MPI_Comm_rank(part, &rank);
  MPI_Comm_size(part, &size);
  return std::unique_ptr<Comm>(new Comm(static_cast<int>(MPI_Comm_c2f(part)), rank, size));
}

void Comm::exchange(const std::vector<Message>& sends, const std::vector<Message>& receives,
                    const std::atomic<bool>* stop) {
  if (sends.empty() && receives.empty()) return;
  LONGCTX_CHECK(mpi_, "MPI exchange: this process was not started by mpirun");
  const MPI_Comm c = MPI_Comm_f2c(handle_);
  std::vector<MPI_Request> requests;
  requests.reserve(sends.size() + receives.size());
  for (const Message& m : receives) {
    requests.emplace_back();
    check_mpi(MPI_Irecv(m.data, checked_int(m.n, "receive"), MPI_FLOAT, m.peer, m.tag, c,
                        &requests.back()),
              "Irecv");
  }
  for (const Message& m : sends) {
    requests.emplace_back();
    check_mpi(
        MPI_Isend(m.data, checked_int(m.n, "send"), MPI_FLOAT, m.peer, m.tag, c, &requests.back()),
        "Isend");
  }
  // MPI_Waitall would spin a core until the peers arrive; on a machine whose cores all
  // compute, poll instead, sleeping between tests (at most 200 microseconds: transfers
  // themselves happen inside MPI_Testall).
  auto pause = std::chrono::microseconds(5);
  for (;;) {
    int done = 0;
    check_mpi(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
        "Testall");
    if (done || (stop != nullptr && stop->load())) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(200));
  }
}

void Comm::allreduce_sum(float* data, int64_t n) {
  if (size_ == 1) return;
  const int K = size_;
  const int64_t chunk = (n + K - 1) / K;
  std::vector<int> counts(K), displs(K), recv_counts(K), recv_displs(K);
  for (int r = 0; r < K; ++r) {
    const int64_t begin = std::min(n, r * chunk), end = std::min(n, (r + 1) * chunk);
    counts[r] = checked_int(end - begin, "allreduce");
    displs[r] = checked_int(begin, "allreduce");
  }
  const int mine = counts[rank_];
  for (int r = 0; r < K; ++r) recv_counts[r] = mine, recv_displs[r] = r * mine;
  scratch_.resize(static_cast<size_t>(mine) * K);
  // Rank r receives every rank's copy of chunk r ...
  check_mpi(MPI_Alltoallv(data, counts.data(), displs.data(), MPI_FLOAT, scratch_.data(),
                          recv_counts.data(), recv_displs.data(), MPI_FLOAT, MPI_Comm_f2c(handle_)),
            "Alltoallv");
  // ... sums them in rank order ...
  float* own = data + displs[rank_];
  for (int i = 0; i < mine; ++i) {
    float s = scratch_[static_cast<size_t>(i)];
    for (int r = 1; r < K; ++r) s += scratch_[static_cast<size_t>(r) * mine + i];
    own[i] = s;
  }
  // ... and every rank gathers all sums.
  check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, data, counts.data(), displs.data(),
                           MPI_FLOAT, MPI_Comm_f2c(handle_)),
            "Allgatherv");
}

void Comm::allreduce_sum(double* data, int64_t n) {
  if (size_ == 1) return;
  std::vector<double> all(static_cast<size_t>(n) * size_);
  const int count = checked_int(n, "allreduce");
  check_mpi(
      MPI_Allgather(data, count, MPI_DOUBLE, all.data(), count, MPI_DOUBLE, MPI_Comm_f2c(handle_)),
      "Allgather");
  for (int64_t i = 0; i < n; ++i) {
    double s = all[static_cast<size_t>(i)];
    for (int r = 1; r < size_; ++r) s += all[static_cast<size_t>(r * n + i)];
    data[i] = s;
  }
}

void Comm::allreduce_max(int64_t* data, int64_t n) {
  if (size_ == 1) return;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, checked_int(n, "allreduce"), MPI_INT64_T, MPI_MAX,
                          MPI_Comm_f2c(handle_)),
            "Allreduce");
}

std::vector<std::string> Comm::gather_strings(const std::string& mine) {
  if (size_ == 1) return {mine};
  int len = checked_int(static_cast<int64_t>(mine.size()), "gather");
  std::vector<int> lens(size_), displs(size_);
  check_mpi(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_Comm_f2c(handle_)),
            "Gather");
  std::string all;
  if (rank_ == 0) {
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) displs[r] = checked_int(total, "gather"), total += lens[r];
    all.resize(static_cast<size_t>(total));
  }
  check_mpi(MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                        MPI_CHAR, 0, MPI_Comm_f2c(handle_)),
            "Gatherv");
  if (rank_ != 0) return {};
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r)
    out.push_back(all.substr(static_cast<size_t>(displs[r]), static_cast<size_t>(lens[r])));
  return out;
}

std::string Comm::broadcast_string(const std::string& root_value) {
  if (size_ == 1) return root_value;
  int len = checked_int(static_cast<int64_t>(root_value.size()), "broadcast");
  check_mpi(MPI_Bcast(&len, 1, MPI_INT, 0, MPI_Comm_f2c(handle_)), "Bcast");
  std::string s = rank_ == 0 ? root_value : std::string(static_cast<size_t>(len), '\0');
  check_mpi(MPI_Bcast(s.data(), len, MPI_CHAR, 0, MPI_Comm_f2c(handle_)), "Bcast");
  return s;
}

void Comm::barrier() {
  if (size_ > 1) check_mpi(MPI_Barrier(MPI_Comm_f2c(handle_)), "Barrier");
}

void Comm::abort(int code) {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void Comm::finalize() {
  if (!mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  mpi_ = false;
}

}  // namespace longctx::train
