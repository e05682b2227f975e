// GPU tests: built whenever the CUDA backend is; each skips with a message when this
// machine has no CUDA device.
#include <gtest/gtest.h>

#include "anneal.h"
#include "cuda_test.h"

using namespace anneal;

namespace {

using Cuda = anneal::test::CudaTest;

TEST(CudaProbe, CountIsNeverAnError) {
  int n = cuda_device_count();  // no driver, no device: 0, not a crash
  EXPECT_GE(n, 0);
  EXPECT_EQ(cuda_is_available(), n > 0);
}

TEST_F(Cuda, RoundTripThroughDeviceMemory) {
  Tensor h = arange(1000, TensorOptions(DType::Float32));
  Tensor d = h.to(Device("cuda:0"));
  EXPECT_EQ(d.device(), Device("cuda:0"));
  EXPECT_TRUE(equal(d.cpu(), h));
}

TEST_F(Cuda, FillAndAllocatorStatistics) {
  Tensor z = zeros({256}, TensorOptions(DType::Float32, Device("cuda:0")));
  EXPECT_TRUE(equal(z.cpu(), zeros({256})));
  MemoryStats s = allocator_for(Device("cuda:0"))->stats();
  EXPECT_GE(s.allocated_bytes, 1024);
}

TEST_F(Cuda, SmallTensorsShareSegmentsAndFreedBlocksAreReused) {
  Allocator* a = allocator_for(Device("cuda:0"));
  a->empty_cache();
  const MemoryStats before = a->stats();
  std::vector<Tensor> small;
  for (int i = 0; i < 64; ++i) small.push_back(empty({1000}, TensorOptions(DType::Float32, Device("cuda:0"))));
  // 64 x 4 KB come out of one or two 2 MB segments, not 64 cudaMalloc calls
  EXPECT_LE(a->stats().num_system_allocs - before.num_system_allocs, 2);
  const int64_t after_first = a->stats().num_system_allocs;
  small.clear();
  for (int i = 0; i < 64; ++i) small.push_back(empty({1000}, TensorOptions(DType::Float32, Device("cuda:0"))));
  EXPECT_EQ(a->stats().num_system_allocs, after_first);  // all from the cache
}

TEST_F(Cuda, RecordStreamDefersReuseUntilTheStreamIsDone) {
  allocator_for(Device("cuda:0"))->empty_cache();  // no other free 16 MB block to pick
  CudaStream side = CudaStream::create(0);
  Tensor x = randn({2048, 2048}, TensorOptions(DType::Float32, Device("cuda:0")));
  void* where = x.data_ptr();
  Tensor y;
  {
    CudaStreamGuard g(side);
    y = matmul(x, x);
  }
  record_stream(x, side);
  x = Tensor();
  side.synchronize();  // the side stream's work is done: the block is free again
  Tensor z = empty({2048, 2048}, TensorOptions(DType::Float32, Device("cuda:0")));
  EXPECT_EQ(z.data_ptr(), where);
  EXPECT_THROW(record_stream(ones({2}), side), DeviceError);
}

TEST_F(Cuda, MixingDevicesIsAnError) {
  Tensor d = ones({4}, TensorOptions(DType::Float32, Device("cuda:0")));
  EXPECT_TRUE(allclose(exp(d).cpu(), exp(ones({4}))));
  EXPECT_THROW(add(d, ones({4})), DeviceError);
}

TEST_F(Cuda, SameSeedSameRandomNumbersAsTheCpu) {
  // Philox counters: uniform draws (and so dropout masks) are bitwise the CPU's
  Generator a(42), b(42);
  Tensor cpu = rand({1000}, TensorOptions(DType::Float32), &a);
  Tensor gpu = rand({1000}, TensorOptions(DType::Float32, Device("cuda:0")), &b);
  EXPECT_TRUE(equal(gpu.cpu(), cpu));
}

TEST_F(Cuda, BadIndexIsAnIndexErrorAndTheDeviceStaysUsable) {
  Tensor x = arange(10, TensorOptions(DType::Float32)).to(Device("cuda:0"));
  Tensor idx = tensor({1.0, 12.0}, TensorOptions(DType::Float64)).to(DType::Int64).to(Device("cuda:0"));
  EXPECT_THROW(index_select(x, 0, idx), IndexError);
  EXPECT_TRUE(equal(x.cpu(), arange(10, TensorOptions(DType::Float32))));
}

TEST_F(Cuda, OutOfMemoryIsAClearErrorAndRecoverable) {
  try {
    Tensor huge = empty({int64_t(1) << 45}, TensorOptions(DType::Float32, Device("cuda:0")));  // 128 TiB
    FAIL() << "allocating 128 TiB should fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA out of memory"), std::string::npos) << e.what();
  }
  Tensor ok = ones({1024}, TensorOptions(DType::Float32, Device("cuda:0")));
  EXPECT_EQ(sum(ok).item<double>(), 1024.0);
}

