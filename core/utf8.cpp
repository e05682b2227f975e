#include "core/utf8.h"

#include <cstdint>

namespace anneal {

size_t first_invalid_utf8(std::string_view s) {
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};  // smallest code point per length
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + size_t(len) > s.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      const auto cc = uint8_t(s[i + size_t(k)]);
      if ((cc >> 6) != 2) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += size_t(len);
  }
  return std::string_view::npos;
}

}  // namespace anneal
