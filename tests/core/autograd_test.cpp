// Autograd features: accumulation, broadcasting, retain/create graph, hooks, in-place
// rules, grad modes, deep graphs.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"
#include "core/tensor_impl.h"

using namespace anneal;

namespace {

std::vector<double> values(const Tensor& t) {
  Tensor c = t.detach().to(DType::Float64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

TEST(Autograd, LeafFlagsAndGradFn) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  EXPECT_TRUE(x.is_leaf());
  Tensor y = x * x;
  EXPECT_FALSE(y.is_leaf());
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward0");
  EXPECT_FALSE((x.detach() * 2).requires_grad());
  EXPECT_THROW(y.set_requires_grad(false), AutogradError);
  EXPECT_THROW(arange(3).set_requires_grad(), AutogradError);  // integers cannot require grad
}

TEST(Autograd, AccumulatesIntoLeaves) {
  Tensor x = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  sum(x * x).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 4, 6}));
  sum(x * 3.0).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{5, 7, 9}));
  // a tensor used twice gets both contributions
  Tensor z = tensor({2.0}).set_requires_grad();
  sum(z * z + z).backward();
  EXPECT_EQ(z.grad().item<double>(), 5.0);
}

TEST(Autograd, BroadcastGradientsReduceToInputShape) {
  Tensor a = ones({3, 1}).set_requires_grad();
  Tensor b = ones({4}).set_requires_grad();
  sum(a * b).backward();
  EXPECT_EQ(a.grad().sizes(), (Shape{3, 1}));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{4, 4, 4}));
  EXPECT_EQ(b.grad().sizes(), (Shape{4}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{3, 3, 3, 3}));
  // promotion: a float32 leaf used with float64 gets a float32 gradient
  Tensor f = ones({2}).set_requires_grad();
  sum(f * ones({2}, DType::Float64)).backward();
  EXPECT_EQ(f.grad().dtype(), DType::Float32);
}

TEST(Autograd, BackwardTwiceNeedsRetainGraph) {
  Tensor x = tensor({1.0, 2.0}, DType::Float64).set_requires_grad();
  Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(x.grad()[0].item<double>(), 2 * std::exp(1.0), 1e-12);
  try {
    y.backward();
    FAIL() << "second backward without retain_graph must throw";
  } catch (const AutogradError& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos);
  }
}

TEST(Autograd, NonScalarNeedsGradient) {
  Tensor x = ones({2}).set_requires_grad();
  Tensor y = x * 2;
  EXPECT_THROW(y.backward(), AutogradError);
  EXPECT_THROW(y.backward(ones({3})), ValueError);
  y.backward(tensor({1.0, 0.5}).to(DType::Float32));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 1}));
  EXPECT_THROW(ones({2}).backward(), AutogradError);  // nothing requires grad
}

TEST(Autograd, GradFunctionLeavesDotGradAlone) {
  Tensor x = tensor({3.0}).set_requires_grad();
  Tensor y = x * x * x;
  TensorList g = autograd::grad({y}, {x}, {}, {}, /*create_graph=*/true);
  EXPECT_EQ(g[0].item<double>(), 27.0);
  EXPECT_FALSE(x.grad().defined());
  // higher order: d2/dx2 x^3 = 6x, d3 = 6
  TensorList g2 = autograd::grad({g[0]}, {x}, {}, {}, true);
  EXPECT_EQ(g2[0].item<double>(), 18.0);
  TensorList g3 = autograd::grad({g2[0]}, {x});
  EXPECT_EQ(g3[0].item<double>(), 6.0);
  Tensor unused = tensor({1.0}).set_requires_grad();
  EXPECT_THROW(autograd::grad({sum(x * 2)}, {unused}), AutogradError);
  TensorList r = autograd::grad({sum(x * 2)}, {unused}, {}, {}, false, /*allow_unused=*/true);
  EXPECT_FALSE(r[0].defined());
  // with respect to an intermediate tensor
  Tensor h = x * 2;
  Tensor out = sum(h * h);
  EXPECT_EQ(autograd::grad({out}, {h})[0].item<double>(), 12.0);
}

TEST(Autograd, CreateGraphBackwardGivesDifferentiableGrad) {
  Tensor x = tensor({2.0}).set_requires_grad();
  sum(pow(x, 3)).backward(Tensor(), false, /*create_graph=*/true);
  Tensor gx = x.grad();
  EXPECT_TRUE(gx.requires_grad());
  EXPECT_EQ(gx.item<double>(), 12.0);
  EXPECT_EQ(autograd::grad({gx}, {x})[0].item<double>(), 12.0);
  // A grad with history refers back to its own leaf (as in PyTorch): clearing it
  // breaks that cycle, as users do with `x.grad = None`.
  x.set_grad(Tensor());
}

TEST(Autograd, GradModeGuards) {
  Tensor x = ones({2}).set_requires_grad();
  {
    NoGradGuard ng;
    EXPECT_FALSE((x * 2).requires_grad());
    {
      EnableGradGuard eg;
      EXPECT_TRUE((x * 2).requires_grad());
    }
    EXPECT_FALSE(GradMode::is_enabled());
  }
  EXPECT_TRUE(GradMode::is_enabled());
  {
    InferenceModeGuard im;
    EXPECT_FALSE((x * 2).requires_grad());
    EXPECT_TRUE(InferenceMode::is_enabled());
  }
  EXPECT_FALSE(InferenceMode::is_enabled());
}