TEST_F(Cuda, PinnedHostMemoryRoundTrip) {
  Tensor h = arange(4096, TensorOptions(DType::Float32));
  Tensor p = h.pin_memory();
  EXPECT_TRUE(p.is_pinned());
  EXPECT_FALSE(h.is_pinned());
  Tensor d = p.to(Device("cuda:0"));
  EXPECT_TRUE(equal(d.cpu(), h));
  MemoryStats s = pinned_host_allocator()->stats();
  EXPECT_GE(s.allocated_bytes, 4096 * 4);
}

TEST_F(Cuda, Tf32IsOptInAndClose) {
  Tensor a = randn({256, 256}), b = randn({256, 256});
  Tensor exact = matmul(a.to(DType::Float64), b.to(DType::Float64));
  Tensor ga = a.to(Device("cuda:0")), gb = b.to(Device("cuda:0"));
  EXPECT_FALSE(cuda_allow_tf32());
  EXPECT_TRUE(allclose(matmul(ga, gb).cpu().to(DType::Float64), exact, 1e-4, 1e-4));
  cuda_set_allow_tf32(true);
  Tensor tf32 = matmul(ga, gb).cpu().to(DType::Float64);
  cuda_set_allow_tf32(false);
  EXPECT_TRUE(allclose(tf32, exact, 2e-2, 5e-2));
}

TEST(CudaStreams, WithoutADeviceTheyAreDeviceErrors) {
  if (cuda_is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(CudaStream::create(0), DeviceError);
  EXPECT_THROW(CudaEvent(0), DeviceError);
}

TEST_F(Cuda, StreamsOrderWorkAndEventsTimeIt) {
  CudaStream s = CudaStream::create(0);
  EXPECT_EQ(CudaStream::current(0), CudaStream::default_stream(0));
  Tensor a = randn({1024, 1024}, TensorOptions(DType::Float32, Device("cuda:0")));
  CudaEvent start(0), end(0);
  Tensor c;
  {
    CudaStreamGuard g(s);
    EXPECT_EQ(CudaStream::current(0), s);
    start.record();
    c = matmul(a, a) + 1.0;
    end.record();
  }
  EXPECT_EQ(CudaStream::current(0), CudaStream::default_stream(0));  // restored
  s.synchronize();
  EXPECT_TRUE(s.query());
  EXPECT_TRUE(end.query());
  EXPECT_GT(start.elapsed_ms(end), 0.0);
  Tensor ref = matmul(a.cpu(), a.cpu()) + 1.0;
  EXPECT_TRUE(allclose(c.cpu(), ref, 1e-3, 1e-3));
}

TEST_F(Cuda, BadDeviceIndexIsAnError) {
  EXPECT_THROW(zeros({1}, TensorOptions(DType::Float32, Device("cuda:" + std::to_string(cuda_device_count())))),
               DeviceError);
}

}  // namespace

