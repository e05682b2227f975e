// Readers (CIFAR binary, text, character vocabularies, context windows, token shards) on
// good and bad files, and the image transforms.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "anneal.h"

using namespace anneal;
using namespace anneal::data;

namespace {

std::string tmp(const std::string& n) { return ::testing::TempDir() + "anneal_readers_" + n; }
void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
template <typename T> std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string cifar_record(int label_bytes, uint8_t label, uint8_t fill) {
  std::string r(static_cast<size_t>(label_bytes), char(label));
  r += std::string(3072, char(fill));
  r[size_t(label_bytes)] = char(fill + 1);  // first pixel differs
  return r;
}

TEST(Readers, Cifar10And100) {
  write(tmp("c10a.bin"), cifar_record(1, 3, 10) + cifar_record(1, 9, 20));
  write(tmp("c10b.bin"), cifar_record(1, 0, 30));
  ImageSet s = read_cifar({tmp("c10a.bin"), tmp("c10b.bin")});
  ASSERT_EQ(s.images.sizes(), (Shape{3, 3, 32, 32}));
  EXPECT_EQ(s.images.dtype(), DType::UInt8);
  EXPECT_TRUE(equal(s.labels, tensor(std::vector<int64_t>{3, 9, 0})));
  EXPECT_EQ(s.images[1][0][0][0].item<int64_t>(), 21);
  EXPECT_EQ(s.images[1][2][31][31].item<int64_t>(), 20);
  std::string c100 = cifar_record(2, 0, 1);
  c100[0] = 4, c100[1] = 77;  // coarse 4, fine 77
  write(tmp("c100.bin"), c100);
  EXPECT_EQ(read_cifar({tmp("c100.bin")}, CifarKind::Cifar100).labels[0].item<int64_t>(), 77);

  write(tmp("trunc.bin"), cifar_record(1, 1, 1).substr(0, 3000));
  std::string m = message_of([&] { read_cifar({tmp("trunc.bin")}); });
  EXPECT_NE(m.find("trunc.bin"), std::string::npos) << m;
  EXPECT_NE(m.find("3073-byte records"), std::string::npos) << m;
  EXPECT_NE(m.find("3000 bytes"), std::string::npos) << m;
  write(tmp("badlabel.bin"), cifar_record(1, 12, 1));
  m = message_of([&] { read_cifar({tmp("badlabel.bin")}); });
  EXPECT_NE(m.find("label 12"), std::string::npos) << m;
  EXPECT_THROW(read_cifar({tmp("missing.bin")}), ValueError);
}

TEST(Readers, CharVocabRoundTripsUtf8) {
  std::string text = "In the beginning, \xC3\xA9t\xC3\xA9 \xE2\x82\xAC!";  // é and €
  CharVocab v = CharVocab::from_text(text);
  EXPECT_EQ(v.size(), 13);  // distinct characters, not bytes
  Tensor ids = v.encode(text);
  EXPECT_EQ(ids.numel(), 24);
  EXPECT_EQ(v.decode(ids), text);
  EXPECT_EQ(v.chars().front(), uint32_t(' '));  // sorted by code point
  EXPECT_THROW(v.encode("z"), ValueError);
  EXPECT_THROW(v.decode(tensor(std::vector<int64_t>{13})), IndexError);
  EXPECT_THROW(CharVocab::from_text(std::string("ok \xC3", 4)), ValueError);  // cut multi-byte sequence
  CharVocab bytes = CharVocab::bytes();
  EXPECT_EQ(bytes.size(), 256);
  EXPECT_EQ(bytes.decode(bytes.encode(text)), text);
  write(tmp("t.txt"), text);
  EXPECT_EQ(read_text(tmp("t.txt")), text);
  EXPECT_THROW(read_text(tmp("nope.txt")), ValueError);
}

TEST(Readers, TextWindowsAreShiftedPairs) {
  TextWindows w(arange(10).to(DType::Int32), 4);
  EXPECT_EQ(w.size(), 6);
  Batch one = w.get(2);
  EXPECT_TRUE(equal(one.data, tensor(std::vector<int64_t>{2, 3, 4, 5})));
  EXPECT_TRUE(equal(one.target, tensor(std::vector<int64_t>{3, 4, 5, 6})));
  Batch b = w.get_batch({5, 0});
  EXPECT_TRUE(equal(b.data, tensor(std::vector<int64_t>{5, 6, 7, 8, 0, 1, 2, 3}, {2, 4})));
  EXPECT_TRUE(equal(b.target, tensor(std::vector<int64_t>{6, 7, 8, 9, 1, 2, 3, 4}, {2, 4})));
  EXPECT_THROW(w.get_batch({6}), IndexError);
  EXPECT_THROW(TextWindows(arange(4), 4), ValueError);
  EXPECT_THROW(TextWindows(zeros({8}), 2), ValueError);
}

TEST(Readers, TokenShardsLlmcAndRaw) {
  std::vector<int32_t> header(256, 0);
  header[0] = 20240520, header[1] = 1, header[2] = 4;
  std::vector<uint16_t> toks = {1, 50256, 7, 65535};
  write(tmp("llmc.bin"), raw(header) + raw(toks));
  Tensor t = read_token_shard(tmp("llmc.bin"));
  EXPECT_EQ(t.dtype(), DType::Int32);
  EXPECT_TRUE(equal(t, tensor(std::vector<int32_t>{1, 50256, 7, 65535})));
  header[1] = 2;
  std::vector<uint32_t> wide = {5, 100000, 4000000000u, 0};
  write(tmp("llmc32.bin"), raw(header) + raw(wide));
  EXPECT_EQ(read_token_shard(tmp("llmc32.bin"))[2].item<int64_t>(), 4000000000ll);
  write(tmp("raw.bin"), raw(toks));
  EXPECT_TRUE(equal(read_token_shard(tmp("raw.bin")), t));
  EXPECT_EQ(read_token_shard(tmp("raw.bin"), 32).numel(), 2);

  header[1] = 1;
  write(tmp("short.bin"), raw(header) + raw(toks).substr(0, 6));
  std::string m = message_of([&] { read_token_shard(tmp("short.bin")); });
  EXPECT_NE(m.find("declares 4 tokens"), std::string::npos) << m;
  EXPECT_NE(m.find("short.bin"), std::string::npos) << m;
  header[1] = 7;
  write(tmp("ver.bin"), raw(header) + raw(toks));
  EXPECT_NE(message_of([&] { read_token_shard(tmp("ver.bin")); }).find("version 7"), std::string::npos);
  write(tmp("odd.bin"), "abc");
  EXPECT_THROW(read_token_shard(tmp("odd.bin")), ValueError);
  EXPECT_THROW(read_token_shard(tmp("raw.bin"), 8), ValueError);
}

TEST(Transforms, NormalizeCropFlip) {
  namespace T = transforms;
  Tensor img = arange(2 * 2 * 3 * 3).to(DType::Float32).reshape({2, 2, 3, 3});
  Batch b{img, arange(2)};
  Batch n = T::normalize({1, 2}, {2, 4})(b, 0);
  EXPECT_FLOAT_EQ(n.data[1][1][2][2].item<double>(), (35.0 - 2) / 4);
  EXPECT_FLOAT_EQ(n.data[0][0][0][0].item<double>(), -0.5);
  EXPECT_THROW(T::normalize({1, 2, 3}, {1, 1, 1})(b, 0), ValueError);

  Batch f = T::random_horizontal_flip(1.0)(b, 4);
  EXPECT_TRUE(equal(f.data, index_select(img, 3, tensor(std::vector<int64_t>{2, 1, 0}))));
  EXPECT_TRUE(equal(T::random_horizontal_flip(0.0)(b, 4).data, img));

  // Padded crop of the full size: each image is a shifted copy with zeros coming in.
  Batch c = T::random_crop(3, 1)(b, 11);
  ASSERT_EQ(c.data.sizes(), img.sizes());
  Tensor padded = pad(img, {1, 1, 1, 1});
  for (int64_t i = 0; i < 2; ++i) {
    bool found = false;
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 3; ++x)
        found |= equal(c.data[i], padded[i].slice(1, y, y + 3).slice(2, x, x + 3));
    EXPECT_TRUE(found) << i;
  }
  EXPECT_TRUE(equal(T::random_crop(3, 1)(b, 11).data, c.data));  // same seed, same crop
  bool differs = false;
  for (uint64_t s = 0; s < 8; ++s) differs |= !equal(T::random_crop(3, 1)(b, s).data, c.data);
  EXPECT_TRUE(differs);
  EXPECT_THROW(T::random_crop(5)(b, 0), ValueError);

  auto pipeline = T::compose({T::to_float(1.0 / 255), T::random_crop(2)});
  Batch u{full({1, 1, 3, 3}, 255, DType::UInt8), Tensor()};
  Batch p = pipeline(u, 1);
  EXPECT_EQ(p.data.sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(p.data.sum().item<double>(), 4.0);
}

}  // namespace
