#include "train/trainer.h"

#include <cmath>
#include <csignal>
#include <filesystem>
#include <optional>

#include "core/buffer.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/timer.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "kernels/gemm.h"
#include "kernels/platform.h"
#include "model/llama.h"
#include "rope/rope_gguf.h"
#include "rope/rope_spec.h"
#include "train/batch_feed.h"
#include "train/context_parallel.h"
#include "train/curriculum.h"
#include "train/distributed.h"
#include "train/flops.h"
#include "train/metrics.h"
#include "train/model_setup.h"
#include "train/optimizer.h"
#include "train/run_folder.h"
#include "train/schedule.h"
#include "train/validation.h"

namespace longctx::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signal) {
  g_stop_signal = signal;
}

// SIGINT / SIGTERM ask for a checkpoint and a clean exit after the current step; the handler
// is one-shot, so a second signal ends the process at once.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

json entries_json(const TrainConfig& c) {
  json j = json::object();
  for (const ConfigEntry& e : config_entries(c)) j[e.key] = e.value;
  return j;
}

FeedOptions feed_options(const TrainConfig& c, const Curriculum& plan, int64_t first_step,
                         const io::Tokenizer* tokenizer) {
  FeedOptions f;
  f.plan = plan;
  f.first_step = first_step;
  f.seed = c.seed;
  f.mode = data::parse_pack_mode(c.pack);
  f.upsample = data::parse_bucket_weights(c.upsample);
  f.document_mask = c.document_mask;
  f.document_positions = c.document_positions;
  f.pose_target = c.pose_target;
  f.pose_chunks = c.pose_chunks;
  f.task_share = c.task_share;
  if (c.task_share > 0) f.tasks = parse_task_kinds(c.tasks);
  f.tokenizer = tokenizer;
  return f;
}

}  // namespace

