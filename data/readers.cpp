#include "data/readers.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/read_file.h"
#include "core/utf8.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

namespace anneal::data {

namespace {
std::string read_file(const std::string& path, const char* what) { return read_whole_file(path, what); }
}  // namespace

ImageSet read_cifar(const std::vector<std::string>& files, CifarKind kind) {
  ANNEAL_CHECK(!files.empty(), ValueError, "read_cifar: no files given");
  const int64_t label_bytes = kind == CifarKind::Cifar10 ? 1 : 2, classes = kind == CifarKind::Cifar10 ? 10 : 100;
  const int64_t pixels = 3 * 32 * 32, record = label_bytes + pixels;
  std::vector<std::string> blobs;
  int64_t n = 0;
  for (auto& path : files) {
    blobs.push_back(read_file(path, "read_cifar"));
    const int64_t size = int64_t(blobs.back().size());
    ANNEAL_CHECK(size > 0 && size % record == 0, ValueError, "read_cifar: '", path, "' should hold whole ", record,
                 "-byte records (", label_bytes, " label byte(s) + 3072 pixels), but has ", size, " bytes",
                 size % record ? " (truncated or not a CIFAR file)" : "");
    n += size / record;
  }
  Tensor images = empty({n, 3, 32, 32}, DType::UInt8), labels = empty({n}, DType::Int64);
  uint8_t* img = images.data_ptr<uint8_t>();
  int64_t* lab = labels.data_ptr<int64_t>();
  int64_t i = 0;
  for (size_t f = 0; f < blobs.size(); ++f) {
    const auto* p = reinterpret_cast<const uint8_t*>(blobs[f].data());
    for (int64_t r = 0; r < int64_t(blobs[f].size()) / record; ++r, ++i) {
      const uint8_t* rec = p + r * record;
      int64_t label = rec[label_bytes - 1];
      ANNEAL_CHECK(label < classes, ValueError, "read_cifar: '", files[f], "' record ", r, " has label ", label,
                   ", expected one of 0..", classes - 1);
      lab[i] = label;
      std::memcpy(img + i * pixels, rec + label_bytes, size_t(pixels));
    }
  }
  return {images, labels};
}

std::string read_text(const std::string& path) { return read_file(path, "read_text"); }

namespace {
// Decodes UTF-8; an invalid sequence (checked strictly: core/utf8.h) is an error naming
// its byte offset, so decode(encode(text)) gives back exactly the text.
std::vector<uint32_t> code_points(const std::string& s, const std::string& source) {
  const size_t bad = first_invalid_utf8(s);
  ANNEAL_CHECK(bad == std::string::npos, ValueError, "CharVocab: ", source, " is not valid UTF-8 at byte ", bad);
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[i + size_t(k)]) & 0x3F);
    out.push_back(cp);
    i += size_t(len);
  }
  return out;
}
void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3F)), s += char(0x80 | ((cp >> 6) & 0x3F)),
        s += char(0x80 | (cp & 0x3F));
  }
}
}  // namespace

CharVocab CharVocab::from_text(const std::string& text, const std::string& source) {
  CharVocab v;
  v.chars_ = code_points(text, source);
  std::sort(v.chars_.begin(), v.chars_.end());
  v.chars_.erase(std::unique(v.chars_.begin(), v.chars_.end()), v.chars_.end());
  return v;
}

CharVocab CharVocab::bytes() {
  CharVocab v;
  for (uint32_t b = 0; b < 256; ++b) v.chars_.push_back(b);
  v.bytes_ = true;
  return v;
}

Tensor CharVocab::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  if (bytes_) {
    for (char c : text) ids.push_back(int64_t(uint8_t(c)));
  } else {
    for (uint32_t cp : code_points(text, "the text to encode")) {
      auto it = std::lower_bound(chars_.begin(), chars_.end(), cp);
      ANNEAL_CHECK(it != chars_.end() && *it == cp, ValueError, "CharVocab.encode: character U+", std::hex, cp,
                   " is not in the vocabulary");
      ids.push_back(it - chars_.begin());
    }
  }
  return tensor(ids, {int64_t(ids.size())});
}

