#include "nn/safetensors.h"


#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "core/checked_size.h"
#include "core/error.h"
#include "core/read_file.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

namespace anneal::nn {
namespace {

// The format's own bound on the JSON header (safetensors' reference implementation: 100 MB).
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

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

using Json = nlohmann::ordered_json;  // ordered: tensors come back in the file's order

// The header's only nesting: {name: {dtype, shape: [..], data_offsets: [..]}} and
// "__metadata__": {key: value}. A deeper document is refused while it is parsed, so a
// header of 50,000 '[' costs nothing.
constexpr int kMaxDepth = 3;

// Parses the header, refusing what the format forbids on the way: nesting deeper than the
// format, duplicate keys (a JSON library keeps one silently), invalid UTF-8 (the library's).
Json parse_header(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> keys;  // the keys seen in each open object
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxDepth)
      throw ValueError(str("load_safetensors: '", path, "': the header nests deeper than the format's ", kMaxDepth,
                           " levels"));
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end && !keys.empty()) keys.pop_back();
    if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      throw ValueError(str("load_safetensors: '", path, "': the header has the key '", parsed.get<std::string>(),
                           "' twice in one object"));
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const Json::exception& e) {
    throw ValueError(str("load_safetensors: '", path, "' has a malformed header: ", e.what()));
  }
}

[[noreturn]] void bad_entry(const std::string& path, const std::string& name, const std::string& what) {
  throw ValueError(str("load_safetensors: '", path, "': tensor '", name, "': ", what));
}

// A non-negative JSON integer (not a float, a string or a negative number).
uint64_t unsigned_field(const Json& v, const std::string& path, const std::string& name, const char* field) {
  if (!v.is_number_unsigned())
    bad_entry(path, name, str("\"", field, "\" must hold non-negative integers, found ", v.dump()));
  return v.get<uint64_t>();
}

// One tensor's entry, checked field by field.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const Json& e) {
  if (!e.is_object()) bad_entry(path, name, "the entry must be an object");
  for (auto& [k, v] : e.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      bad_entry(path, name, str("unexpected field \"", k, "\" (expected dtype, shape, data_offsets)"));
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!e.contains(k)) bad_entry(path, name, str("the field \"", k, "\" is missing"));
  const Json& dt = e["dtype"];
  if (!dt.is_string()) bad_entry(path, name, "\"dtype\" must be a string");
  auto dtype = from_st_dtype(dt.get<std::string>());
  if (!dtype)
    bad_entry(path, name, str("unsupported dtype \"", dt.get<std::string>(), "\" (expected F64, F32, F16, BF16, I64, I32, U8 or BOOL)"));
  const Json& sh = e["shape"];
  if (!sh.is_array()) bad_entry(path, name, "\"shape\" must be an array");
  Entry out{name, *dtype, {}, 0, 0};
  for (auto& d : sh) {
    const uint64_t v = unsigned_field(d, path, name, "shape");
    if (v > uint64_t(INT64_MAX)) bad_entry(path, name, str("shape entry ", v, " is too large"));
    out.shape.push_back(int64_t(v));
  }
  const Json& offs = e["data_offsets"];
  if (!offs.is_array() || offs.size() != 2) bad_entry(path, name, "\"data_offsets\" must be an array of two integers");
  out.begin = unsigned_field(offs[0], path, name, "data_offsets");
  out.end = unsigned_field(offs[1], path, name, "data_offsets");
  if (out.end < out.begin) bad_entry(path, name, str("data_offsets [", out.begin, ", ", out.end, "] end before they begin"));
  int64_t numel = 0;
  size_t want = 0;
  try {
    numel = checked_numel(out.shape, "load_safetensors");
    want = checked_nbytes(numel, element_size(*dtype), "load_safetensors");
  } catch (const Error&) {
    bad_entry(path, name, str("shape ", shape_to_string(out.shape), " is larger than any tensor can be"));
  }
  if (out.end - out.begin != want)
    bad_entry(path, name, str("shape ", shape_to_string(out.shape), " of ", dt.get<std::string>(), " needs ", want,
                              " bytes but its data_offsets span ", out.end - out.begin));
  return out;
}

}  // namespace

