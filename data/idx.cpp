#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/checked_size.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "ops/factory.h"

namespace anneal::data {
namespace {

struct GzFile {
  gzFile f;
  explicit GzFile(const std::string& path) : f(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f) gzclose(f);
  }
};

// Reads exactly n bytes (gzread also reads uncompressed files); returns bytes read.
size_t read_all(gzFile f, void* dst, size_t n) {
  size_t got = 0;
  char* p = static_cast<char*>(dst);
  while (got < n) {
    unsigned chunk = unsigned(std::min<size_t>(n - got, 1u << 30));
    int r = gzread(f, p + got, chunk);
    if (r <= 0) break;
    got += size_t(r);
  }
  return got;
}

uint32_t be32(const unsigned char* b) { return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3]; }

}  // namespace

Tensor read_idx(const std::string& path) {
  GzFile file(path);
  ANNEAL_CHECK(file.f != nullptr, ValueError, "read_idx: cannot open '", path, "'");
  unsigned char head[4];
  size_t n = read_all(file.f, head, 4);
  ANNEAL_CHECK(n == 4, ValueError, "read_idx: '", path, "' is truncated: expected a 4-byte IDX header, found ", n,
               " bytes");
  ANNEAL_CHECK(head[0] == 0 && head[1] == 0, ValueError, "read_idx: '", path,
               "' is not an IDX file: expected magic bytes 00 00, found ", int(head[0]), " ", int(head[1]));
  const int type = head[2], ndim = head[3];
  size_t elem = 0;
  DType dtype = DType::UInt8;
  switch (type) {
    case 0x08: elem = 1; dtype = DType::UInt8; break;
    case 0x09: elem = 1; dtype = DType::Int32; break;
    case 0x0B: elem = 2; dtype = DType::Int32; break;
    case 0x0C: elem = 4; dtype = DType::Int32; break;
    case 0x0D: elem = 4; dtype = DType::Float32; break;
    case 0x0E: elem = 8; dtype = DType::Float64; break;
    default:
      throw ValueError(str("read_idx: '", path, "' has unknown IDX element type 0x", std::hex, type,
                           " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)"));
  }
  ANNEAL_CHECK(ndim >= 1 && ndim <= 8, ValueError, "read_idx: '", path, "' declares ", ndim,
               " dimensions (expected 1 to 8)");
  std::vector<unsigned char> dims_raw(size_t(ndim) * 4);
  n = read_all(file.f, dims_raw.data(), dims_raw.size());
  ANNEAL_CHECK(n == dims_raw.size(), ValueError, "read_idx: '", path, "' is truncated: expected ", ndim,
               " dimension sizes, found ", n, " bytes");
  Shape shape;
  for (int i = 0; i < ndim; ++i) shape.push_back(int64_t(be32(&dims_raw[size_t(i) * 4])));
  const int64_t count = checked_numel(shape, "read_idx");
  const size_t want = checked_nbytes(count, elem, "read_idx");
  // The declared size is only a claim: read in chunks and let the buffer grow with the
  // bytes that really arrive, so an 8-byte file declaring 2 GiB costs 8 bytes, not 2 GiB.
  // Chunks start at 64 KiB and double, so the buffer never exceeds twice what arrived.
  std::vector<unsigned char> raw;
  while (raw.size() < want) {
    const size_t at = raw.size(), take = std::min(std::max<size_t>(size_t(64) << 10, at), want - at);
    raw.resize(at + take);
    n = read_all(file.f, raw.data() + at, take);
    raw.resize(at + n);
    if (n < take) break;
  }
  ANNEAL_CHECK(raw.size() == want, ValueError, "read_idx: '", path, "' is truncated: shape ", shape_to_string(shape),
               " needs ", want, " bytes of data, found ", raw.size());
  unsigned char extra;
  ANNEAL_CHECK(read_all(file.f, &extra, 1) == 0, ValueError, "read_idx: '", path,
               "' has trailing bytes after the ", raw.size(), " bytes its header declares");
  Tensor out = empty(shape, TensorOptions(dtype));
  const unsigned char* p = raw.data();
  switch (type) {
    case 0x08: if (!raw.empty()) std::memcpy(out.data_ptr(), p, raw.size()); break;
    case 0x09: {
      int32_t* o = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < count; ++i) o[i] = int8_t(p[i]);
      break;
    }
    case 0x0B: {
      int32_t* o = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < count; ++i) o[i] = int16_t((p[2 * i] << 8) | p[2 * i + 1]);
      break;
    }
    case 0x0C: case 0x0D: {
      uint32_t* o = static_cast<uint32_t*>(out.data_ptr());
      for (int64_t i = 0; i < count; ++i) o[i] = be32(p + 4 * i);
      break;
    }
    case 0x0E: {
      uint64_t* o = static_cast<uint64_t*>(out.data_ptr());
      for (int64_t i = 0; i < count; ++i) o[i] = (uint64_t(be32(p + 8 * i)) << 32) | be32(p + 8 * i + 4);
      break;
    }
  }
  return out;
}

}  // namespace anneal::data
