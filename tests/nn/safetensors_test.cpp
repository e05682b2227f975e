// safetensors: round trip through an independent NumPy reader/writer, a model's state
// dict saved and restored, and malformed files rejected with clear errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "anneal.h"

using namespace anneal;

namespace {

std::string tmp(const std::string& n) { return ::testing::TempDir() + "anneal_st_" + n; }

TEST(Safetensors, RoundTripThroughNumpy) {
  manual_seed(3);
  nn::StateDict in = {{"w.f32", randn({3, 4})},
                      {"w.f64", randn({2, 2}, DType::Float64)},
                      {"h.f16", randn({5}).to(DType::Float16)},
                      {"idx", arange(6).reshape({2, 3})},
                      {"i32", arange(4).to(DType::Int32)},
                      {"mask", tensor(std::vector<bool>{true, false, true})},
                      {"scalar", full({}, 2.5)},
                      {"empty", zeros({0, 3})},
                      {"strided", randn({4, 3}).t()}};  // written contiguous
  nn::save_safetensors(tmp("a.safetensors"), in, {{"step", "12"}});
  std::string cmd = std::string(ANNEAL_TEST_PYTHON) + " " + ANNEAL_SAFETENSORS_SCRIPT + " " + tmp("a.safetensors") + " " +
                    tmp("b.safetensors");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  nn::StateDict out = nn::load_safetensors(tmp("b.safetensors"));
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& [name, t] = in[i];
    const Tensor& got = out[i].second;
    EXPECT_EQ(out[i].first, name);
    EXPECT_EQ(got.dtype(), t.dtype()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    Tensor want = t.dtype() == DType::Bool ? logical_not(t) : is_floating(t.dtype()) ? t * 2 : t + 1;
    EXPECT_TRUE(equal(got, want.to(t.dtype()))) << name;
  }
}

TEST(Safetensors, ModelStateDictRestores) {
  auto make = [] {
    return std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(4, 3), nn::BatchNorm1d(3)});
  };
  auto a = make(), b = make();
  nn::save_safetensors(tmp("m.safetensors"), a->state_dict());
  b->load_state_dict(nn::load_safetensors(tmp("m.safetensors")));
  Tensor x = randn({5, 4});
  a->eval();
  b->eval();
  EXPECT_TRUE(equal((*a)(x), (*b)(x)));
}

void write_raw(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

template <typename F>
void expect_error(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << fragment;
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Safetensors, MalformedFilesAreClearErrors) {
  expect_error([] { nn::load_safetensors(tmp("missing")); }, "cannot read");
  write_raw(tmp("short"), "abc");
  expect_error([] { nn::load_safetensors(tmp("short")); }, "truncated");
  write_raw(tmp("biglen"), std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10));
  expect_error([] { nn::load_safetensors(tmp("biglen")); }, "declares a 255-byte header");
  std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string len(8, '\0');
  len[0] = char(h.size());
  write_raw(tmp("trunc"), len + h + "1234");  // 4 of 8 data bytes
  expect_error([] { nn::load_safetensors(tmp("trunc")); }, "is truncated: its tensors need 8 bytes of data, the file holds 4");
  std::string bad = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  len[0] = char(bad.size());
  write_raw(tmp("span"), len + bad + "12345678");
  expect_error([] { nn::load_safetensors(tmp("span")); }, "needs 12 bytes but its data_offsets span 8");
  std::string junk = R"({"a":{"dtype":"F32","shape":[2],)";
  len[0] = char(junk.size());
  write_raw(tmp("json"), len + junk);
  expect_error([] { nn::load_safetensors(tmp("json")); }, "malformed header");
  std::string dt = R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})";
  len[0] = char(dt.size());
  write_raw(tmp("dtype"), len + dt + "12345678");
  expect_error([] { nn::load_safetensors(tmp("dtype")); }, "unsupported dtype \"C64\"");
}

}  // namespace