void save_safetensors(const std::string& path, const StateDict& tensors, const std::map<std::string, std::string>& meta) {
  NoGradGuard ng;
  std::vector<Tensor> data;
  Json header = Json::object();
  if (!meta.empty()) {
    Json m = Json::object();
    for (auto& [k, v] : meta) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (auto& [name, t] : tensors) {
    ANNEAL_CHECK(t.defined(), ValueError, "save_safetensors: tensor '", name, "' is undefined");
    ANNEAL_CHECK(name != "__metadata__", ValueError, "save_safetensors: '__metadata__' is reserved, not a tensor name");
    ANNEAL_CHECK(!header.contains(name), ValueError, "save_safetensors: tensor '", name, "' appears twice");
    Tensor c = t.detach().cpu().contiguous();
    Json shape = Json::array();
    for (int64_t d = 0; d < c.dim(); ++d) shape.push_back(c.size(d));
    header[name] = Json{{"dtype", st_dtype(c.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    data.push_back(c);
  }
  std::string h;
  try {
    h = header.dump();
  } catch (const Json::exception& e) {  // a name or metadata string that is not UTF-8
    throw ValueError(str("save_safetensors: '", path, "': a tensor name or metadata value is not valid UTF-8 (", e.what(), ")"));
  }
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
  // Validated in full before a tensor is allocated: the header length against the file,
  // every entry's fields, and the offsets (inside the data, not overlapping, covering it
  // without holes, as the format requires), so an allocation never exceeds the file.
  const ReadOnlyFile file(path, "load_safetensors");
  const uint64_t size = file.size();
  ANNEAL_CHECK(size >= 8, ValueError, "load_safetensors: '", path,
               "' is truncated: expected an 8-byte header length, found ", size, " bytes");
  unsigned char len[8];
  file.read_at(0, len, 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  ANNEAL_CHECK(n <= size - 8, ValueError, "load_safetensors: '", path, "' declares a ", n,
               "-byte header but the file has ", size - 8, " bytes after the length");
  ANNEAL_CHECK(n <= kMaxHeaderBytes, ValueError, "load_safetensors: '", path, "' declares a ", n,
               "-byte header, more than the format's limit of ", kMaxHeaderBytes);
  std::string text(size_t(n), '\0');
  file.read_at(8, text.data(), n);
  ANNEAL_CHECK(n >= 2 && text[0] == '{', ValueError, "load_safetensors: '", path,
               "': the header must be a JSON object starting with '{'");
  const Json root = parse_header(text, path);
  ANNEAL_CHECK(root.is_object(), ValueError, "load_safetensors: '", path, "': the header is not a JSON object");
  const uint64_t data_start = 8 + n, data_size = size - data_start;
  std::vector<Entry> entries;
  for (auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      ANNEAL_CHECK(entry.is_object(), ValueError, "load_safetensors: '", path, "': \"__metadata__\" must be an object");
      for (auto& [k, v] : entry.items())
        ANNEAL_CHECK(v.is_string(), ValueError, "load_safetensors: '", path, "': metadata value of '", k,
                     "' must be a string, found ", v.dump());
      continue;
    }
    entries.push_back(parse_entry(path, name, entry));
  }
  std::vector<const Entry*> by_offset;
  for (auto& e : entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const Entry* a, const Entry* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
  uint64_t covered = 0;
  for (const Entry* e : by_offset) {
    ANNEAL_CHECK(e->begin >= covered, ValueError, "load_safetensors: '", path, "': tensor '", e->name,
                 "' (bytes ", e->begin, " to ", e->end, ") overlaps the tensor before it, which ends at ", covered);
    ANNEAL_CHECK(e->begin == covered, ValueError, "load_safetensors: '", path, "': bytes ", covered, " to ", e->begin,
                 " of the data belong to no tensor (the format allows no holes)");
    covered = e->end;
  }
  ANNEAL_CHECK(covered <= data_size, ValueError, "load_safetensors: '", path, "' is truncated: its tensors need ",
               covered, " bytes of data, the file holds ", data_size);
  ANNEAL_CHECK(covered == data_size, ValueError, "load_safetensors: '", path, "' has ", data_size - covered,
               " bytes after the last tensor's data");
  StateDict out;
  for (const Entry& e : entries) {
    const size_t bytes = size_t(e.end - e.begin);
    Tensor t = empty(e.shape, TensorOptions(e.dtype));
    if (bytes) file.read_at(data_start + e.begin, t.data_ptr(), bytes);
    if (e.dtype == DType::Bool) {
      const auto* b = static_cast<const uint8_t*>(t.data_ptr());
      for (size_t i = 0; i < bytes; ++i)
        ANNEAL_CHECK(b[i] <= 1, ValueError, "load_safetensors: '", path, "': bool tensor '", e.name, "' holds byte ",
                     int(b[i]), " at element ", i, " (expected 0 or 1)");
    }
    out.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace anneal::nn
