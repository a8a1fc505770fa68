// Evaluate a fixed token sequence with llama.cpp (through node-llama-cpp's prebuilt CPU
// binaries) and write, for each position, llama.cpp's full next-token probability vector.
//
// usage: node check.mjs --model FILE.gguf --ids 1,403,... --out FILE.json [--kv-type F32|F16]
//                     [--flash-attention auto|true|false]
//   --ids: token ids fed as given (put BOS first yourself; nothing is added).
//   --kv-type: llama.cpp's KV-cache storage type; F16 is llama.cpp's default, F32 keeps the
//     cache at the precision longctx uses so only arithmetic order differs.
//   --flash-attention: llama.cpp's default is auto (on for the CPU); its CPU flash-attention
//     kernel rounds to f16 internally, so `--kv-type F32 --flash-attention false` is the
//     all-f32 path.
// Output JSON: {engine, llama_cpp_release, build_type, gpu, kv_type, flash_attention, model, rope_metadata, ids, vocab_size,
//               probs: [positions][vocab_size]}  where probs[i] is the distribution of the
// token after ids[0..i]. Probabilities are llama.cpp's raw logits through a float softmax
// (temperature 0 = greedy sampler, which leaves the logits untouched; no penalties or bias).
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { writeFileSync } from "node:fs";

function parse_args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith("--") || i + 1 >= argv.length) throw new Error(`bad argument '${k}'`);
    a[k.slice(2)] = argv[i + 1];
  }
  for (const k of ["model", "ids", "out"])
    if (a[k] === undefined) throw new Error(`missing --${k}`);
  a["kv-type"] = a["kv-type"] ?? "F16";
  if (!["F32", "F16"].includes(a["kv-type"])) throw new Error(`--kv-type: '${a["kv-type"]}' is not F32 or F16`);
  a["flash-attention"] = a["flash-attention"] ?? "auto";
  if (!["auto", "true", "false"].includes(a["flash-attention"]))
    throw new Error(`--flash-attention: '${a["flash-attention"]}' is not auto, true or false`);
  const fa = a["flash-attention"];
  a.flash = fa === "auto" ? "auto" : fa === "true";
  a.ids = a.ids.split(/[ ,]+/).filter((s) => s.length).map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--ids: '${s}' is not a token id`);
    return v;
  });
  return a;
}

const args = parse_args(process.argv.slice(2));
// build: "never" so a missing prebuilt binary is an error, not a source build or download.
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
const context = await model.createContext({ contextSize: Math.max(64, args.ids.length + 1),
                                            batchSize: args.ids.length, threads: 1, flashAttention: args.flash,
                                            experimentalKvCacheKeyType: args["kv-type"],
                                            experimentalKvCacheValueType: args["kv-type"] });
const sequence = context.getSequence();
const greedy = { probabilities: true, options: { temperature: 0 } };
const out = await sequence.controlledEvaluate(args.ids.map((t) => [t, { generateNext: greedy }]));

let vocab = 0;
for (const o of out) for (const t of o.next.probabilities.keys()) vocab = Math.max(vocab, t + 1);
const probs = out.map((o, i) => {
  if (!o || !o.next.probabilities) throw new Error(`no probabilities at position ${i}`);
  const row = new Array(vocab).fill(0);
  for (const [t, p] of o.next.probabilities) row[t] = p;
  return row;
});
// The llama.rope.* keys as llama.cpp's GGUF reader saw them (e.g. freq_base for ABF).
const rope = model.fileInfo.metadata?.llama?.rope ?? null;
writeFileSync(args.out, JSON.stringify({
  engine: "llama.cpp", llama_cpp_release: llama.llamaCppRelease, build_type: llama.buildType,
  gpu: llama.gpu, kv_type: args["kv-type"], flash_attention: args.flash, model: args.model, rope_metadata: rope, ids: args.ids, vocab_size: vocab, probs,
}));
console.log(`llama.cpp ${JSON.stringify(llama.llamaCppRelease)} (${llama.buildType}, gpu=${llama.gpu}, kv ${args["kv-type"]}, flash attention ${args.flash}):` +
            ` ${probs.length} positions x ${vocab} tokens, llama.rope ${JSON.stringify(rope)} -> ${args.out}`);
await context.dispose();
await model.dispose();
await llama.dispose();
