#include "core/checked_size.h"

#include <string>

namespace anneal {

static std::string sizes_str(const SmallVector<int64_t, 6>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  ANNEAL_CHECK(!__builtin_mul_overflow(a, b, &r), ValueError, what, ": size ", a, " * ", b,
               " overflows a 64-bit element count");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  ANNEAL_CHECK(!__builtin_add_overflow(a, b, &r), ValueError, what, ": size ", a, " + ", b,
               " overflows a 64-bit element count");
  return r;
}

int64_t checked_numel(const SmallVector<int64_t, 6>& sizes, const char* what) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t s : sizes) {
    ANNEAL_CHECK(s >= 0, ValueError, what, ": negative dimension ", s, " in shape ", sizes_str(sizes));
    // keep checking the other sizes for negatives; a zero anywhere makes the product 0
    if (!overflow && __builtin_mul_overflow(n, s, &n)) overflow = true;
  }
  if (overflow) {
    for (int64_t s : sizes)
      if (s == 0) return 0;
    throw ValueError(str(what, ": shape ", sizes_str(sizes), " has more elements than a 64-bit count holds"));
  }
  return n;
}

size_t checked_nbytes(int64_t numel, size_t element_size, const char* what) {
  ANNEAL_CHECK(numel >= 0, ValueError, what, ": negative element count ", numel);
  unsigned __int128 bytes = (unsigned __int128)uint64_t(numel) * element_size;
  if (bytes > kMaxTensorBytes)
    throw OutOfMemoryError(str(what, ": a tensor of ", numel, " elements of ", element_size, " bytes would need ",
                               (long double)bytes, " bytes, more than the ", kMaxTensorBytes,
                               " bytes (128 TiB) one allocation may ask for"));
  return size_t(bytes);
}

int64_t checked_extent(const SmallVector<int64_t, 6>& sizes, const SmallVector<int64_t, 6>& strides, int64_t offset,
                       const char* what) {
  ANNEAL_CHECK(sizes.size() == strides.size(), ValueError, what, ": ", sizes.size(), " sizes but ", strides.size(),
               " strides");
  ANNEAL_CHECK(offset >= 0, ValueError, what, ": negative storage offset ", offset);
  int64_t last = offset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ANNEAL_CHECK(sizes[i] >= 0, ValueError, what, ": negative size ", sizes[i], " in ", sizes_str(sizes));
    if (sizes[i] == 0) return 0;
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    ANNEAL_CHECK(strides[i] >= 0, ValueError, what, ": negative stride ", strides[i], " in ", sizes_str(strides));
    last = checked_add(last, checked_mul(sizes[i] - 1, strides[i], what), what);
  }
  return checked_add(last, 1, what);
}

}  // namespace anneal
