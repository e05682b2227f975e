#include "nn/safetensors.h"


#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

namespace anneal::nn {
namespace {

const char* st_dtype(DType d) {
  switch (d) {
    case DType::Float64: return "F64";
    case DType::Float32: return "F32";
    case DType::Float16: return "F16";
    case DType::BFloat16: return "BF16";
    case DType::Int64: return "I64";
    case DType::Int32: return "I32";
    case DType::UInt8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

std::optional<DType> from_st_dtype(const std::string& s) {
  if (s == "F64") return DType::Float64;
  if (s == "F32") return DType::Float32;
  if (s == "F16") return DType::Float16;
  if (s == "BF16") return DType::BFloat16;
  if (s == "I64") return DType::Int64;
  if (s == "I32") return DType::Int32;
  if (s == "U8") return DType::UInt8;
  if (s == "BOOL") return DType::Bool;
  return std::nullopt;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

// A small JSON reader for the header: objects, arrays, strings, integers.
struct Json {
  enum Kind { Object, Array, String, Number, Other } kind = Other;
  std::vector<std::pair<std::string, Json>> members;
  std::vector<Json> items;
  std::string str;
  int64_t num = 0;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& path) : s_(text), path_(path) {}
  Json parse() {
    Json j = value();
    ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON header");
    return j;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError(str("load_safetensors: '", path_, "' has a malformed header: ", what, " (at byte ", i_, ")"));
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(str("expected '", c, "'"));
    ++i_;
  }
  std::string string_() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) fail("unterminated escape");
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'u':
            if (i_ + 4 > s_.size()) fail("short \\u escape");
            for (size_t k = i_; k < i_ + 4; ++k)
              if (!std::isxdigit(static_cast<unsigned char>(s_[k]))) fail("bad \\u escape");
            out += char(std::stoi(s_.substr(i_, 4), nullptr, 16));
            i_ += 4;
            break;
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  Json value() {
    Json j;
    char c = peek();
    if (c == '{') {
      j.kind = Json::Object;
      ++i_;
      if (peek() == '}') return ++i_, j;
      while (true) {
        std::string k = string_();
        expect(':');
        j.members.emplace_back(k, value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return j;
      }
    }
    if (c == '[') {
      j.kind = Json::Array;
      ++i_;
      if (peek() == ']') return ++i_, j;
      while (true) {
        j.items.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return j;
      }
    }
    if (c == '"') {
      j.kind = Json::String;
      j.str = string_();
      return j;
    }
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = i_;
      ++i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      j.kind = Json::Number;
      if (i_ - start > 18) fail("number too large");
      j.num = std::stoll(s_.substr(start, i_ - start));
      return j;
    }
    fail(str("unexpected character '", c, "'"));
  }
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

const Json* member(const Json& o, const std::string& k) {
  for (auto& [n, v] : o.members)
    if (n == k) return &v;
  return nullptr;
}

}  // namespace

void save_safetensors(const std::string& path, const StateDict& tensors, const std::map<std::string, std::string>& meta) {
  NoGradGuard ng;
  std::vector<Tensor> data;
  std::ostringstream header;
  header << '{';
  bool first = true;
  if (!meta.empty()) {
    header << "\"__metadata__\":{";
    bool f2 = true;
    for (auto& [k, v] : meta) {
      header << (f2 ? "" : ",") << json_string(k) << ':' << json_string(v);
      f2 = false;
    }
    header << '}';
    first = false;
  }
  int64_t offset = 0;
  for (auto& [name, t] : tensors) {
    ANNEAL_CHECK(t.defined(), ValueError, "save_safetensors: tensor '", name, "' is undefined");
    Tensor c = t.detach().cpu().contiguous();
    header << (first ? "" : ",") << json_string(name) << ":{\"dtype\":\"" << st_dtype(c.dtype()) << "\",\"shape\":[";
    for (int64_t d = 0; d < c.dim(); ++d) header << (d ? "," : "") << c.size(d);
    header << "],\"data_offsets\":[" << offset << ',' << offset + int64_t(c.nbytes()) << "]}";
    offset += int64_t(c.nbytes());
    data.push_back(c);
    first = false;
  }
  header << '}';
  std::string h = header.str();
  while (h.size() % 8) h += ' ';  // the format pads the header to 8 bytes with spaces
  write_file_atomically(
      path,
      [&](std::ostream& f) {
        uint64_t n = h.size();
        unsigned char len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
        f.write(reinterpret_cast<const char*>(len), 8);
        f.write(h.data(), std::streamsize(h.size()));
        for (auto& t : data) f.write(static_cast<const char*>(t.data_ptr()), std::streamsize(t.nbytes()));
      },
      "save_safetensors");
}

StateDict load_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ANNEAL_CHECK(f.good(), ValueError, "load_safetensors: cannot open '", path, "'");
  f.seekg(0, std::ios::end);
  const int64_t size = f.tellg();
  f.seekg(0);
  ANNEAL_CHECK(size >= 8, ValueError, "load_safetensors: '", path, "' is truncated: expected an 8-byte header length, found ",
               size, " bytes");
  unsigned char len[8];
  f.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  ANNEAL_CHECK(n <= uint64_t(size - 8) && n < (uint64_t(100) << 20), ValueError, "load_safetensors: '", path,
               "' declares a ", n, "-byte header but the file has ", size - 8, " bytes after the length");
  std::string header(n, '\0');
  f.read(header.data(), std::streamsize(n));
  Json root = Parser(header, path).parse();
  ANNEAL_CHECK(root.kind == Json::Object, ValueError, "load_safetensors: '", path, "': the header is not a JSON object");
  const int64_t data_start = 8 + int64_t(n), data_size = size - data_start;
  StateDict out;
  for (auto& [name, entry] : root.members) {
    if (name == "__metadata__") continue;
    const Json* dt = member(entry, "dtype");
    const Json* shape = member(entry, "shape");
    const Json* offs = member(entry, "data_offsets");
    ANNEAL_CHECK(dt && dt->kind == Json::String && shape && shape->kind == Json::Array && offs &&
                     offs->kind == Json::Array && offs->items.size() == 2,
                 ValueError, "load_safetensors: '", path, "': entry '", name,
                 "' needs \"dtype\", \"shape\" and two \"data_offsets\"");
    auto dtype = from_st_dtype(dt->str);
    ANNEAL_CHECK(dtype.has_value(), ValueError, "load_safetensors: '", path, "': tensor '", name,
                 "' has unsupported dtype ", dt->str);
    Shape s;
    for (auto& d : shape->items) {
      ANNEAL_CHECK(d.kind == Json::Number && d.num >= 0, ValueError, "load_safetensors: '", path, "': tensor '", name,
                   "' has a bad shape entry");
      s.push_back(d.num);
    }
    const int64_t b = offs->items[0].num, e = offs->items[1].num;
    const int64_t want = shape_numel(s) * int64_t(element_size(*dtype));
    ANNEAL_CHECK(b >= 0 && e >= b && e - b == want, ValueError, "load_safetensors: '", path, "': tensor '", name,
                 "' of shape ", shape_to_string(s), " needs ", want, " bytes but its offsets span ", e - b);
    ANNEAL_CHECK(e <= data_size, ValueError, "load_safetensors: '", path, "' is truncated: tensor '", name,
                 "' ends at byte ", e, " of the data but the file holds ", data_size);
    Tensor t = empty(s, TensorOptions(*dtype));
    f.seekg(data_start + b);
    f.read(static_cast<char*>(t.data_ptr()), std::streamsize(want));
    ANNEAL_CHECK(f.good() || want == 0, ValueError, "load_safetensors: '", path, "': reading tensor '", name, "' failed");
    out.emplace_back(name, t);
  }
  return out;
}

}  // namespace anneal::nn