TrainResult run_training(TrainConfig config) {
  Comm& comm = Comm::world();
  if (config.threads > 0) set_num_threads(config.threads);
  resolve_config(config, num_threads());
  kernels::set_matmul_precision(
      kernels::parse_matmul_precision(config.matmul_precision.c_str(), "--matmul-precision"));
  LrSchedule schedule{parse_schedule_kind(config.schedule), config.lr, config.warmup, config.steps,
                      config.min_lr_ratio};
  schedule.validate();
  AdamWOptions adam_options{
      config.beta1, config.beta2, config.adam_eps, config.weight_decay, config.decay_embeddings,
      config.clip};
  adam_options.validate();
  const int K = comm.size();
  const Curriculum curriculum = make_curriculum(config);
  // D data groups of config.context_parallel ranks each (context_parallel.h); a curriculum's
  // short phase has its own ring over the same groups.
  ContextParallel cp(comm, config.context_parallel, config.seq);
  std::optional<ContextParallel> cp_short;
  if (curriculum.active()) cp_short.emplace(comm, config.context_parallel, curriculum.short_seq);
  const ParallelLayout& layout = cp.layout();
  const int64_t streams = curriculum.streams();
  LONGCTX_CHECK(streams % layout.data == 0,
                "--batch-tokens: %lld data streams (micro-batches per step of --seq x "
                "--micro-batch tokens%s) do not divide over %d data-parallel group(s) (%d MPI "
                "ranks / --context-parallel %d)",
                static_cast<long long>(streams),
                curriculum.active() ? ", gcd with those of --short-seq" : "", layout.data, K,
                layout.context);
  const std::vector<DataSource> sources = resolve_sources(config.data);
  ProgressDisplay progress(comm.is_root());

  // The run folder: refuse another configuration, decide resume, record the configuration.
  const RunFolderPlan plan = plan_run_folder(config);
  if (comm.is_root()) {
    for (const std::string& w : plan.warnings) LONGCTX_LOG_WARN("%s", w.c_str());
    write_run_config(config);
  }

  // Model, optimizer and where the data stood.
  std::optional<io::LoadedCheckpoint> checkpoint;
  if (plan.resume) checkpoint.emplace(io::load_checkpoint(plan.checkpoint));
  RunModel run = plan.resume ? model_from_checkpoint(*checkpoint, config)
                             : make_initial_model(config, sources);
  model::LlamaModel& model = run.model;
  if (config.gguf) {  // find out now, not after the training, that GGUF cannot hold this encoding
    try {
      rope::rope_to_gguf(model.config.rope, static_cast<int>(model.config.resolved_head_dim()),
                         model.config.max_seq_len);
    } catch (const Error& e) {
      throw e.with_context("--gguf (RUN/final.gguf would fail after training; the Hugging Face "
                           "folder RUN/final holds this encoding)");
    }
  }
  AdamW optimizer(model.config, adam_options);
  int64_t step = 0, tokens_seen = 0;
  double elapsed_before = 0;
  json data_states = json::object();
  if (checkpoint) {
    LONGCTX_CHECK(checkpoint->adam_m && checkpoint->adam_v,
                  "checkpoint '%s' has no optimizer state", checkpoint->path.c_str());
    optimizer.exp_avg() = std::move(*checkpoint->adam_m);
    optimizer.exp_avg_sq() = std::move(*checkpoint->adam_v);
    step = checkpoint->step;
    optimizer.set_steps_taken(step);
    const json& st = checkpoint->state;
    tokens_seen = st.value("tokens", int64_t{0});
    elapsed_before = st.value("elapsed_s", 0.0);
    data_states = st.value("data", json::object());
    const int stored_world = st.value("world_size", 1);
    if (stored_world != K && comm.is_root())
      LONGCTX_LOG_WARN(
          "the checkpoint was written by %d rank(s), this run has %d: gradient sums "
          "change order, the curve will not be bit-identical",
          stored_world, K);
    checkpoint.reset();
  }
  const io::Tokenizer* tokenizer = run.tokenizer ? &*run.tokenizer : nullptr;
  // The encoding and ring of the phase step `at` trains in.
  auto enter_phase = [&](int64_t at) {
    const bool short_phase = curriculum.window(at) != config.seq;
    model.config.rope = short_phase ? run.short_rope : run.final_rope;
    return short_phase ? &*cp_short : &cp;
  };
  ContextParallel* phase_cp = enter_phase(step + 1);
  progress.line(strformat(
      "longctx %s: %s, %s, %lld parameters, %d rank(s) x %d thread(s)%s; %s",
      run_command_name(config.command), run.origin.c_str(),
      rope::format_rope_spec(model.config.rope).c_str(),
      static_cast<long long>(model.params.size()), K, config.threads,
      cp.active()
          ? strformat(
                " (%d data group(s) x %d context ranks, %lld tokens of each sequence per rank)",
                layout.data, layout.context, static_cast<long long>(config.seq / layout.context))
                .c_str()
          : "",
      plan.resume ? "resuming" : "starting"));
  if (kernels::matmul_precision() == kernels::MatmulPrecision::kBf16)
    progress.line("matrix products: bf16 operands, fp32 accumulation (own GEMM and attention "
                  "tiles: " + kernels::matmul_bf16_method() + ")");
  if (curriculum.active())
    progress.line(strformat("curriculum: steps 1-%lld at window %lld (%s), steps %lld-%lld at %lld "
                            "(%s), %lld tokens per step; validation at %lld",
                            static_cast<long long>(curriculum.short_steps),
                            static_cast<long long>(curriculum.short_seq),
                            rope::format_rope_spec(run.short_rope).c_str(),
                            static_cast<long long>(curriculum.short_steps + 1),
                            static_cast<long long>(config.steps),
                            static_cast<long long>(config.seq),
                            rope::format_rope_spec(run.final_rope).c_str(),
                            static_cast<long long>(config.batch_tokens),
                            static_cast<long long>(config.seq)));

  // Data: this rank's streams (its data group's; the ranks of a group read the same), prefetched.
  std::vector<int64_t> my_streams;
  for (int64_t j = layout.data_rank; j < streams; j += layout.data) my_streams.push_back(j);
  BatchFeed feed(sources, feed_options(config, curriculum, step + 1, tokenizer), my_streams,
                 data_states);
  ValidationSet validation(sources, config, comm);

  std::optional<MetricsLog> metrics;
  if (comm.is_root()) metrics.emplace(config.out, step);
  // Every rank measures at once: the sums are the machine's (or machines') share.
  MatmulPeaks peaks = measure_matmul_peaks(512, 0.2);
  comm.allreduce_sum(&peaks.best_gemm_gflops, 1);
  comm.allreduce_sum(&peaks.fma_gflops, 1);
  const double peak_gflops = config.peak_gflops > 0 ? config.peak_gflops : peaks.best_gemm_gflops;

  model::ParameterSet grads(model.config);
  model::TrainWorkspace ws;
  // Validation runs at --seq: in a short phase it gets its own workspace (ws holds the
  // short window's activations), released at the switch.
  std::optional<model::TrainWorkspace> short_phase_eval_ws;
  model::StepOptions step_options;
  step_options.recompute = config.recompute;
  step_options.position_limit = config.pose_target > 0 ? config.pose_target : 0;

  TrainResult result;
  result.last_step = step;
  auto save = [&](int64_t at_step) {
    const std::vector<std::string> states = comm.gather_strings(feed.consumed_states().dump());
    if (!comm.is_root()) return;
    json data = json::object();
    for (const std::string& s : states) data.update(json::parse(s));
    io::CheckpointSave cs;
    cs.model = &model;
    cs.tokenizer = tokenizer;
    cs.adam_m = &optimizer.exp_avg();
    cs.adam_v = &optimizer.exp_avg_sq();
    cs.step = at_step;
    cs.keep_last = config.keep;
    cs.state = {{"command", run_command_name(config.command)},
                {"config", entries_json(config)},
                {"world_size", K},
                {"tokens", tokens_seen},
                {"elapsed_s", elapsed_before},
                {"data", data}};
    const std::string dir = io::save_checkpoint(config.out, cs);
    metrics->write_loss_svg(
        (fs::path(config.out) / "loss.svg").string(),
        strformat("longctx %s: %s", run_command_name(config.command), config.out.c_str()));
    progress.line(
        strformat("step %lld: checkpoint %s", static_cast<long long>(at_step), dir.c_str()));
  };
  auto evaluate = [&](int64_t at_step) {
    model::TrainWorkspace* eval_ws = &ws;
    if (phase_cp != &cp) {
      if (!short_phase_eval_ws) short_phase_eval_ws.emplace();
      eval_ws = &*short_phase_eval_ws;
    }
    const double v = validation.loss(model, *eval_ws, config, cp);
    if (comm.is_root() && v >= 0)
      progress.line(
          strformat("step %lld: validation loss %.4f", static_cast<long long>(at_step), v));
    return v;
  };

  StopSignals signals;
  Timer run_timer;
  if (step == 0 && config.eval_every > 0 && validation.available()) {
    const double v = evaluate(0);
    if (metrics) metrics->append({{"step", 0}, {"val_loss", v}, {"elapsed_s", 0.0}});
  }
  const int64_t step_tokens = config.batch_tokens;
  while (step < config.steps) {
    int64_t stop = g_stop_signal;
    comm.allreduce_max(&stop, 1);  // every rank stops after the same step
    if (stop != 0) {
      elapsed_before += run_timer.seconds(), run_timer.reset();
      save(step);
      result.interrupted = true;
      progress.line(
          strformat("stopped by signal %lld after step %lld; re-run the same command to "
                    "resume",
                    static_cast<long long>(stop), static_cast<long long>(step)));
      return result;
    }
    if (curriculum.active() && step == curriculum.short_steps && step > 0) {
      phase_cp = enter_phase(step + 1);
      short_phase_eval_ws.reset();
      progress.line(strformat("step %lld: switching to window %lld (%s)",
                              static_cast<long long>(step + 1), static_cast<long long>(config.seq),
                              rope::format_rope_spec(model.config.rope).c_str()));
    }
    const int64_t T = curriculum.window(step + 1);
    const int64_t local_seq = T / layout.context;
    Timer step_timer;
    const double cpu_before = process_cpu_seconds();
    // This rank's rows of each micro-batch (all of them without context parallelism).
    std::vector<LocalBatch> batches(my_streams.size() *
                                    static_cast<size_t>(curriculum.rounds(step + 1)));
    double sums[2] = {0, 0};  // valid targets, loss sum
    for (LocalBatch& local : batches) {
      const MicroBatch mb = feed.take();
      LONGCTX_CHECK(mb.step == step + 1 && mb.seq_len == T,
                    "internal: data stream %lld gave a micro-batch of step %lld (window %lld) "
                    "to step %lld (window %lld)",
                    static_cast<long long>(mb.stream), static_cast<long long>(mb.step),
                    static_cast<long long>(mb.seq_len), static_cast<long long>(step + 1),
                    static_cast<long long>(T));
      phase_cp->slice(local, mb.tokens.data(), mb.targets.data(),
               mb.segment_ids.empty() ? nullptr : mb.segment_ids.data(),
               mb.position_ids.empty() ? nullptr : mb.position_ids.data(), config.micro_batch);
      sums[0] += static_cast<double>(local.n_valid);
    }
    const double data_s = step_timer.seconds();  // waiting for the prefetch thread + slicing
    comm.allreduce_sum(sums, 1);
    step_options.grad_normalizer = static_cast<int64_t>(sums[0]);
    grads.zero();
    const RingStats ring_before = phase_cp->ring() ? phase_cp->ring()->stats() : RingStats{};
    for (const LocalBatch& local : batches) {
      phase_cp->bind(local, step_options);
      const kernels::LossSum ls =
          model::forward_backward(model, grads, local.tokens.data(), local.targets.data(),
                                  config.micro_batch, local_seq, step_options, ws);
      sums[1] += ls.loss_sum;
    }
    const double forward_backward_s = step_timer.seconds() - data_s;
    comm.allreduce_sum(grads.data(), static_cast<int64_t>(grads.size()));
    double loss_sum = sums[1];
    comm.allreduce_sum(&loss_sum, 1);
    ++step;
    const double loss = loss_sum / std::max(sums[0], 1.0);
    const double grad_norm = AdamW::global_norm(grads);
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      const auto kept = io::list_checkpoints(config.out);
      throw DivergenceError(strformat(
          "diverged at step %lld: loss %g, gradient norm %g; no checkpoint written for it, the "
          "last good one is %s (lower --lr, raise --warmup or --clip, then re-run)",
          static_cast<long long>(step), loss, grad_norm,
          kept.empty() ? "none" : kept.back().c_str()));
    }
    const double lr = schedule.lr_at(step);
    const OptimizerStepStats stats = optimizer.step(model.params, grads, lr, grad_norm);
    const double seconds = step_timer.seconds();
    const double cpu_seconds = process_cpu_seconds() - cpu_before;
    tokens_seen += step_tokens;
    result.last_step = step;
    result.last_loss = loss;

    const double tok_s = static_cast<double>(step_tokens) / seconds;
    const double flops_per_token = model_flops_per_token(model.config, T);
    json line = {{"step", step},
                 {"seq", T},
                 {"loss", loss},
                 {"lr", lr},
                 {"grad_norm", grad_norm},
                 {"clip_scale", stats.clip_scale},
                 {"tokens", tokens_seen},
                 {"train_flops", curriculum_flops(curriculum, model.config, step)},
                 {"step_s", seconds},
                 {"data_s", data_s},
                 {"forward_backward_s", forward_backward_s},
                 {"update_s", seconds - data_s - forward_backward_s},
                 {"step_cpu_s", cpu_seconds},
                 {"tokens_per_s", tok_s},
                 {"mfu", flops_per_token * tok_s / (peak_gflops * 1e9)},
                 {"mfu_vs_fma_peak", flops_per_token * tok_s / (peaks.fma_gflops * 1e9)},
                 {"peak_rss_bytes", peak_rss_bytes()},
                 {"elapsed_s", elapsed_before + run_timer.seconds()}};
    if (K > 1) {  // the largest peak of any rank; the CPU time of all ranks together
      int64_t peak = static_cast<int64_t>(peak_rss_bytes());
      comm.allreduce_max(&peak, 1);
      line["peak_rss_max_bytes"] = peak;
      double cpu_all = cpu_seconds;
      comm.allreduce_sum(&cpu_all, 1);
      line["step_cpu_s_all_ranks"] = cpu_all;
    }
    if (phase_cp->ring()) {  // rank 0's ring: time its main thread waited, bytes sent
      const RingStats& now = phase_cp->ring()->stats();
      line["ring_wait_s"] = now.wait_s - ring_before.wait_s;
      line["ring_attention_s"] = now.compute_s - ring_before.compute_s;
      line["ring_bytes_sent"] = now.bytes_sent - ring_before.bytes_sent;
    }
    const bool last = step == config.steps;
    if (validation.available() &&
        ((config.eval_every > 0 && step % config.eval_every == 0) || last)) {
      const double v = evaluate(step);
      line["val_loss"] = v;
      result.last_val_loss = v;
    }
    if (metrics) {
      metrics->append(line);
      progress.step(step, config.steps, loss, lr, tok_s,
                    seconds * static_cast<double>(config.steps - step));
    }
    if (step % config.save_every == 0 || last) {
      elapsed_before += run_timer.seconds(), run_timer.reset();
      save(step);
    }
  }

  // The trained model, as a Hugging Face folder (and GGUF when asked).
  result.final_dir = (fs::path(config.out) / "final").string();
  if (comm.is_root()) {
    io::save_hf_model(model, tokenizer, result.final_dir);
    if (config.gguf)
      io::save_gguf_model(model, tokenizer, (fs::path(config.out) / "final.gguf").string());
    progress.line(strformat("done: %lld steps, loss %.4f%s; model in %s%s",
                            static_cast<long long>(step), result.last_loss,
                            result.last_val_loss >= 0
                                ? strformat(", validation loss %.4f", result.last_val_loss).c_str()
                                : "",
                            result.final_dir.c_str(), config.gguf ? " and final.gguf" : ""));
  }
  comm.barrier();
  return result;
}

}  // namespace longctx::train
