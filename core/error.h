#pragma once
// Typed errors. Each kind maps onto a Python exception later (ValueError for shapes,
// TypeError for dtypes, IndexError for indices, RuntimeError for the rest), so the
// kind is chosen by what was wrong, and the message names the op and the values.
#include <sstream>
#include <stdexcept>
#include <string>

namespace anneal {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ValueError : public Error {  // shapes, sizes, arguments out of their domain
 public:
  using Error::Error;
};
class TypeError : public Error {  // dtypes
 public:
  using Error::Error;
};
class IndexError : public Error {  // indices and dims out of range
 public:
  using Error::Error;
};
class DeviceError : public Error {  // devices: unknown, unavailable, mismatched
 public:
  using Error::Error;
};
class AutogradError : public Error {  // graph misuse: freed graph, modified saved tensor
 public:
  using Error::Error;
};
class OutOfMemoryError : public Error {  // an allocation the device or the size limit refuses
 public:
  using Error::Error;
};
class NotImplementedError : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline void str_into(std::ostringstream&) {}
template <typename T, typename... Rest>
void str_into(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  str_into(os, rest...);
}
}  // namespace detail

template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::str_into(os, args...);
  return os.str();
}

}  // namespace anneal

// ANNEAL_CHECK(cond, ErrorKind, parts...): throw ErrorKind(str(parts...)) unless cond.
#define ANNEAL_CHECK(cond, Kind, ...)                 \
  do {                                                \
    if (!(cond)) throw ::anneal::Kind(::anneal::str(__VA_ARGS__)); \
  } while (0)