TEST(Autograd, TensorHooks) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  Tensor y = x * 3;
  std::vector<double> seen;
  y.register_hook([&](const Tensor& g) {
    seen = values(g);
    return g * 2;  // replaces the gradient flowing on
  });
  int leaf_calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++leaf_calls;
    return Tensor();  // observe only
  });
  int post = 0;
  x.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    ++post;
    EXPECT_TRUE(leaf.grad().defined());
  });
  sum(y).backward();
  EXPECT_EQ(seen, (std::vector<double>{1, 1}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{6, 6}));
  EXPECT_EQ(leaf_calls, 1);
  EXPECT_EQ(post, 1);
  EXPECT_THROW(ones({1}).register_hook([](const Tensor& g) { return g; }), AutogradError);
  EXPECT_THROW(y.register_post_accumulate_grad_hook([](const Tensor&) {}), AutogradError);
}

TEST(Autograd, RetainGrad) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  Tensor h = x * 2;
  h.retain_grad();
  sum(h * h).backward();
  EXPECT_EQ(values(h.grad()), (std::vector<double>{4, 8}));
}

TEST(Autograd, InPlaceVersionCheck) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  Tensor y = exp(x);  // ExpBackward saves its output y
  Tensor w = sum(y);
  y.mul_(2.0);        // modifies the saved tensor
  try {
    w.backward();
    FAIL() << "expected an in-place modification error";
  } catch (const AutogradError& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an inplace operation"), std::string::npos) << e.what();
  }
}

TEST(Autograd, InPlaceOnLeafIsAnError) {
  Tensor x = ones({2}).set_requires_grad();
  EXPECT_THROW(x.add_(1.0), AutogradError);
  {
    NoGradGuard ng;
    x.add_(1.0);  // fine without grad (optimizer updates)
  }
  EXPECT_EQ(values(x), (std::vector<double>{2, 2}));
}

TEST(Autograd, InPlaceOnNonLeafIsDifferentiable) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  Tensor y = x * 1.0;
  y.mul_(x);        // y = x * x
  y.add_(3.0);
  sum(y).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 4}));
  EXPECT_EQ(y.grad_fn()->name(), "AddBackward0");
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Tensor x = tensor({1.0}, DType::Float64).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  y.backward();
  EXPECT_NEAR(x.grad().item<double>(), std::pow(1.0001, 10000), 1e-6);
}

// Freeing a graph that was never run backward: 400,000 nodes, each owning the previous
// through its edge and (for y * x) through a saved input. A recursive teardown needs a
// stack frame per node and overflows long before this.
TEST(Autograd, FreeingAVeryLongGraphDoesNotRecurse) {
  Tensor x = tensor({1.0, 2.0}, DType::Float32).set_requires_grad();
  std::weak_ptr<Node> first;
  {
    Tensor y = x * 1.0;
    first = y.grad_fn();
    for (int i = 0; i < 400000; ++i) y = (i % 2) ? y * x : y * 1.0;
    EXPECT_FALSE(first.expired());
  }
  EXPECT_TRUE(first.expired()) << "the graph was not freed with its last tensor";
}

TEST(Autograd, SavedTensorsAreFreedAfterBackward) {
  Tensor x = rand({1000}, DType::Float64).set_requires_grad();
  std::weak_ptr<TensorImpl> saved;
  {
    Tensor e = exp(x);  // the graph keeps e's data for the backward
    saved = e.impl_ptr();
    Tensor s = sum(e * x);
    e = Tensor();
    s.backward();
  }
  EXPECT_TRUE(saved.expired());
}

TEST(Autograd, DetachSharesDataButNotHistory) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  Tensor y = x * 2;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.impl()->storage(), y.impl()->storage());
}

TEST(Autograd, ViewGradients) {
  Tensor x = arange(6, TensorOptions(DType::Float64)).reshape({2, 3}).detach().set_requires_grad();
  Tensor y = x.t().slice(0, 1, std::nullopt).select(1, 0);  // x[0, 1:]
  sum(y * tensor({1.0, 2.0}, DType::Float64)).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 1, 2, 0, 0, 0}));
}

}  // namespace

namespace {
TEST(Autograd, LeafGradientsNeverShareMemory) {
  // b receives the gradient itself and a a reshaped view of it: each .grad must own its
  // memory, or changing one (gradient scaling, accumulation) would change the other.
  Tensor a = zeros({2, 2}, DType::Float64).set_requires_grad();
  Tensor b = zeros({4}, DType::Float64).set_requires_grad();
  Tensor keep = b * 1.0;  // gives b's accumulator an early place in the backward order
  sum((a.reshape({4}) + b) * tensor({1.0, 2.0, 3.0, 4.0}, DType::Float64)).backward();
  EXPECT_NE(a.grad().impl()->storage(), b.grad().impl()->storage());
  {
    NoGradGuard ng;
    a.mutable_grad().mul_(0.5);
  }
  EXPECT_TRUE(equal(b.grad(), tensor({1.0, 2.0, 3.0, 4.0}, DType::Float64)));
  EXPECT_TRUE(equal(a.grad().reshape({4}), tensor({0.5, 1.0, 1.5, 2.0}, DType::Float64)));
}
}  // namespace