namespace {

// The 16-byte elementwise path: every length around the vector width (tails), scalars
// broadcast into it, unaligned views that must take the plain path, each dtype size.
TEST_F(Cuda, VectorizedElementwiseMatchesTheCpuForEveryTailAndAlignment) {
  const Device gpu("cuda:0");
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    for (int64_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 1000, 4099}) {
      Tensor a = randn({n + 1}).to(dt), b = randn({n + 1}).to(dt);
      Tensor ga = a.to(gpu), gb = b.to(gpu);
      const double tol = dt == DType::Float16 || dt == DType::BFloat16 ? 1e-2 : 1e-6;
      // aligned, both contiguous
      EXPECT_TRUE(allclose(add(ga, gb).cpu(), add(a, b), tol, tol)) << dtype_name(dt) << " n=" << n;
      // a broadcast scalar operand
      Tensor s = tensor({2.5}).to(dt);
      EXPECT_TRUE(allclose(mul(ga, s.to(gpu)).cpu(), mul(a, s), tol, tol)) << dtype_name(dt) << " n=" << n;
      // views starting one element in: not 16-byte aligned
      Tensor va = ga.narrow(0, 1, n), vb = gb.narrow(0, 1, n);
      EXPECT_TRUE(allclose(sub(va, vb).cpu(), sub(a.narrow(0, 1, n), b.narrow(0, 1, n)), tol, tol))
          << dtype_name(dt) << " n=" << n;
      EXPECT_TRUE(allclose(exp(va).cpu(), exp(a.narrow(0, 1, n)), tol, tol)) << dtype_name(dt) << " n=" << n;
    }
  }
  Tensor bytes = arange(37, TensorOptions(DType::Float32)).to(DType::UInt8);
  EXPECT_TRUE(equal(add(bytes.to(gpu), bytes.to(gpu)).cpu(), add(bytes, bytes)));
}

}  // namespace

namespace {

// Convolutions (cuDNN when the build has it, else im2col + cuBLAS) against the CPU,
// forward and both gradients, over strides, padding, dilation and groups.
TEST_F(Cuda, Conv2dMatchesTheCpuForwardAndBackward) {
  struct Case {
    int64_t n, c, h, w, o, k, stride, pad, dil, groups;
  };
  const Case cases[] = {{2, 3, 9, 9, 4, 3, 1, 1, 1, 1},  {3, 4, 8, 7, 6, 3, 2, 0, 1, 2}, {1, 6, 11, 11, 6, 3, 1, 2, 2, 6},
                        {2, 8, 5, 5, 16, 1, 1, 0, 1, 1}, {4, 1, 28, 28, 8, 5, 1, 2, 1, 1}};
  for (DType dt : {DType::Float64, DType::Float32}) {
    for (const Case& c : cases) {
      Tensor x = randn({c.n, c.c, c.h, c.w}).to(dt), w = randn({c.o, c.c / c.groups, c.k, c.k}).to(dt);
      Tensor b = randn({c.o}).to(dt);
      auto run = [&](const Device& d) {
        Tensor xd = x.to(d).set_requires_grad(), wd = w.to(d).set_requires_grad(), bd = b.to(d).set_requires_grad();
        Tensor y = conv2d(xd, wd, bd, Conv2dOptions::square(c.stride, c.pad, c.dil, c.groups));
        Tensor g = (y * y).sum();
        g.backward();
        return std::vector<Tensor>{y.cpu(), xd.grad().cpu(), wd.grad().cpu(), bd.grad().cpu()};
      };
      const auto gpu = run(Device("cuda:0")), cpu = run(kCPU);
      const double tol = dt == DType::Float64 ? 1e-10 : 1e-4;
      const char* names[] = {"out", "grad x", "grad w", "grad bias"};
      for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(allclose(gpu[i], cpu[i], tol, tol))
            << names[i] << " " << dtype_name(dt) << " x " << x.shape_str() << " w " << w.shape_str();
    }
  }
}

}  // namespace

namespace {

// non_blocking copies from/to page-locked memory are queued on the stream; the pinned
// source freed at once is not handed out again before its copy is done.
TEST_F(Cuda, NonBlockingCopiesThroughPinnedMemory) {
  const int64_t n = int64_t(1) << 22;
  const Tensor want = arange(n, TensorOptions(DType::Float32));
  Tensor h = want.pin_memory();
  Tensor d = h.to(Device("cuda:0"), true);
  h = Tensor();
  Tensor other = full({n}, 7.0, DType::Float32).pin_memory();  // must not land in h's block mid-copy
  Tensor back = d.to(kCPU, true);
  EXPECT_TRUE(back.is_pinned());
  cuda_synchronize(0);
  EXPECT_TRUE(equal(back, want));
  EXPECT_TRUE(equal(other, full({n}, 7.0, DType::Float32)));
  // ordinary host memory: non_blocking still returns a finished copy
  EXPECT_TRUE(equal(want.to(Device("cuda:0"), true).cpu(), want));
}

}  // namespace

