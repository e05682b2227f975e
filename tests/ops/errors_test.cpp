// Bad input gets a typed error naming the op and what was wrong, never a crash.
#include <gtest/gtest.h>

#include <cmath>

#include "golden_case.h"

using namespace anneal;
using namespace anneal::test;

namespace {

template <typename Kind, typename F>
void expect_error(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning '" << fragment << "'";
  } catch (const Kind& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message was: " << e.what();
  }
}

TEST(Errors, ShapesAreValueErrors) {
  Tensor a = ones({2, 3}), b = ones({4});
  expect_error<ValueError>([&] { add(a, b); }, "must match the size of tensor b (4) at non-singleton dimension 1");
  expect_error<ValueError>([&] { matmul(a, ones({2, 3})); }, "cannot be multiplied");
  expect_error<ValueError>([&] { mm(a, ones({3})); }, "mm: expected 2-D tensors");
  expect_error<ValueError>([&] { a.view({4, 2}); }, "is invalid for input of size 6");
  expect_error<ValueError>([&] { a.reshape({-1, -1}); }, "only one dimension can be inferred");
  expect_error<ValueError>([&] { a.expand({3, 3}); }, "must match the existing size");
  expect_error<ValueError>([&] { cat({a, ones({2, 3, 1})}); }, "same number of dimensions");
  expect_error<ValueError>([&] { conv2d(ones({1, 3, 5, 5}), ones({4, 2, 3, 3})); }, "to have 2 channels");
  expect_error<ValueError>([&] { conv2d(ones({3, 5, 5}), ones({4, 3, 3, 3})); }, "expected a 4-D input");
  expect_error<ValueError>([&] { conv2d(ones({1, 3, 2, 2}), ones({4, 3, 3, 3})); }, "larger than the padded input");
  expect_error<ValueError>([&] { max_pool2d(ones({1, 1, 4, 4}), 2, 2, 2); }, "at most half");
  expect_error<ValueError>([&] { layer_norm(ones({2, 3}), {4}); }, "normalized_shape");
  expect_error<ValueError>([&] { mse_loss(ones({2}), ones({3})); }, "target size");
  expect_error<ValueError>([&] { cross_entropy(ones({4, 5}), zeros({3}, DType::Int64)); }, "expected target of shape");
  expect_error<ValueError>([&] { binary_cross_entropy(full({2}, 1.5), ones({2})); }, "between 0 and 1");
  expect_error<ValueError>([&] { group_norm(ones({2, 5, 3}), 2); }, "divisible by num_groups");
  expect_error<ValueError>([&] { batch_norm(ones({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                           "more than 1 value per channel");
  expect_error<ValueError>([&] { dropout(a, -0.1); }, "between 0 and 1");
  expect_error<ValueError>([&] { split(a, 0); }, "split_size must be positive");
  expect_error<ValueError>([&] { permute(a, {0, 0}); }, "repeated dim");
}

TEST(Errors, IndicesAreIndexErrors) {
  Tensor a = ones({2, 3});
  expect_error<IndexError>([&] { a.select(0, 2); }, "index 2 is out of bounds for dimension 0 with size 2");
  expect_error<IndexError>([&] { a.sum({2}); }, "dimension out of range");
  expect_error<IndexError>([&] { a.narrow(1, 2, 2); }, "exceeds dimension size");
  expect_error<IndexError>([&] { index_select(a, 0, tensor(std::vector<int64_t>{0, 5})); },
                           "index 5 is out of bounds for dimension with size 2");
  expect_error<IndexError>([&] { gather(a, 1, full({2, 1}, 3, DType::Int64)); }, "out of bounds");
  expect_error<IndexError>([&] { embedding(ones({4, 2}), tensor(std::vector<int64_t>{4})); }, "out of bounds");
  expect_error<IndexError>([&] { cross_entropy(ones({2, 3}), tensor(std::vector<int64_t>{0, 3})); },
                           "target 3 is out of bounds for 3 classes");
  expect_error<IndexError>([&] { scatter_add(zeros({3}), 0, tensor(std::vector<int64_t>{-4}), ones({1})); },
                           "out of bounds");
  expect_error<IndexError>([&] { masked_select(a, ones({3}, DType::Bool)); }, "does not match the shape");
  expect_error<IndexError>([&] { amax(zeros({0})); }, "zero-size dimension");
}

TEST(Errors, DTypesAreTypeErrors) {
  expect_error<TypeError>([&] { mean(arange(3)); }, "Input dtype must be floating point");
  expect_error<TypeError>([&] { mm(ones({2, 2}), ones({2, 2}, DType::Float64)); }, "same dtype");
  expect_error<TypeError>([&] { index_select(ones({2}), 0, ones({1})); }, "expected an integer index tensor");
  expect_error<TypeError>([&] { where(ones({2}), ones({2}), ones({2})); }, "condition to be a bool tensor");
  expect_error<TypeError>([&] { masked_fill(ones({2}), ones({2}), 0); }, "expected a bool mask");
  expect_error<TypeError>([&] { ones({2}, DType::Int32).add_(0.5); }, "can't be cast to the desired output type");
  expect_error<TypeError>([&] { sub(ones({2}, DType::Bool), ones({2}, DType::Bool)); }, "two bool tensors");
  expect_error<TypeError>([&] { ones({2}).data_ptr<double>(); }, "tensor has dtype float32");
}

TEST(Errors, UndefinedTensors) {
  Tensor u;
  expect_error<ValueError>([&] { exp(u); }, "exp: input is an undefined tensor");
  expect_error<ValueError>([&] { add(ones({1}), u); }, "add: second argument is an undefined tensor");
  expect_error<Error>([&] { u.sizes(); }, "undefined tensor");
}

// Every op of the table, fed malformed variants of its golden inputs, either works or
// throws an anneal::Error; under the sanitizer build this also proves no out-of-bounds
// access on any of these paths.
TEST(Errors, NoInputCrashesAnyOp) {
  int errors = 0, ran = 0;
  for (const auto& c : golden_cases()) {
    const OpFn& f = op_table().at(c.op);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      std::vector<Tensor> variants = {
          zeros({}, c.inputs[i].dtype), zeros({0}, c.inputs[i].dtype), zeros({2, 1, 3, 1, 2}, c.inputs[i].dtype),
          zeros(c.inputs[i].shape, DType::Int32), full(c.inputs[i].shape, 1e9, DType::Float32),
          full(c.inputs[i].shape, -7, DType::Int64)};
      for (const auto& bad : variants) {
        TensorList xs;
        for (const auto& in : c.inputs) xs.push_back(in.make());
        xs[i] = bad;
        ++ran;
        try {
          Tensor out = f(xs, c.kw);
          if (out.defined()) (void)out.sum();
        } catch (const anneal::Error&) {
          ++errors;
        } catch (const std::exception& e) {
          ADD_FAILURE() << c.name << " input " << i << ": non-anneal exception: " << e.what();
        }
      }
    }
  }
  EXPECT_GT(errors, ran / 4);  // most of these are rejected
}

}  // namespace

namespace {
TEST(Pooling, NanPropagatesThroughMaxPool) {
  Tensor x = zeros({1, 1, 4, 4});
  x.data_ptr<float>()[5] = NAN;  // row 1, col 1: inside the first 2x2 window
  auto [v, idx] = max_pool2d_with_indices(x, 2);
  EXPECT_TRUE(std::isnan(v.data_ptr<float>()[0]));
  EXPECT_EQ(idx.data_ptr<int64_t>()[0], 5);
  EXPECT_EQ(v.data_ptr<float>()[1], 0.0f);
}
}  // namespace
