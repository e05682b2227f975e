// Tensor basics: views share storage, strides, contiguity, factories, dtypes, printing.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"
#include "core/tensor_impl.h"

using namespace anneal;

namespace {

Tensor iota(const Shape& s, DType dt = DType::Float32) {
  return arange(shape_numel(s), TensorOptions(dt)).reshape(s);
}

std::vector<double> values(const Tensor& t) {
  Tensor c = t.to(DType::Float64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

TEST(Tensor, PrintsLikePyTorch) {
  EXPECT_EQ(tensor({1.0, 2.0, 3.0, 4.0}).reshape({2, 2}).str(), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(tensor({0.5, 0.25}).str(), "tensor([0.5000, 0.2500])");
  EXPECT_EQ(arange(3).str(), "tensor([0, 1, 2])");
  EXPECT_EQ(tensor({1.5}, DType::Float64).reshape({}).str(), "tensor(1.5000, dtype=anneal.float64)");
  EXPECT_EQ(tensor(std::vector<bool>{true, false}).str(), "tensor([ True, False])");
  EXPECT_EQ(zeros({0, 3}).str(), "tensor([], size=(0, 3))");
  EXPECT_EQ(tensor({1e-5, 1.0}).str(), "tensor([1.0000e-05, 1.0000e+00])");
  Tensor w = ones({2}).set_requires_grad();
  EXPECT_EQ(w.str(), "tensor([1., 1.], requires_grad=True)");
  EXPECT_EQ((w * 2).str(), "tensor([2., 2.], grad_fn=<MulBackward0>)");
  std::string big = arange(2000).str();
  EXPECT_NE(big.find("..."), std::string::npos);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor a = iota({2, 3});
  Tensor v = a.view({3, 2});
  Tensor t = a.t();
  Tensor s = a.select(1, 2);
  EXPECT_EQ(v.impl()->storage(), a.impl()->storage());
  EXPECT_EQ(t.impl()->storage(), a.impl()->storage());
  EXPECT_EQ(s.strides(), (Shape{3}));
  EXPECT_EQ(s.storage_offset(), 2);
  a.fill_(7);
  EXPECT_EQ(v.sum().item<double>(), 42.0);
  EXPECT_EQ(s.sum().item<double>(), 14.0);
}

TEST(Tensor, StridesAndContiguity) {
  Tensor a = iota({2, 3, 4});
  EXPECT_EQ(a.strides(), (Shape{12, 4, 1}));
  Tensor p = a.permute({2, 0, 1});
  EXPECT_EQ(p.sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.impl()->storage(), a.impl()->storage());
  EXPECT_TRUE(a.contiguous().is_same(a));  // no copy when already contiguous
  Tensor sl = a.slice(2, 0, std::nullopt, 2);
  EXPECT_EQ(sl.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(sl.strides(), (Shape{12, 4, 2}));
  EXPECT_EQ(values(sl), (std::vector<double>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}));
  Tensor e = tensor({1.0, 2.0}).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(values(e), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(p.view({24}), ValueError);  // not viewable: a copy is needed
  EXPECT_EQ(p.reshape({24}).numel(), 24);
  EXPECT_EQ(a.unsqueeze(0).sizes(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(a.unsqueeze(0).squeeze().sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(a.flatten(1).sizes(), (Shape{2, 12}));
  EXPECT_EQ(a.unflatten(2, {2, -1}).sizes(), (Shape{2, 3, 2, 2}));
}

TEST(Tensor, AsStridedChecksBounds) {
  Tensor a = iota({6});
  Tensor w = a.as_strided({3, 2}, {1, 1});  // overlapping windows
  EXPECT_EQ(values(w), (std::vector<double>{0, 1, 1, 2, 2, 3}));
  EXPECT_THROW(a.as_strided({3, 3}, {2, 1}), ValueError);
  EXPECT_THROW(a.as_strided({2}, {1}, 5), ValueError);
  EXPECT_THROW(a.as_strided({2}, {-1}), ValueError);
}

TEST(Tensor, Factories) {
  EXPECT_EQ(values(zeros({2})), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(full({2}, 3.5)), (std::vector<double>{3.5, 3.5}));
  EXPECT_EQ(values(arange(1, 2, 0.25)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(5).dtype(), DType::Int64);
  EXPECT_EQ(arange(0.0, 1.0, 0.5).dtype(), DType::Float32);
  EXPECT_EQ(values(linspace(0, 1, 5)), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(values(eye(2, 3)), (std::vector<double>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(ones_like(iota({2, 2}, DType::Int32)).dtype(), DType::Int32);
  Tensor r = randint(3, 7, {1000});
  EXPECT_EQ(r.dtype(), DType::Int64);
  EXPECT_EQ(amin(r).item<int64_t>(), 3);
  EXPECT_EQ(amax(r).item<int64_t>(), 6);
  EXPECT_THROW(zeros({-1}), ValueError);
  EXPECT_THROW(arange(0, 5, 0), ValueError);
  EXPECT_THROW(arange(5, 0, 1), ValueError);
  EXPECT_THROW(rand({2}, DType::Int64), TypeError);
  EXPECT_THROW(tensor(std::vector<float>{1, 2, 3}, {2, 2}), ValueError);
}

TEST(Tensor, FromBlob) {
  std::vector<float> data = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(data.data(), {2, 3}, DType::Float32);
  data[0] = 10;  // no copy: the tensor sees the change
  EXPECT_EQ(t[0][0].item<float>(), 10.0f);
  Tensor col = from_blob(data.data(), {2}, DType::Float32, {3});
  EXPECT_EQ(values(col), (std::vector<double>{10, 4}));
  bool freed = false;
  {
    float* owned = new float[4]{1, 2, 3, 4};
    Tensor o = from_blob(owned, {4}, DType::Float32, {}, [&](void* p) {
      delete[] static_cast<float*>(p);
      freed = true;
    });
    Tensor view = o.narrow(0, 1, 2);
    o = Tensor();
    EXPECT_FALSE(freed);  // a view keeps the memory alive
    EXPECT_EQ(view.sum().item<float>(), 5.0f);
  }
  EXPECT_TRUE(freed);
  EXPECT_THROW(from_blob(nullptr, {2}, DType::Float32), ValueError);
}

TEST(Tensor, DTypesAndConversion) {
  Tensor h = tensor({1.0, 0.1, 65504.0, 1e-7}).to(DType::Float16);
  EXPECT_EQ(h.element_size(), 2u);
  std::vector<double> hv = values(h);
  EXPECT_EQ(hv[0], 1.0);
  EXPECT_NEAR(hv[1], 0.0999755859375, 1e-12);  // nearest float16 to 0.1
  EXPECT_EQ(hv[2], 65504.0);
  EXPECT_NEAR(hv[3], 1.1920928955078125e-07, 1e-15);  // a float16 subnormal
  EXPECT_TRUE(std::isinf(values(tensor({70000.0}).to(DType::Float16))[0]));
  Tensor b = tensor({1.0, 3.140625, 1e30}).to(DType::BFloat16);
  EXPECT_EQ(values(b)[1], 3.140625);
  EXPECT_NEAR(values(b)[2], 1e30, 1e28);
  EXPECT_EQ(values(tensor({-1.7, 2.9}).to(DType::Int32)), (std::vector<double>{-1, 2}));
  EXPECT_EQ(values(tensor({0.0, 2.0}).to(DType::Bool)), (std::vector<double>{0, 1}));
  EXPECT_EQ(dtype_from_name("bfloat16"), DType::BFloat16);
  EXPECT_THROW(dtype_from_name("float128"), TypeError);
}

TEST(Tensor, TypePromotion) {
  Tensor i32 = ones({2}, DType::Int32), i64 = ones({2}, DType::Int64), f16 = ones({2}, DType::Float16);
  Tensor bf = ones({2}, DType::BFloat16), f32 = ones({2}), f64 = ones({2}, DType::Float64), b = ones({2}, DType::Bool);
  EXPECT_EQ((i32 + i64).dtype(), DType::Int64);
  EXPECT_EQ((i32 + f16).dtype(), DType::Float16);
  EXPECT_EQ((f16 + bf).dtype(), DType::Float32);
  EXPECT_EQ((f32 + f64).dtype(), DType::Float64);
  EXPECT_EQ((b + i32).dtype(), DType::Int32);
  EXPECT_EQ((i64 * 2.5).dtype(), DType::Float32);
  EXPECT_EQ((f16 * 2.5).dtype(), DType::Float16);
  EXPECT_EQ((i32 * 2).dtype(), DType::Int32);
  EXPECT_EQ((i32 / i32).dtype(), DType::Float32);
  EXPECT_EQ((f32 + ones({}, DType::Float64)).dtype(), DType::Float32);  // 0-dim loses to a dimensioned tensor
  EXPECT_EQ((i32 + ones({}, DType::Float64)).dtype(), DType::Float64);  // unless its category is higher
  EXPECT_EQ((f32 < f64).dtype(), DType::Bool);
}

TEST(Tensor, ItemAllcloseEqual) {
  EXPECT_EQ(tensor({2.5}).item<double>(), 2.5);
  EXPECT_THROW(ones({2}).item(), ValueError);
  EXPECT_TRUE(allclose(tensor({1.0, 2.0}), tensor({1.0 + 1e-9, 2.0})));
  EXPECT_FALSE(allclose(tensor({1.0, 2.0}), tensor({1.1, 2.0})));
  EXPECT_TRUE(allclose(tensor({NAN}), tensor({NAN}), 1e-5, 1e-8, true));
  EXPECT_FALSE(allclose(tensor({NAN}), tensor({NAN})));
  EXPECT_TRUE(equal(arange(3), arange(3)));
  EXPECT_FALSE(equal(arange(3), arange(4)));
}

TEST(Tensor, InPlaceOpsBumpVersion) {
  Tensor a = zeros({3});
  Tensor v = a.narrow(0, 1, 2);
  uint64_t v0 = a.version();
  v.add_(1.0);
  EXPECT_EQ(a.version(), v0 + 1);  // views share the counter
  EXPECT_EQ(values(a), (std::vector<double>{0, 1, 1}));
  a.mul_(tensor({1.0, 2.0, 3.0}));
  EXPECT_EQ(values(a), (std::vector<double>{0, 2, 3}));
  Tensor i = zeros({2}, DType::Int64);
  EXPECT_THROW(i.add_(0.5), TypeError);  // a float result can't be stored in int64
  EXPECT_THROW(a.add_(ones({2, 3})), ValueError);  // broadcast would grow the output
  a.copy_(tensor({5.0}));  // copy_ broadcasts
  EXPECT_EQ(values(a), (std::vector<double>{5, 5, 5}));
}

TEST(Tensor, CatStackSplit) {
  Tensor a = iota({2, 2}), b = iota({1, 2});
  EXPECT_EQ(cat({a, b}).sizes(), (Shape{3, 2}));
  EXPECT_EQ(stack({a, a}, 2).sizes(), (Shape{2, 2, 2}));
  auto parts = split(iota({5}), 2);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].numel(), 1);
  EXPECT_EQ(chunk(iota({6}), 4).size(), 3u);  // like PyTorch: chunks of ceil(6/4)=2
  EXPECT_THROW(cat({a, iota({2, 3})}), ValueError);
  EXPECT_THROW(stack({a, b}), ValueError);
}

TEST(Allocator, CachesAndCountsBlocks) {
  Allocator* alloc = cpu_allocator();
  alloc->empty_cache();
  MemoryStats before = alloc->stats();
  { Tensor t = empty({1 << 20}); }
  MemoryStats mid = alloc->stats();
  EXPECT_GE(mid.peak_allocated_bytes, int64_t(4) << 20);
  { Tensor t = empty({1 << 20}); }  // same size: served from the cache
  MemoryStats after = alloc->stats();
  EXPECT_EQ(after.num_system_allocs, mid.num_system_allocs);
  EXPECT_GT(after.num_cache_hits, before.num_cache_hits);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  Tensor a = empty({17});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % 64, 0u);
}

TEST(Device, ParsingAndAvailability) {
  EXPECT_TRUE(Device("cpu").is_cpu());
  EXPECT_EQ(Device("cuda:1").index, 1);
  EXPECT_EQ(Device("cuda").str(), "cuda:0");
  EXPECT_THROW(Device("gpu"), DeviceError);
  EXPECT_THROW(Device("cuda:x"), DeviceError);
  if (!cuda_is_available()) {
    EXPECT_THROW(zeros({2}, TensorOptions(DType::Float32, Device("cuda:0"))), DeviceError);
    EXPECT_THROW(ones({2}).to(Device("cuda")), DeviceError);
  }
}

}  // namespace
