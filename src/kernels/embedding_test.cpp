#include "kernels/embedding.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/reference.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

using testing::convert;

TEST(Embedding, ForwardCopiesRowsExactly) {
  const int64_t N = 7, C = 13, V = 5;
  auto table = testing::random_normal<float>(V * C, 1);
  auto tokens = testing::random_ints(N, 2, 0, static_cast<int32_t>(V - 1));
  std::vector<float> out(N * C);
  embedding_forward(out.data(), tokens.data(), table.data(), N, C, V);
  std::vector<double> ref_out(N * C);
  auto table_d = convert<double>(table);
  ref::embedding_forward(ref_out.data(), tokens.data(), table_d.data(), N, C, V);
  EXPECT_EQ(testing::max_abs_diff(out, ref_out), 0.0);  // a copy is exact
}

TEST(Embedding, BadTokenThrows) {
  const int64_t C = 4, V = 3;
  std::vector<float> table(V * C), out(2 * C);
  for (int32_t bad : {-1, 3}) {
    std::vector<int32_t> tokens = {0, bad};
    EXPECT_THROW(embedding_forward(out.data(), tokens.data(), table.data(), 2, C, V), Error);
  }
}

// Repeated tokens must sum; dtable accumulates (+=) onto what is there.
TEST(Embedding, BackwardScatterAddsAndMatchesReference) {
  for (int64_t N : {1, 7, 300}) {
    const int64_t C = 130, V = 6;  // C > one 64-column block, V small so tokens repeat
    auto dout = testing::random_normal<float>(N * C, 3 + N);
    auto tokens = testing::random_ints(N, 4 + N, 0, static_cast<int32_t>(V - 1));
    auto dtable = testing::random_normal<float>(V * C, 5);
    auto ref_dtable = convert<double>(dtable);
    embedding_backward(dtable.data(), dout.data(), tokens.data(), N, C);
    auto dout_d = convert<double>(dout);
    ref::embedding_backward(ref_dtable.data(), dout_d.data(), tokens.data(), N, C);
    EXPECT_LT(testing::max_rel_error(dtable, ref_dtable), 1e-6) << "N=" << N;
  }
}

// The backward is the adjoint of the forward: <dout, E(table)> = <scatter(dout), table>.
TEST(Embedding, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t N = 5, C = 3, V = 4;
  auto tokens = std::vector<int32_t>{1, 3, 1, 0, 1};
  auto dout = testing::random_normal<double>(N * C, 6);
  auto table = testing::random_normal<double>(V * C, 7);
  auto loss = [&](const std::vector<double>& t) {
    std::vector<double> out(N * C);
    ref::embedding_forward(out.data(), tokens.data(), t.data(), N, C, V);
    return testing::dot(out.data(), dout.data(), N * C);
  };
  auto fd = testing::finite_difference_gradient(loss, table, 1e-5);
  std::vector<double> grad(V * C, 0.0);
  ref::embedding_backward(grad.data(), dout.data(), tokens.data(), N, C);
  EXPECT_LT(testing::max_abs_diff(grad, fd), 1e-8);  // linear: FD exact up to rounding
}

TEST(Embedding, BackwardIdenticalAcrossThreadCounts) {
  const int64_t N = 2000, C = 257, V = 50;
  auto dout = testing::random_normal<float>(N * C, 8);
  auto tokens = testing::random_ints(N, 9, 0, static_cast<int32_t>(V - 1));
  const int saved = num_threads();
  std::vector<float> a(V * C, 0.0f), b(V * C, 0.0f);
  set_num_threads(1);
  embedding_backward(a.data(), dout.data(), tokens.data(), N, C);
  set_num_threads(2);
  embedding_backward(b.data(), dout.data(), tokens.data(), N, C);
  set_num_threads(saved);
  EXPECT_EQ(testing::max_abs_diff(a, b), 0.0);
}

}  // namespace
}  // namespace longctx::kernels
