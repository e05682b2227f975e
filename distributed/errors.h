#pragma once
// The errors of distributed training, as PyTorch names them (torch.distributed.DistError
// and its kinds), so a caller can tell a dead peer from a slow one from a bad address.
#include "core/error.h"

namespace anneal::distributed {

class DistError : public Error {  // any failure of a collective, the store or rendezvous
 public:
  using Error::Error;
};
class DistStoreError : public DistError {  // the key-value store: timeouts, lost server
 public:
  using DistError::DistError;
};
class DistNetworkError : public DistError {  // a peer's connection closed or reset
 public:
  using DistError::DistError;
};
class DistTimeoutError : public DistError {  // an operation did not finish in its timeout
 public:
  using DistError::DistError;
};

}  // namespace anneal::distributed
