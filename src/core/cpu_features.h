// What this CPU offers, read with CPUID (x86-64) so every report and benchmark can say
// which machine produced a figure. Features needing operating-system support (AVX,
// AVX-512 register state) are reported as usable only when XGETBV says the OS saves
// those registers.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace longctx {

struct CpuFeatures {
  std::string vendor;  // "AuthenticAMD", "GenuineIntel", ... ("" off x86)
  std::string model;   // brand string, e.g. "AMD EPYC 7B13 64-Core Processor"
  bool sse4_2 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_bf16 = false;

  // Named flags in a fixed order (name, present), for printing and JSON.
  std::vector<std::pair<std::string, bool>> flags() const;
};

// Read once, then cached.
const CpuFeatures& cpu_features();

}  // namespace longctx
