// The one place that decides how many threads OpenMP and BLAS use.
#pragma once

namespace longctx {

// Sets OpenMP and BLAS thread counts together. n <= 0 means "all cores"
// (or LONGCTX_THREADS when set).
void set_num_threads(int n);
int num_threads();

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
