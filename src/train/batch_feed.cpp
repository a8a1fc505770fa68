#include "train/batch_feed.h"

#include <algorithm>

#include "core/error.h"
#include "core/hash.h"
#include "train/positions.h"

namespace longctx::train {

namespace {
// Independent draws per (seed, stream, sequence, purpose).
uint64_t draw(uint64_t seed, int64_t stream, int64_t sequence, uint64_t purpose) {
  return mix64(seed ^ mix64(static_cast<uint64_t>(stream) * 0x100000001B3ull ^
                            mix64(static_cast<uint64_t>(sequence) ^ (purpose << 56))));
}
double unit(uint64_t x) {
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}  // [0, 1)
}  // namespace

DataStream::DataStream(const std::vector<DataSource>& sources, const FeedOptions& options,
                       int64_t stream)
    : sources_(sources), options_(options), stream_(stream) {
  LONGCTX_CHECK(!(options.pose_target > 0 && options.document_positions),
                "--pose-target and --document-positions cannot be combined");
  double total = 0;
  for (const DataSource& s : sources) total += s.share;
  double acc = 0;
  for (const DataSource& s : sources) {
    acc += s.share / total;
    cumulative_share_.push_back(acc);
  }
  cumulative_share_.back() = 1.0;
  LONGCTX_CHECK(options.task_share == 0 || options.tokenizer != nullptr,
                "--task-share: synthetic tasks need a tokenizer (tokenizer.model in the --data "
                "folder)");
  open(options.plan.window(options.first_step));
}

void DataStream::open(int64_t T) {
  window_ = T;
  const int64_t streams = options_.plan.streams();
  samplers_.clear();
  for (const DataSource& s : sources_) {
    data::SamplerOptions so;
    so.seq_len = T;
    so.mode = options_.mode;
    so.seed = options_.seed;
    so.rank = static_cast<int>(stream_);
    so.world_size = static_cast<int>(streams);
    so.upsample = options_.upsample;
    so.bos_id = s.bos_id;
    so.eos_id = s.eos_id;
    so.pad_id = s.pad_id;
    try {
      samplers_.push_back(
          std::make_unique<data::SequenceSampler>(std::vector<std::string>{s.train_prefix}, so));
    } catch (const Error& e) {
      throw e.with_context(strformat("--data '%s' (data stream %lld of %lld)", s.dir.c_str(),
                                     static_cast<long long>(stream_),
                                     static_cast<long long>(streams)));
    }
  }
  tasks_.reset();
  if (options_.task_share > 0)
    tasks_ = std::make_unique<TaskSequenceMaker>(
        options_.tasks, *options_.tokenizer, sources_.front().train_prefix,
        TaskSequenceOptions{T, sources_.front().eos_id, sources_.front().pad_id});
}

void DataStream::set_window(int64_t T) {
  if (T == window_) return;
  const nlohmann::json position = state();
  open(T);
  restore(position);
}

void DataStream::next_sequence(data::Sequence& seq, int32_t* positions) {
  const int64_t T = window_, n = sequences_++;
  if (tasks_ && unit(draw(options_.seed, stream_, n, 1)) < options_.task_share) {
    tasks_->make(seq, draw(options_.seed, stream_, n, 2));
  } else {
    const double u = unit(draw(options_.seed, stream_, n, 3));
    size_t source = 0;
    while (source + 1 < cumulative_share_.size() && u >= cumulative_share_[source]) ++source;
    samplers_[source]->next(seq);
  }
  if (positions == nullptr) return;
  if (options_.pose_target > 0)
    pose_positions(positions, T, options_.pose_target, options_.pose_chunks,
                   draw(options_.seed, stream_, n, 4));
  else
    document_positions(positions, seq.segment_ids.data(), T);
}

void DataStream::next(MicroBatch& out) {
  const int64_t B = options_.plan.micro_batch, T = window_;
  const size_t N = static_cast<size_t>(B * T);
  const bool positions = options_.pose_target > 0 || options_.document_positions;
  out.stream = stream_;
  out.seq_len = T;
  out.tokens.resize(N);
  out.targets.resize(N);
  out.segment_ids.resize(options_.document_mask ? N : 0);
  out.position_ids.resize(positions ? N : 0);
  out.n_valid = 0;
  data::Sequence seq;
  for (int64_t b = 0; b < B; ++b) {
    const size_t row = static_cast<size_t>(b * T);
    next_sequence(seq, positions ? out.position_ids.data() + row : nullptr);
    std::copy(seq.inputs.begin(), seq.inputs.end(), out.tokens.begin() + row);
    std::copy(seq.targets.begin(), seq.targets.end(), out.targets.begin() + row);
    if (options_.document_mask)
      std::copy(seq.segment_ids.begin(), seq.segment_ids.end(), out.segment_ids.begin() + row);
    for (int32_t t : seq.targets) out.n_valid += t != -1;
  }
  out.state_after = state();
}

nlohmann::json DataStream::state() const {
  nlohmann::json cursors = nlohmann::json::array();
  for (const auto& s : samplers_) cursors.push_back(s->cursor_json());
  return {{"stream", stream_}, {"sequences", sequences_}, {"samplers", cursors}};
}

void DataStream::restore(const nlohmann::json& state) {
  try {
    LONGCTX_CHECK(state.at("stream").get<int64_t>() == stream_,
                  "state of data stream %lld given to stream %lld",
                  static_cast<long long>(state.at("stream").get<int64_t>()),
                  static_cast<long long>(stream_));
    const nlohmann::json& cursors = state.at("samplers");
    LONGCTX_CHECK(cursors.size() == samplers_.size(),
                  "data stream %lld: the checkpoint has %zu sources, this run %zu",
                  static_cast<long long>(stream_), cursors.size(), samplers_.size());
    for (size_t i = 0; i < samplers_.size(); ++i) {
      // The cursor's position (epoch, document, offset) is the same in any window; the
      // window is the only field of its configuration that a curriculum changes.
      nlohmann::json cursor = cursors[i];
      cursor.at("config")["seq_len"] = window_;
      samplers_[i]->restore(cursor);
    }
    sequences_ = state.at("sequences").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw_error("data stream %lld: malformed state in the checkpoint: %s",
                static_cast<long long>(stream_), e.what());
  }
}

BatchFeed::BatchFeed(const std::vector<DataSource>& sources, const FeedOptions& options,
                     std::vector<int64_t> streams, const nlohmann::json& states)
    : options_(options) {
  // Two steps' worth (the short phase's, which has the most micro-batches) of prefetch.
  const Curriculum& plan = options.plan;
  const int64_t rounds = std::max(plan.rounds(1), plan.rounds(plan.short_steps + 1));
  capacity_ = std::max<size_t>(2, 2 * streams.size() * static_cast<size_t>(rounds));
  for (int64_t s : streams) {
    streams_.push_back(std::make_unique<DataStream>(sources, options, s));
    const std::string key = std::to_string(s);
    if (states.is_object() && states.contains(key)) streams_.back()->restore(states[key]);
    consumed_[key] = streams_.back()->state();
  }
  worker_ = std::thread([this] { produce(); });
}

BatchFeed::~BatchFeed() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void BatchFeed::produce() {
  try {
    for (int64_t step = options_.first_step;; ++step) {
      const int64_t T = options_.plan.window(step), rounds = options_.plan.rounds(step);
      for (auto& stream : streams_) stream->set_window(T);
      for (int64_t r = 0; r < rounds; ++r)
        for (auto& stream : streams_) {
          MicroBatch mb;
          stream->next(mb);
          mb.step = step;
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || queue_.size() < capacity_; });
          if (stop_) return;
          queue_.push_back(std::move(mb));
          changed_.notify_all();
        }
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

MicroBatch BatchFeed::take() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !queue_.empty() || error_ != nullptr; });
  if (queue_.empty()) std::rethrow_exception(error_);
  MicroBatch mb = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  lock.unlock();
  consumed_[std::to_string(mb.stream)] = mb.state_after;
  return mb;
}

}  // namespace longctx::train
