// Ring attention: causal attention over sequences split along time over the K processes of a
// context group (Liu et al. 2023, "Ring Attention with Blockwise Transformers"; load balance
// by the zig-zag split of Brandon et al. 2023 / Llama 3's context parallelism).
//
// Zig-zag split (ContextSplit): a sequence of T tokens is cut into 2K chunks of C = T/(2K);
// rank r holds chunk r (from the front) and chunk 2K-1-r (from the back) as its 2C local rows,
// in that order. Under the causal mask a query chunk needs every key chunk before it, so the
// front-heavy and back-heavy chunks balance: every rank does the same attention work.
//
// Forward on rank r: the local causal kernel over its own 2C rows (kernels/attention.h: the
// front chunk precedes the back chunk, so local order is causal order), then K-1 ring steps:
// at step s the key/value block of rank src = r - s (mod K) is at hand and the next one is
// already on its way (sent by rank r-1 while this one computes). With src < r, all 2C queries
// see the first C keys of src's block (src's front chunk; its back chunk lies after both of
// r's chunks); with src > r, r's back chunk sees both of src's chunks (all before it). Either
// way a block without a causal mask: kernels/attention_block.h, merged into (out, lse)
// through the log-sum-exps. Every step costs each rank the same 2C^2 query-key pairs.
//
// Backward: the same steps with the final out and lse. dq stays local; the dk/dv a rank
// computes for another rank's block go back to that rank (point to point) while the next
// block is computed. The local work is split in two parts (back chunk's queries first, front
// chunk's last) so that the first key/value transfer and the last gradient return overlap
// compute too. Every sum has a fixed order: results do not depend on timing.
//
// Document masking: every rank of a group holds the segment ids of the whole sequences
// (set_batch), so blocks from other ranks are masked exactly like local ones.
//
// Errors: one rank failing while a transfer is in flight would leave its peers waiting for
// messages that never come; the MPI transport then prints the error and ends every rank
// (RingTransport::fail). For tests, LONGCTX_RING_FAULT=RANK:N makes rank RANK of every ring
// throw an Error right after starting its N-th exchange (counted from 1 per ring).
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "model/sequence_attention.h"
#include "train/distributed.h"

namespace longctx::train {

// The zig-zag split of sequences of T tokens over K ranks (see above).
struct ContextSplit {
  int64_t T = 0;  // whole sequence
  int K = 1;      // ranks of the group
  int rank = 0;   // this one

  ContextSplit() = default;
  // Error unless T is a positive multiple of 2K and 0 <= rank < K.
  ContextSplit(int64_t T, int K, int rank);
  int64_t chunk() const { return T / (2 * K); }  // C
  int64_t local_len() const { return T / K; }    // 2C rows per rank
  // Index in the whole sequence of local row i (0 <= i < 2C).
  int64_t global_index(int64_t i) const {
    const int64_t C = chunk();
    return i < C ? rank * C + i : (2 * K - 1 - rank) * C + (i - C);
  }
  // local (B, 2C) = this rank's rows of whole (B, T).
  void slice(int32_t* local, const int32_t* whole, int64_t B) const;
};

// The ring's network: one exchange of messages at a time, started and later completed, so
// that the transfer overlaps the attention of the block at hand.
class RingTransport {
 public:
  virtual ~RingTransport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Starts sending and receiving; buffers stay untouched by the caller until wait().
  virtual void start(std::vector<Message> sends, std::vector<Message> receives) = 0;
  // Completes the started exchange (nothing when none is pending); rethrows its error.
  virtual void wait() = 0;
  // An error on this rank while an exchange is in flight: the peers wait for messages this
  // rank will never send, so the group cannot go on. The MPI transport prints the error and
  // ends every rank (MPI_Abort) without waiting for the exchange; others return, and the
  // error propagates to the caller.
  virtual void fail(const std::string& message) { (void)message; }
};

// Over an MPI communicator: each exchange runs on a helper thread (Comm::exchange), so the
// transfer proceeds while this thread computes; without MPI_THREAD_SERIALIZED the exchange
// runs inside wait() instead (correct, not overlapped).
class MpiRingTransport final : public RingTransport {
 public:
  explicit MpiRingTransport(Comm& comm) : comm_(comm) {}
  ~MpiRingTransport() override;
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void start(std::vector<Message> sends, std::vector<Message> receives) override;
  void wait() override;
  [[noreturn]] void fail(const std::string& message) override;

 private:
  Comm& comm_;
  std::atomic<bool> stop_{false};  // set by fail(): the helper thread stops polling
  std::thread worker_;
  std::exception_ptr error_;
  std::vector<Message> sends_, receives_;  // pending, when run inside wait()
  bool pending_ = false;
};

// Time and traffic of the ring since construction (or reset).
struct RingStats {
  double wait_s = 0;       // main thread blocked in RingTransport::wait
  double compute_s = 0;    // attention kernels of the ring's calls
  int64_t bytes_sent = 0;  // by this rank (key/value blocks and returned dk/dv)
  int64_t exchanges = 0;
};

class RingAttention final : public model::SequenceAttention {
 public:
  // transport: this rank's place in the group (rank, size = K); seq_len: T of the whole
  // sequences (a multiple of 2K).
  RingAttention(RingTransport& transport, int64_t seq_len);

  // Segment ids (B, T) of the whole sequences of the coming calls, or null (no document
  // masking); copied. Every rank of the group passes the same.
  void set_batch(const int32_t* whole_segment_ids, int64_t B);
  const ContextSplit& split() const { return split_; }

  void forward(float* out, float* lse, const float* q, const float* k, const float* v,
               const kernels::AttentionShape& shape, const int32_t* segment_ids) override;
  void backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                const float* lse, const float* q, const float* k, const float* v,
                const kernels::AttentionShape& shape, const int32_t* segment_ids) override;

  const RingStats& stats() const { return stats_; }
  void reset_stats() { stats_ = RingStats{}; }

 private:
  struct Dims;
  Dims check_call(const kernels::AttentionShape& shape, const int32_t* segment_ids) const;
  const int32_t* segments_of(int src, int64_t b) const;
  void start(std::vector<Message> sends, std::vector<Message> receives);
  void wait();
  // Runs a forward or backward; an error in it while an exchange is in flight goes to
  // RingTransport::fail before it propagates.
  template <class Body>
  void guarded(Body&& body);
  void forward_steps(float* out, float* lse, const float* q, const float* k, const float* v,
                     const kernels::AttentionShape& shape, const int32_t* segment_ids);
  void backward_steps(float* dq, float* dk, float* dv, const float* dout, const float* out,
                      const float* lse, const float* q, const float* k, const float* v,
                      const kernels::AttentionShape& shape, const int32_t* segment_ids);

  RingTransport& transport_;
  ContextSplit split_;
  bool in_flight_ = false;     // an exchange started and not yet waited for
  int64_t fault_at_ = -1;      // LONGCTX_RING_FAULT on this rank: the exchange that fails
  int64_t B_ = 0;
  bool masked_ = false;
  std::vector<int32_t> segments_;  // (K, B, 2C): every rank's local segment ids
  // Buffers of one call, (B, 2C, Hkv, D) each, grown on demand and reused.
  std::vector<float> recv_k_[2], recv_v_[2];    // key/value blocks arriving
  std::vector<float> part_dk_[2], part_dv_[2];  // dk/dv computed for another rank's block
  std::vector<float> back_dk_, back_dv_;        // dk/dv of this rank's block coming back
  std::vector<float> tmp_dq_, tmp_dk_, tmp_dv_, tmp_lse_;  // the local front-chunk backward
  RingStats stats_;
};

}  // namespace longctx::train