std::string CharVocab::decode(const Tensor& tokens) const {
  Tensor t = tokens.cpu().to(DType::Int64).contiguous();
  std::string s;
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    ANNEAL_CHECK(p[i] >= 0 && p[i] < size(), IndexError, "CharVocab.decode: token ", p[i],
                 " is outside the vocabulary of ", size());
    if (bytes_) s += char(p[i]);
    else append_utf8(s, chars_[size_t(p[i])]);
  }
  return s;
}

TextWindows::TextWindows(Tensor tokens, int64_t context) : tokens_(std::move(tokens)), context_(context) {
  ANNEAL_CHECK(tokens_.defined() && tokens_.dim() == 1 && is_integral(tokens_.dtype()), ValueError,
               "TextWindows: tokens must be a 1-D integer tensor");
  ANNEAL_CHECK(context > 0, ValueError, "TextWindows: context must be positive, got ", context);
  ANNEAL_CHECK(tokens_.numel() > context, ValueError, "TextWindows: ", tokens_.numel(),
               " tokens are too few for a context of ", context, " (need at least context + 1)");
  tokens_ = tokens_.contiguous();
}

Batch TextWindows::get(int64_t i) const {
  ANNEAL_CHECK(i >= 0 && i < size(), IndexError, "TextWindows: index ", i, " is out of range for ", size(),
               " windows");
  return {tokens_.slice(0, i, i + context_).to(DType::Int64), tokens_.slice(0, i + 1, i + 1 + context_).to(DType::Int64)};
}

Batch TextWindows::get_batch(const std::vector<int64_t>& indices) const {
  // One gather of [B, T + 1] positions, then input/target views of it.
  const int64_t B = int64_t(indices.size()), T = context_;
  std::vector<int64_t> pos(size_t(B * (T + 1)));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[size_t(b)];
    ANNEAL_CHECK(i >= 0 && i < size(), IndexError, "TextWindows: index ", i, " is out of range for ", size(),
                 " windows");
    for (int64_t t = 0; t <= T; ++t) pos[size_t(b * (T + 1) + t)] = i + t;
  }
  Tensor rows = index_select(tokens_, 0, tensor(pos, {B * (T + 1)})).to(DType::Int64).reshape({B, T + 1});
  return {rows.slice(1, 0, T).contiguous(), rows.slice(1, 1, T + 1).contiguous()};
}

namespace {
// n little-endian unsigned tokens of type From at `data` as a tensor of To.
template <typename From, typename To> Tensor widen(const char* data, int64_t n, DType dtype) {
  Tensor out = empty({n}, dtype);
  To* o = out.data_ptr<To>();
  for (int64_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, data + size_t(i) * sizeof(From), sizeof(From));
    o[i] = To(v);
  }
  return out;
}
}  // namespace

Tensor read_token_shard(const std::string& path, int raw_bits) {
  ANNEAL_CHECK(raw_bits == 16 || raw_bits == 32, ValueError, "read_token_shard: raw_bits must be 16 or 32, got ",
               raw_bits);
  const std::string blob = read_file(path, "read_token_shard");
  const char* data = blob.data();
  size_t bytes = blob.size();
  int bits = raw_bits;
  int32_t header[256];
  if (bytes >= sizeof(header) && (std::memcpy(header, data, sizeof(header)), header[0] == 20240520)) {
    ANNEAL_CHECK(header[1] == 1 || header[1] == 2, ValueError, "read_token_shard: '", path,
                 "' has llm.c version ", header[1], ", expected 1 (uint16 tokens) or 2 (uint32 tokens)");
    bits = header[1] == 1 ? 16 : 32;
    data += sizeof(header), bytes -= sizeof(header);
    ANNEAL_CHECK(header[2] >= 0 && size_t(header[2]) * size_t(bits / 8) == bytes, ValueError, "read_token_shard: '",
                 path, "' declares ", header[2], " tokens (", size_t(header[2]) * size_t(bits / 8),
                 " bytes) but holds ", bytes, " bytes of tokens (truncated?)");
  }
  const size_t width = size_t(bits / 8);
  ANNEAL_CHECK(bytes % width == 0, ValueError, "read_token_shard: '", path, "' has ", bytes,
               " bytes, not a whole number of ", bits, "-bit tokens (truncated?)");
  const int64_t n = int64_t(bytes / width);
  return bits == 16 ? widen<uint16_t, int32_t>(data, n, DType::Int32) : widen<uint32_t, int64_t>(data, n, DType::Int64);
}

}  // namespace anneal::data
