#pragma once
// UTF-8 validity (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// Writers check the strings they store where the format requires UTF-8 (protobuf string
// fields, JSON), so a save never succeeds with a file that cannot be loaded back.
#include <cstddef>
#include <string_view>

namespace anneal {

// The byte offset of the first invalid sequence, or npos when `s` is valid UTF-8.
size_t first_invalid_utf8(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return first_invalid_utf8(s) == std::string_view::npos; }

}  // namespace anneal
