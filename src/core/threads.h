// The one place that decides how many threads OpenMP and BLAS use.
#pragma once

namespace longctx {

// Sets OpenMP and BLAS thread counts together. n <= 0 means "all cores"
// (or LONGCTX_THREADS when set).
void set_num_threads(int n);
int num_threads();

// Whether idle OpenMP workers spin before they sleep (libgomp's default and
// OMP_WAIT_POLICY=active) rather than sleep at once (OMP_WAIT_POLICY=passive, the setting
// for shared cores). With spinning workers a parallel region costs microseconds; with
// sleeping ones each region wakes them through the kernel, tens of microseconds, which
// kernels that open a region per small call (decode) weigh against the work.
bool threads_spin_when_idle();

// Runs BLAS single-threaded for the lifetime of the guard (used inside our own
// OpenMP parallel regions so the two pools do not oversubscribe the cores).
class BlasSingleThreadGuard {
 public:
  BlasSingleThreadGuard();
  ~BlasSingleThreadGuard();
  BlasSingleThreadGuard(const BlasSingleThreadGuard&) = delete;
  BlasSingleThreadGuard& operator=(const BlasSingleThreadGuard&) = delete;

 private:
  int previous_;
};

}  // namespace longctx
