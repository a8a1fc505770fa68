#include "core/threads.h"

#include <omp.h>

#include <cctype>
#include <cstdlib>
#include <string>
#include <thread>

#if defined(LONGCTX_BLAS_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);
static void blas_set_threads(int n) { openblas_set_num_threads(n); }
static int blas_get_threads() { return openblas_get_num_threads(); }
#elif defined(LONGCTX_BLAS_BLIS)
extern "C" void bli_thread_set_num_threads(long);
extern "C" long bli_thread_get_num_threads(void);
static void blas_set_threads(int n) { bli_thread_set_num_threads(n); }
static int blas_get_threads() { return static_cast<int>(bli_thread_get_num_threads()); }
#else
static void blas_set_threads(int) {}
static int blas_get_threads() { return 1; }
#endif

namespace longctx {

static int g_threads = 0;

void set_num_threads(int n) {
  if (n <= 0) {
    const char* env = std::getenv("LONGCTX_THREADS");
    n = env ? std::atoi(env) : 0;
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
  }
  g_threads = n;
  omp_set_num_threads(n);
  blas_set_threads(n);
}

bool threads_spin_when_idle() {
  static const bool spin = [] {
    const char* env = std::getenv("OMP_WAIT_POLICY");  // what libgomp read at start-up
    std::string v = env ? env : "";
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v != "passive";
  }();
  return spin;
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

BlasSingleThreadGuard::BlasSingleThreadGuard() : previous_(blas_get_threads()) {
  blas_set_threads(1);
}
BlasSingleThreadGuard::~BlasSingleThreadGuard() { blas_set_threads(previous_); }

}  // namespace longctx
