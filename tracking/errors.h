#pragma once
// Errors of the tracking layer: a registry that cannot be opened or written, a run that
// does not exist, a record that cannot be kept.
#include "core/error.h"

namespace anneal::tracking {

class RegistryError : public Error {
 public:
  using Error::Error;
};
class RunNotFound : public ValueError {
 public:
  using ValueError::ValueError;
};

}  // namespace anneal::tracking
