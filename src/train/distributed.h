// Data and context parallelism over MPI (OpenMPI from Debian). A process started by mpirun
// joins MPI_COMM_WORLD; a process started directly runs alone without touching MPI (no
// singleton start-up), so the single-process path needs no launcher.
//
// Every reduction has a fixed order, so results do not depend on timing: the gradient
// all-reduce splits the buffer into one chunk per rank; each rank sums the K copies of its
// chunk in rank order 0, 1, ..., K-1, then the sums are gathered to every rank.
//
// MPI is initialised with MPI_THREAD_SERIALIZED: ring attention (train/ring_attention.h)
// runs its point-to-point exchanges on a helper thread while the main thread computes, and
// never while the main thread makes MPI calls of its own.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace longctx::train {

// One point-to-point message of an exchange: n floats at data, to or from rank peer (of the
// communicator the exchange runs on), matched by tag.
struct Message {
  float* data = nullptr;
  int64_t n = 0;
  int peer = 0;
  int tag = 0;
};

class Comm {
 public:
  // The process-wide communicator; the first call initialises MPI when launched by mpirun.
  static Comm& world();
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  // The ranks of this communicator with the same color, ordered by key (MPI_Comm_split);
  // collective over this communicator. Without MPI (one process) a communicator of one.
  std::unique_ptr<Comm> split(int color, int key);
  // Posts every send and receive at once, then completes them all (MPI_Isend / MPI_Irecv,
  // polled with short sleeps so that a waiting helper thread does not occupy a core).
  // stop: when it turns true, returns without completing them (only before abort()).
  void exchange(const std::vector<Message>& sends, const std::vector<Message>& receives,
                const std::atomic<bool>* stop = nullptr);
  // True when another thread than the one that initialised MPI may call exchange (while
  // that one makes no MPI call): MPI granted at least MPI_THREAD_SERIALIZED.
  bool threads_may_call() const { return thread_level_ok_; }

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
  Comm(int handle, int rank, int size);
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
  bool world_ = true;
  bool thread_level_ok_ = false;
  int handle_ = 0;              // the MPI communicator as its Fortran handle (MPI_Comm_c2f)
  std::vector<float> scratch_;  // (n) received chunks of the float all-reduce
};

// True when this process was started by an MPI launcher (mpirun / srun environment).
bool launched_by_mpi();

}  // namespace longctx::train
