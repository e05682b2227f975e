// The NCCL backend at world size 1 (a one-GPU machine; NCCL cannot run two ranks on one
// device): every collective, and a DDP step equal to the plain step. Skips without a GPU
// or without libnccl.so.2.
#include <cstdlib>

#include "cuda_test.h"

namespace anneal::test {
namespace {

namespace dist = anneal::distributed;

class NcclTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    if (!dist::nccl_is_available()) GTEST_SKIP() << "libnccl.so.2 does not load here (set ANNEAL_NCCL_LIBRARY)";
    dist::InitOptions o;
    o.backend = "nccl";
    o.rank = 0;  // one rank: its store listens on any free port
    o.world_size = 1;
    pg_ = dist::init_process_group(o);
  }
  void TearDown() override {
    pg_.reset();
    if (dist::is_initialized()) dist::destroy_process_group();
  }
  dist::ProcessGroupPtr pg_;
};

TEST_F(NcclTest, EveryCollectiveAtWorldSizeOne) {
  ASSERT_EQ(pg_->backend_name(), "nccl");
  Tensor x = arange(0, 1000, 1, TensorOptions(DType::Float32, gpu));
  Tensor want = x.cpu();
  for (auto op : {dist::ReduceOp::Sum, dist::ReduceOp::Avg, dist::ReduceOp::Max, dist::ReduceOp::Min}) {
    Tensor t = x.clone();
    pg_->all_reduce(t, op)->wait();
    EXPECT_TRUE(allclose(t.cpu(), want)) << dist::reduce_op_name(op);
  }
  Tensor b = x.clone();
  pg_->broadcast(b, 0)->wait();
  EXPECT_TRUE(allclose(b.cpu(), want));
  Tensor g = zeros({1000}, TensorOptions(DType::Float32, gpu));
  pg_->all_gather_into_tensor(g, x)->wait();
  EXPECT_TRUE(allclose(g.cpu(), want));
  Tensor r = zeros({1000}, TensorOptions(DType::Float32, gpu));
  pg_->reduce_scatter_tensor(r, x, dist::ReduceOp::Sum)->wait();
  EXPECT_TRUE(allclose(r.cpu(), want));
  for (DType dt : {DType::Float16, DType::BFloat16, DType::Float64, DType::Int32, DType::Int64, DType::UInt8}) {
    Tensor t = x.narrow(0, 0, 100).to(dt);
    Tensor before = t.cpu();
    pg_->all_reduce(t)->wait();
    EXPECT_TRUE(equal(t.cpu(), before)) << dtype_name(dt);
  }
  pg_->barrier()->wait();
  // a CPU tensor is refused by name
  Tensor cpu = ones({3});
  EXPECT_THROW(pg_->all_reduce(cpu), DeviceError);
}

TEST_F(NcclTest, DdpStepEqualsThePlainStep) {
  manual_seed(3);
  auto a = nn::make_model("mlp", {{"sizes", "64,128,10"}});
  manual_seed(3);
  auto b = nn::make_model("mlp", {{"sizes", "64,128,10"}});
  a->to(gpu);
  b->to(gpu);
  auto ddp = std::make_shared<dist::DistributedDataParallel>(a, pg_);
  optim::SGD oa(ddp->parameters(), 0.1, 0.9), ob(b->parameters(), 0.1, 0.9);
  for (int step = 0; step < 3; ++step) {
    Tensor x = randn({32, 64}, TensorOptions(DType::Float32, gpu));
    Tensor y = randint(0, 10, {32}, DType::Int64).to(gpu);
    oa.zero_grad();
    ob.zero_grad();
    cross_entropy((*ddp)(x), y).backward();
    cross_entropy((*b)(x), y).backward();
    oa.step();
    ob.step();
  }
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(allclose(pa[i].cpu(), pb[i].cpu(), 1e-6, 1e-6)) << i;
}

}  // namespace
}  // namespace anneal::test
