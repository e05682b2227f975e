#pragma once
// Small blocking TCP helpers with deadlines (the store's client and server use them). All
// waits are bounded: nothing here can block past the deadline it is given.
#include <chrono>
#include <cstddef>
#include <string>

namespace anneal::distributed::net {

using Clock = std::chrono::steady_clock;

// An owned socket descriptor (closed on destruction).
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(o.release()) {}
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { reset(); }
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// Connects to host:port, retrying refused or unreachable attempts until the deadline (the
// server may not be up yet). Throws DistStoreError naming the address and the last error.
Socket connect_to(const std::string& host, int port, Clock::time_point deadline);
// Listens on all IPv4/IPv6 addresses at `port` (0: any free port; the bound one is
// written to *bound_port). Throws DistStoreError when the port is taken.
Socket listen_on(int port, int* bound_port);
// Sends / receives exactly n bytes before the deadline. A closed peer throws
// DistNetworkError, a passed deadline DistTimeoutError; `what` names the operation.
void send_all(int fd, const void* data, size_t n, Clock::time_point deadline, const char* what);
void recv_all(int fd, void* data, size_t n, Clock::time_point deadline, const char* what);
// The local IP address this host uses to reach host:port (no packet is sent: a UDP socket
// is connected and asked its name). Falls back to the host name's address.
std::string local_address_towards(const std::string& host, int port);
// The IPv4 address of a network interface (GLOO_SOCKET_IFNAME=eth0); throws naming it.
std::string interface_address(const std::string& ifname);
// Clock::time_point::max() for timeouts of zero or less (no deadline).
Clock::time_point deadline_after(std::chrono::milliseconds timeout);

}  // namespace anneal::distributed::net
