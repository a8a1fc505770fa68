#include "train/ring_attention.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/attention_block.h"

namespace longctx::train {

namespace {

// Message tags: key and value blocks travel the ring, dk and dv go back to their owner.
enum Tag : int { kTagK = 11, kTagV = 12, kTagDk = 13, kTagDv = 14 };

void grow(std::vector<float>& buffer, int64_t n) {
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
}

void add_rows(float* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

ContextSplit::ContextSplit(int64_t T_, int K_, int rank_) : T(T_), K(K_), rank(rank_) {
  LONGCTX_CHECK(K >= 1, "context parallelism: %d ranks per sequence, need >= 1", K);
  LONGCTX_CHECK(T > 0 && T % (2 * static_cast<int64_t>(K)) == 0,
                "context parallelism: the sequence length %lld must be a multiple of 2 x %d "
                "(the zig-zag split cuts it into %d equal chunks)",
                static_cast<long long>(T), K, 2 * K);
  LONGCTX_CHECK(rank >= 0 && rank < K, "context parallelism: rank %d outside [0, %d)", rank, K);
}

void ContextSplit::slice(int32_t* local, const int32_t* whole, int64_t B) const {
  const int64_t C = chunk(), L = local_len();
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* src = whole + b * T;
    int32_t* dst = local + b * L;
    std::memcpy(dst, src + rank * C, static_cast<size_t>(C) * sizeof(int32_t));
    std::memcpy(dst + C, src + (2 * K - 1 - rank) * C, static_cast<size_t>(C) * sizeof(int32_t));
  }
}

MpiRingTransport::~MpiRingTransport() {
  if (worker_.joinable()) worker_.join();
}

void MpiRingTransport::fail(const std::string& message) {
  stop_ = true;  // the helper thread leaves its exchange unfinished, so no MPI call overlaps
  if (worker_.joinable()) worker_.join();
  std::fprintf(stderr, "longctx: error (rank %d): %s\n", Comm::world().rank(), message.c_str());
  std::fprintf(stderr,
               "longctx: rank %d failed in the middle of ring attention; ending every rank\n",
               Comm::world().rank());
  std::fflush(stderr);
  comm_.abort(1);
}

void MpiRingTransport::start(std::vector<Message> sends, std::vector<Message> receives) {
  LONGCTX_CHECK(!pending_, "ring transport: an exchange is already pending");
  pending_ = true;
  if (!comm_.threads_may_call()) {  // run it in wait()
    sends_ = std::move(sends);
    receives_ = std::move(receives);
    return;
  }
  error_ = nullptr;
  worker_ = std::thread([this, s = std::move(sends), r = std::move(receives)] {
    try {
      comm_.exchange(s, r, &stop_);
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void MpiRingTransport::wait() {
  if (!pending_) return;
  pending_ = false;
  if (!worker_.joinable()) {
    comm_.exchange(sends_, receives_);
    sends_.clear();
    receives_.clear();
    return;
  }
  worker_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

// The shape of one call, checked against the split.
struct RingAttention::Dims {
  int64_t B, C, L;    // sequences, chunk, local rows (2C)
  int64_t QD, KD, H;  // q row, k/v row, query heads
  int64_t kv_block;   // floats of one k (or v) block: B * L * KD
  int n_heads, n_kv_heads, head_dim;
  float scale;
  bool bf16_products;  // the call's AttentionShape::bf16_products, for every kernel of the ring
};

RingAttention::RingAttention(RingTransport& transport, int64_t seq_len)
    : transport_(transport), split_(seq_len, transport.size(), transport.rank()) {
  if (const char* fault = std::getenv("LONGCTX_RING_FAULT")) {
    int rank = -1;
    long long n = -1;
    LONGCTX_CHECK(std::sscanf(fault, "%d:%lld", &rank, &n) == 2 && n >= 1,
                  "LONGCTX_RING_FAULT='%s': expected RANK:N (N >= 1)", fault);
    if (rank == split_.rank) fault_at_ = n;
  }
}

void RingAttention::set_batch(const int32_t* whole_segment_ids, int64_t B) {
  LONGCTX_CHECK(B >= 1, "ring attention: batch of %lld sequences", static_cast<long long>(B));
  B_ = B;
  masked_ = whole_segment_ids != nullptr;
  segments_.clear();
  if (!masked_) return;
  const int64_t L = split_.local_len();
  segments_.resize(static_cast<size_t>(split_.K * B * L));
  for (int src = 0; src < split_.K; ++src)
    ContextSplit(split_.T, split_.K, src)
        .slice(segments_.data() + src * B * L, whole_segment_ids, B);
}

const int32_t* RingAttention::segments_of(int src, int64_t b) const {
  if (!masked_) return nullptr;
  const int64_t L = split_.local_len();
  return segments_.data() + (src * B_ + b) * L;
}

RingAttention::Dims RingAttention::check_call(const kernels::AttentionShape& shape,
                                              const int32_t* segment_ids) const {
  const int64_t L = split_.local_len();
  LONGCTX_CHECK(B_ >= 1, "ring attention: set_batch was not called");
  LONGCTX_CHECK(shape.B == B_ && shape.T_q == L && shape.T_kv == L,
                "ring attention: called with B=%lld T_q=%lld T_kv=%lld, the split expects B=%lld "
                "and %lld local rows (sequence %lld over %d ranks)",
                static_cast<long long>(shape.B), static_cast<long long>(shape.T_q),
                static_cast<long long>(shape.T_kv), static_cast<long long>(B_),
                static_cast<long long>(L), static_cast<long long>(split_.T), split_.K);
  const int64_t KD = static_cast<int64_t>(shape.n_kv_heads) * shape.head_dim;
  LONGCTX_CHECK(shape.kv_batch_stride == 0 || shape.kv_batch_stride == L * KD,
                "ring attention: k/v must be dense (kv_batch_stride %lld)",
                static_cast<long long>(shape.kv_batch_stride));
  LONGCTX_CHECK((segment_ids != nullptr) == masked_,
                "ring attention: the call's segment ids and set_batch's disagree (%s vs %s)",
                segment_ids ? "given" : "none", masked_ ? "given" : "none");
  if (segment_ids)
    LONGCTX_CHECK(
        std::memcmp(segment_ids, segments_of(split_.rank, 0),
                    static_cast<size_t>(B_ * L) * sizeof(int32_t)) == 0,
        "ring attention: the call's segment ids are not this rank's slice of set_batch's");
  Dims d;
  d.B = B_;
  d.C = split_.chunk();
  d.L = L;
  d.H = shape.n_heads;
  d.QD = d.H * shape.head_dim;
  d.KD = KD;
  d.kv_block = B_ * L * KD;
  d.n_heads = shape.n_heads;
  d.n_kv_heads = shape.n_kv_heads;
  d.head_dim = shape.head_dim;
  d.scale = shape.scale;
  d.bf16_products = shape.bf16_products;
  return d;
}

void RingAttention::start(std::vector<Message> sends, std::vector<Message> receives) {
  for (const Message& m : sends) stats_.bytes_sent += m.n * static_cast<int64_t>(sizeof(float));
  ++stats_.exchanges;
  transport_.start(std::move(sends), std::move(receives));
  in_flight_ = true;
  if (stats_.exchanges == fault_at_)
    throw_error("ring attention: fault injected on rank %d at exchange %lld (LONGCTX_RING_FAULT)",
                split_.rank, static_cast<long long>(fault_at_));
}

void RingAttention::wait() {
  Timer t;
  in_flight_ = false;
  transport_.wait();
  stats_.wait_s += t.seconds();
}

template <class Body>
void RingAttention::guarded(Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    if (in_flight_) transport_.fail(e.what());
    throw;
  }
}

namespace {

kernels::AttentionBlockShape block_shape(int64_t T_q, int64_t T_kv, int64_t lse_stride, int n_heads,
                                         int n_kv_heads, int head_dim, float scale, bool bf16) {
  kernels::AttentionBlockShape s;
  s.T_q = T_q;
  s.T_kv = T_kv;
  s.n_heads = n_heads;
  s.n_kv_heads = n_kv_heads;
  s.head_dim = head_dim;
  s.lse_stride = lse_stride;
  s.scale = scale;
  s.bf16_products = bf16;
  return s;
}

}  // namespace

void RingAttention::forward(float* out, float* lse, const float* q, const float* k, const float* v,
                            const kernels::AttentionShape& shape, const int32_t* segment_ids) {
  guarded([&] { forward_steps(out, lse, q, k, v, shape, segment_ids); });
}

void RingAttention::backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                             const float* lse, const float* q, const float* k, const float* v,
                             const kernels::AttentionShape& shape, const int32_t* segment_ids) {
  guarded([&] { backward_steps(dq, dk, dv, dout, out, lse, q, k, v, shape, segment_ids); });
}

void RingAttention::forward_steps(float* out, float* lse, const float* q, const float* k,
                                  const float* v, const kernels::AttentionShape& shape,
                                  const int32_t* segment_ids) {
  const Dims d = check_call(shape, segment_ids);
  const int K = split_.K, r = split_.rank;
  const int next = (r + 1) % K, prev = (r + K - 1) % K;
  Timer compute;
  double waited_before = stats_.wait_s;
  // The first block (rank r-1's) is on its way while the local rows are computed.
  if (K > 1) {
    grow(recv_k_[0], d.kv_block), grow(recv_v_[0], d.kv_block);
    start({{const_cast<float*>(k), d.kv_block, next, kTagK},
           {const_cast<float*>(v), d.kv_block, next, kTagV}},
          {{recv_k_[0].data(), d.kv_block, prev, kTagK},
           {recv_v_[0].data(), d.kv_block, prev, kTagV}});
  }
  kernels::AttentionShape local = shape;
  local.kv_batch_stride = 0;
  kernels::attention_forward(out, lse, q, k, v, local, segment_ids);
  for (int s = 1; s < K; ++s) {
    wait();
    const int src = (r - s + K) % K;
    const float* bk = recv_k_[(s - 1) % 2].data();
    const float* bv = recv_v_[(s - 1) % 2].data();
    if (s + 1 < K) {  // pass this block on while it is used here
      grow(recv_k_[s % 2], d.kv_block), grow(recv_v_[s % 2], d.kv_block);
      start({{const_cast<float*>(bk), d.kv_block, next, kTagK},
             {const_cast<float*>(bv), d.kv_block, next, kTagV}},
            {{recv_k_[s % 2].data(), d.kv_block, prev, kTagK},
             {recv_v_[s % 2].data(), d.kv_block, prev, kTagV}});
    }
    for (int64_t b = 0; b < d.B; ++b) {
      const int64_t qo = b * d.L * d.QD, ko = b * d.L * d.KD, lo = b * d.H * d.L;
      const int32_t* own = segments_of(r, b);
      const int32_t* theirs = segments_of(src, b);
      if (src < r) {  // all local queries over src's front chunk
        kernels::AttentionBlockShape bs = block_shape(d.L, d.C, d.L, d.n_heads, d.n_kv_heads,
                                                      d.head_dim, d.scale, d.bf16_products);
        bs.merge = true;
        kernels::attention_block_forward(out + qo, lse + lo, q + qo, bk + ko, bv + ko, bs, own,
                                         theirs);
      } else {  // the local back chunk over both of src's chunks
        kernels::AttentionBlockShape bs = block_shape(d.C, d.L, d.L, d.n_heads, d.n_kv_heads,
                                                      d.head_dim, d.scale, d.bf16_products);
        bs.merge = true;
        kernels::attention_block_forward(out + qo + d.C * d.QD, lse + lo + d.C, q + qo + d.C * d.QD,
                                         bk + ko, bv + ko, bs, own ? own + d.C : nullptr, theirs);
      }
    }
  }
  stats_.compute_s += compute.seconds() - (stats_.wait_s - waited_before);
}

void RingAttention::backward_steps(float* dq, float* dk, float* dv, const float* dout,
                                   const float* out, const float* lse, const float* q,
                                   const float* k, const float* v,
                                   const kernels::AttentionShape& shape,
                                   const int32_t* segment_ids) {
  const Dims d = check_call(shape, segment_ids);
  const int K = split_.K, r = split_.rank;
  const int next = (r + 1) % K, prev = (r + K - 1) % K;
  kernels::AttentionShape local = shape;
  local.kv_batch_stride = 0;
  if (K == 1) {
    kernels::attention_backward(dq, dk, dv, dout, out, lse, q, k, v, local, segment_ids);
    return;
  }
  Timer compute;
  const double waited_before = stats_.wait_s;
  const int64_t C = d.C, L = d.L;
  grow(recv_k_[0], d.kv_block), grow(recv_v_[0], d.kv_block);
  start(
      {{const_cast<float*>(k), d.kv_block, next, kTagK},
       {const_cast<float*>(v), d.kv_block, next, kTagV}},
      {{recv_k_[0].data(), d.kv_block, prev, kTagK}, {recv_v_[0].data(), d.kv_block, prev, kTagV}});

  // Local part 1: the back chunk's queries over all local keys (the causal kernel with its
  // queries after the first C keys): dq rows [C, 2C) =, dk and dv =. The front chunk's dq rows
  // start at zero; ring steps add to them and local part 2 comes last.
  kernels::AttentionShape back;
  back.B = 1;
  back.T_q = C;
  back.T_kv = L;
  back.n_heads = d.n_heads;
  back.n_kv_heads = d.n_kv_heads;
  back.head_dim = d.head_dim;
  back.scale = d.scale;
  back.bf16_products = d.bf16_products;
  grow(tmp_lse_, d.H * C);
  for (int64_t b = 0; b < d.B; ++b) {
    const int64_t qo = b * L * d.QD, ko = b * L * d.KD, lo = b * d.H * L;
    for (int64_t h = 0; h < d.H; ++h)
      std::memcpy(tmp_lse_.data() + h * C, lse + lo + h * L + C,
                  static_cast<size_t>(C) * sizeof(float));
    kernels::attention_backward(dq + qo + C * d.QD, dk + ko, dv + ko, dout + qo + C * d.QD,
                                out + qo + C * d.QD, tmp_lse_.data(), q + qo + C * d.QD, k + ko,
                                v + ko, back, segment_ids ? segment_ids + b * L : nullptr);
    std::memset(dq + qo, 0, static_cast<size_t>(C * d.QD) * sizeof(float));
  }

  // Ring steps. Step s computes, into part_[s % 2], the dk/dv of rank src = r - s's block:
  // src < r: only its front chunk (B, C, Hkv, D); src > r: both chunks (B, 2C, Hkv, D). The
  // exchange started at step s + 1 returns it to src and brings back what rank r + s computed
  // for this rank's block (back_), added to dk/dv once that exchange completes.
  auto returned_rows = [&](int from) { return r < from ? C : L; };  // rows `from` computed for r
  int64_t back_rows = 0;  // rows of back_ awaiting addition (0: none)
  auto add_back = [&] {
    if (back_rows == 0) return;
    for (int64_t b = 0; b < d.B; ++b) {
      add_rows(dk + b * L * d.KD, back_dk_.data() + b * back_rows * d.KD, back_rows * d.KD);
      add_rows(dv + b * L * d.KD, back_dv_.data() + b * back_rows * d.KD, back_rows * d.KD);
    }
    back_rows = 0;
  };
  for (int s = 1; s <= K; ++s) {
    wait();
    add_back();
    std::vector<Message> sends, receives;
    if (s + 1 < K) {  // pass the key/value block on
      grow(recv_k_[s % 2], d.kv_block), grow(recv_v_[s % 2], d.kv_block);
      sends.push_back({recv_k_[(s - 1) % 2].data(), d.kv_block, next, kTagK});
      sends.push_back({recv_v_[(s - 1) % 2].data(), d.kv_block, next, kTagV});
      receives.push_back({recv_k_[s % 2].data(), d.kv_block, prev, kTagK});
      receives.push_back({recv_v_[s % 2].data(), d.kv_block, prev, kTagV});
    }
    if (s >= 2) {  // return step s-1's dk/dv to its owner, receive ours from rank r + s - 1
      const int owner = (r - (s - 1) + K) % K, from = (r + s - 1) % K;
      const int64_t n_out = d.B * (r > owner ? C : L) * d.KD;
      back_rows = returned_rows(from);
      grow(back_dk_, d.B * back_rows * d.KD), grow(back_dv_, d.B * back_rows * d.KD);
      sends.push_back({part_dk_[(s - 1) % 2].data(), n_out, owner, kTagDk});
      sends.push_back({part_dv_[(s - 1) % 2].data(), n_out, owner, kTagDv});
      receives.push_back({back_dk_.data(), d.B * back_rows * d.KD, from, kTagDk});
      receives.push_back({back_dv_.data(), d.B * back_rows * d.KD, from, kTagDv});
    }
    if (!sends.empty() || !receives.empty()) start(std::move(sends), std::move(receives));
    if (s == K) break;

    const int src = (r - s + K) % K;
    const int64_t rows = src < r ? C : L;  // key rows of src's block that r's queries see
    std::vector<float>& pk = part_dk_[s % 2];
    std::vector<float>& pv = part_dv_[s % 2];
    pk.assign(static_cast<size_t>(d.B * rows * d.KD), 0.0f);
    pv.assign(static_cast<size_t>(d.B * rows * d.KD), 0.0f);
    const float* bk = recv_k_[(s - 1) % 2].data();
    const float* bv = recv_v_[(s - 1) % 2].data();
    for (int64_t b = 0; b < d.B; ++b) {
      const int64_t qo = b * L * d.QD, ko = b * L * d.KD, lo = b * d.H * L;
      const int64_t first = src < r ? 0 : C;  // first local query row
      const int32_t* own = segments_of(r, b);
      const kernels::AttentionBlockShape bs = block_shape(
          L - first, rows, L, d.n_heads, d.n_kv_heads, d.head_dim, d.scale, d.bf16_products);
      kernels::attention_block_backward(dq + qo + first * d.QD, pk.data() + b * rows * d.KD,
                                        pv.data() + b * rows * d.KD, dout + qo + first * d.QD,
                                        out + qo + first * d.QD, lse + lo + first,
                                        q + qo + first * d.QD, bk + ko, bv + ko, bs,
                                        own ? own + first : nullptr, segments_of(src, b));
    }
  }

  // Local part 2, while the last dk/dv return is in flight: the front chunk's queries over
  // the front chunk's keys (causal), added to dq, dk and dv rows [0, C).
  kernels::AttentionShape front = back;
  front.T_kv = C;
  grow(tmp_dq_, C * d.QD), grow(tmp_dk_, C * d.KD), grow(tmp_dv_, C * d.KD);
  for (int64_t b = 0; b < d.B; ++b) {
    const int64_t qo = b * L * d.QD, ko = b * L * d.KD, lo = b * d.H * L;
    for (int64_t h = 0; h < d.H; ++h)
      std::memcpy(tmp_lse_.data() + h * C, lse + lo + h * L,
                  static_cast<size_t>(C) * sizeof(float));
    kernels::attention_backward(tmp_dq_.data(), tmp_dk_.data(), tmp_dv_.data(), dout + qo, out + qo,
                                tmp_lse_.data(), q + qo, k + ko, v + ko, front,
                                segment_ids ? segment_ids + b * L : nullptr);
    add_rows(dq + qo, tmp_dq_.data(), C * d.QD);
    add_rows(dk + ko, tmp_dk_.data(), C * d.KD);
    add_rows(dv + ko, tmp_dv_.data(), C * d.KD);
  }
  wait();
  add_back();
  stats_.compute_s += compute.seconds() - (stats_.wait_s - waited_before);
}

}  // namespace longctx::train
