#pragma once
// Readers for real data formats: CIFAR-10/100 binary, text (bytes or characters, cut into
// context windows) and token shards (flat uint16/uint32 files as written by llm.c and
// nanoGPT). A missing, malformed or truncated file is a ValueError naming the file, what
// was expected and what was found. (IDX files: data/idx.h.)
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/dataloader.h"

namespace anneal::data {

// ---- CIFAR -------------------------------------------------------------------------------
// Records of <label byte(s)><3072 pixel bytes>; CIFAR-100 records carry a coarse and a
// fine label, and the fine one is used. images: uint8 [N, 3, 32, 32]; labels: int64 [N].
enum class CifarKind { Cifar10, Cifar100 };
struct ImageSet {
  Tensor images, labels;
};
ImageSet read_cifar(const std::vector<std::string>& files, CifarKind kind = CifarKind::Cifar10);

// ---- text ----------------------------------------------------------------------------------
std::string read_text(const std::string& path);

// The characters (Unicode code points of UTF-8 text) that occur in a text, sorted, each
// mapped to a token id; or, with bytes(), all 256 byte values.
class CharVocab {
 public:
  static CharVocab from_text(const std::string& text, const std::string& source = "text");
  static CharVocab bytes();
  int64_t size() const { return int64_t(chars_.size()); }
  // int64 [n]; a character missing from the vocabulary is a ValueError.
  Tensor encode(const std::string& text) const;
  std::string decode(const Tensor& tokens) const;
  const std::vector<uint32_t>& chars() const { return chars_; }

 private:
  std::vector<uint32_t> chars_;  // token id -> code point (or byte)
  bool bytes_ = false;
};

// Every window of `context` tokens of a 1-D integer token tensor as an example:
// data = tokens[i : i+context], target = tokens[i+1 : i+context+1] (int64).
class TextWindows : public Dataset {
 public:
  TextWindows(Tensor tokens, int64_t context);
  int64_t size() const override { return tokens_.numel() - context_; }
  Batch get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  int64_t context() const { return context_; }

 private:
  Tensor tokens_;
  int64_t context_;
};

// ---- token shards ---------------------------------------------------------------------
// llm.c's format (a 256 x int32 header: magic 20240520, version 1 = uint16 tokens or
// 2 = uint32, token count) is recognised by its magic; any other file is read as raw
// tokens of `raw_bits` (16 or 32) bits, as nanoGPT's .bin files. uint16 tokens come back
// as int32, uint32 tokens as int64.
Tensor read_token_shard(const std::string& path, int raw_bits = 16);

}  // namespace anneal::data