namespace {

// linear with a bias: one cuBLASLt call with the bias epilogue where it applies (aligned
// operands), the product + add otherwise; both against the CPU, with gradients.
TEST_F(Cuda, LinearWithBiasMatchesTheCpu) {
  for (DType dt : {DType::Float32, DType::BFloat16, DType::Float16}) {
    for (int64_t offset : {0, 1}) {  // 1: the bias view is not 16-byte aligned
      Tensor x = randn({37, 70}), w = randn({50, 70}), b_all = randn({51});
      auto run = [&](const Device& d) {
        Tensor xd = x.to(dt).to(d).detach().set_requires_grad(), wd = w.to(dt).to(d).detach().set_requires_grad();
        Tensor bd = b_all.to(dt).to(d).narrow(0, offset, 50).detach().set_requires_grad();
        Tensor y = linear(xd, wd, bd);
        (y.to(DType::Float32) * y.to(DType::Float32)).sum().backward();
        return std::vector<Tensor>{y.cpu().to(DType::Float32), xd.grad().cpu().to(DType::Float32),
                                   wd.grad().cpu().to(DType::Float32), bd.grad().cpu().to(DType::Float32)};
      };
      const auto gpu = run(Device("cuda:0")), cpu = run(kCPU);
      const double tol = dt == DType::Float32 ? 1e-4 : 5e-2;
      for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(allclose(gpu[i], cpu[i], tol, tol * 10)) << dtype_name(dt) << " offset " << offset << " output " << i;
    }
  }
}

}  // namespace

namespace {

// The fused cross-entropy row kernels against the composite on the CPU: reductions,
// ignored rows, a large class count, gradients; bad targets are still IndexErrors.
TEST_F(Cuda, FusedCrossEntropyMatchesTheCpu) {
  for (int64_t C : {10, 5000}) {
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      Tensor x = randn({33, C});
      Tensor t = randint(0, C, {33}, DType::Int64);
      t.narrow(0, 3, 2).fill_(-100);  // ignored rows
      CrossEntropyOptions o;
      o.reduction = r;
      auto run = [&](const Device& d) {
        Tensor xd = x.to(d).detach().set_requires_grad();
        Tensor loss = cross_entropy(xd, t.to(d), o);
        if (d.is_cuda() && r == Reduction::None) EXPECT_EQ(loss.grad_fn()->name(), "CrossEntropyLossBackward0");
        (loss * loss).sum().backward();
        return std::pair{loss.detach().cpu(), xd.grad().cpu()};
      };
      const auto [gl, gg] = run(Device("cuda:0"));
      const auto [cl, cg] = run(kCPU);
      EXPECT_TRUE(allclose(gl, cl, 1e-5, 1e-5)) << "loss C " << C << " reduction " << int(r);
      EXPECT_TRUE(allclose(gg, cg, 1e-5, 1e-6)) << "grad C " << C << " reduction " << int(r);
    }
  }
  Tensor x = randn({4, 6}).to(Device("cuda:0"));
  EXPECT_THROW(cross_entropy(x, tensor({0.0, 1.0, 6.0, 2.0}).to(DType::Int64).to(Device("cuda:0"))), IndexError);
}

}  // namespace

namespace {

TEST_F(Cuda, CopiesBetweenTwoGpus) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "one GPU only";
  Tensor a = arange(1000, TensorOptions(DType::Float32)).to(Device("cuda:0"));
  Tensor b = a.to(Device("cuda:1"));
  EXPECT_EQ(b.device(), Device("cuda:1"));
  EXPECT_TRUE(equal(b.cpu(), a.cpu()));
  EXPECT_TRUE(equal((b * 2.0).to(Device("cuda:0")).cpu(), (a * 2.0).cpu()));
}

}  // namespace
