// Data parallelism over MPI (OpenMPI from Debian). A process started by mpirun joins
// MPI_COMM_WORLD; a process started directly runs alone without touching MPI (no singleton
// start-up), so the single-process path needs no launcher.
//
// Every reduction has a fixed order, so results do not depend on timing: the gradient
// all-reduce splits the buffer into one chunk per rank; each rank sums the K copies of its
// chunk in rank order 0, 1, ..., K-1, then the sums are gathered to every rank.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longctx::train {

class Comm {
 public:
  // The process-wide communicator; the first call initialises MPI when launched by mpirun.
  static Comm& world();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // data (n) = the sum over ranks of every rank's data (n), in rank order; same n on all ranks.
  void allreduce_sum(float* data, int64_t n);
  // Small arrays (counts, loss sums): gathered, then summed in rank order on every rank.
  void allreduce_sum(double* data, int64_t n);
  void allreduce_max(int64_t* data, int64_t n);
  // Root receives every rank's string in rank order; other ranks get an empty vector.
  std::vector<std::string> gather_strings(const std::string& mine);
  // Root's string on every rank.
  std::string broadcast_string(const std::string& root_value);
  void barrier();
  // Ends every rank (after an error on one of them, so the others do not wait forever).
  [[noreturn]] void abort(int code);
  // Called once at exit by the command (MPI_Finalize when MPI was initialised).
  void finalize();

 private:
  Comm();
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
  std::vector<float> scratch_;  // (n) received chunks of the float all-reduce
};

// True when this process was started by an MPI launcher (mpirun / srun environment).
bool launched_by_mpi();

}  // namespace longctx::train
