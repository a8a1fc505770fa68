#include "core/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LONGCTX_X86 1
#endif

namespace longctx {

std::vector<std::pair<std::string, bool>> CpuFeatures::flags() const {
  return {{"sse4_2", sse4_2},     {"avx", avx},
          {"avx2", avx2},         {"fma", fma},
          {"f16c", f16c},         {"bmi2", bmi2},
          {"avx512f", avx512f},   {"avx512bw", avx512bw},
          {"avx512vl", avx512vl}, {"avx512dq", avx512dq},
          {"avx512_vnni", avx512_vnni}, {"avx512_bf16", avx512_bf16},
          {"avx512_fp16", avx512_fp16}, {"amx_bf16", amx_bf16}};
}

namespace {

#if LONGCTX_X86
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};
Regs cpuid(uint32_t leaf, uint32_t sub) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}
bool bit(uint32_t v, int i) { return (v >> i) & 1u; }
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}
#endif

CpuFeatures read_features() {
  CpuFeatures f;
#if LONGCTX_X86
  const uint32_t max_leaf = cpuid(0, 0).a;
  {
    const Regs v = cpuid(0, 0);
    char name[13] = {};
    std::memcpy(name, &v.b, 4);
    std::memcpy(name + 4, &v.d, 4);
    std::memcpy(name + 8, &v.c, 4);
    f.vendor = name;
  }
  if (cpuid(0x80000000u, 0).a >= 0x80000004u) {
    char brand[49] = {};
    for (uint32_t i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i, 0);
      std::memcpy(brand + 16 * i, &r.a, 4);
      std::memcpy(brand + 16 * i + 4, &r.b, 4);
      std::memcpy(brand + 16 * i + 8, &r.c, 4);
      std::memcpy(brand + 16 * i + 12, &r.d, 4);
    }
    f.model = brand;
    const size_t first = f.model.find_first_not_of(' ');
    f.model = first == std::string::npos ? "" : f.model.substr(first);
    while (!f.model.empty() && f.model.back() == ' ') f.model.pop_back();
  }
  const Regs l1 = cpuid(1, 0);
  f.sse4_2 = bit(l1.c, 20);
  const bool osxsave = bit(l1.c, 27);
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;            // XMM and YMM state
  const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;       // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;    // XTILECFG, XTILEDATA
  f.avx = os_avx && bit(l1.c, 28);
  f.fma = os_avx && bit(l1.c, 12);
  f.f16c = os_avx && bit(l1.c, 29);
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = os_avx && bit(l7.b, 5);
    f.bmi2 = bit(l7.b, 8);
    f.avx512f = os_avx512 && bit(l7.b, 16);
    f.avx512dq = os_avx512 && bit(l7.b, 17);
    f.avx512bw = os_avx512 && bit(l7.b, 30);
    f.avx512vl = os_avx512 && bit(l7.b, 31);
    f.avx512_vnni = os_avx512 && bit(l7.c, 11);
    f.avx512_fp16 = os_avx512 && bit(l7.d, 23);
    f.amx_bf16 = os_amx && bit(l7.d, 22);
    if (l7.a >= 1) f.avx512_bf16 = os_avx512 && bit(cpuid(7, 1).a, 5);
  }
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = read_features();
  return features;
}

}  // namespace longctx
