#include "distributed/socket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "distributed/errors.h"

namespace anneal::distributed::net {

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void Socket::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) return Clock::time_point::max();
  return Clock::now() + timeout;
}

namespace {

// Milliseconds left before the deadline, for poll (-1: no deadline), at least 0.
int poll_ms(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000000 ? 1000000000 : static_cast<int>(left) + 1;
}

// Waits for `events` on fd; false when the deadline passed first.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = poll_ms(deadline);
    int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the error
  }
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) freeaddrinfo(list);
  }
};

}  // namespace

Socket connect_to(const std::string& host, int port, Clock::time_point deadline) {
  std::string last = "no attempt made";
  const std::string where = host + ":" + std::to_string(port);
  for (int attempt = 0;; ++attempt) {
    AddrInfo ai;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai.list);
    if (gai != 0) {
      last = std::string("cannot resolve the host name: ") + gai_strerror(gai);
    } else {
      for (addrinfo* a = ai.list; a; a = a->ai_next) {
        Socket s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
        if (!s.valid()) {
          last = std::strerror(errno);
          continue;
        }
        int r = ::connect(s.fd(), a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
          // bounded by the deadline and by 2 s per attempt, so a black-holed address retries
          auto attempt_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(2));
          if (!wait_fd(s.fd(), POLLOUT, attempt_deadline)) {
            last = "connection attempt timed out";
            continue;
          }
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
          r = err == 0 ? 0 : -1;
          errno = err;
        }
        if (r != 0) {
          last = std::strerror(errno);
          continue;
        }
        // blocking from here on: send_all / recv_all poll with their own deadlines
        int flags = 1;
        setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
        return s;
      }
    }
    if (Clock::now() >= deadline)
      throw DistStoreError(str("could not connect to the rendezvous store at ", where, " before the timeout (last error: ",
                               last, "); check MASTER_ADDR/MASTER_PORT and that rank 0 is running"));
    auto pause = std::chrono::milliseconds(std::min(20 << std::min(attempt, 4), 250));
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
  }
}

Socket listen_on(int port, int* bound_port) {
  ANNEAL_CHECK(port >= 0 && port <= 65535, ValueError, "store port ", port, " is not in 0..65535");
  Socket s(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  bool v6 = s.valid();
  if (!v6) s = Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) throw DistStoreError(str("store: cannot create a socket: ", std::strerror(errno)));
  int one = 1, zero = 0;
  setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int r;
  if (v6) {
    setsockopt(s.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    r = ::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    r = ::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (r != 0)
    throw DistStoreError(str("store: cannot listen on port ", port, ": ", std::strerror(errno),
                             errno == EADDRINUSE ? " (another process uses it: pick another MASTER_PORT)" : ""));
  if (::listen(s.fd(), 1024) != 0) throw DistStoreError(str("store: listen failed: ", std::strerror(errno)));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(s.fd(), reinterpret_cast<sockaddr*>(&ss), &len);
  if (bound_port)
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return s;
}

void send_all(int fd, const void* data, size_t n, Clock::time_point deadline, const char* what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLOUT, deadline)) throw DistTimeoutError(str(what, ": timed out sending"));
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      throw DistNetworkError(str(what, ": connection lost (", std::strerror(errno), ")"));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void recv_all(int fd, void* data, size_t n, Clock::time_point deadline, const char* what) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLIN, deadline)) throw DistTimeoutError(str(what, ": timed out waiting for a reply"));
    ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
    if (r == 0) throw DistNetworkError(str(what, ": connection closed by the other side"));
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      throw DistNetworkError(str(what, ": connection lost (", std::strerror(errno), ")"));
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

std::string local_address_towards(const std::string& host, int port) {
  AddrInfo ai;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host.c_str(), std::to_string(port > 0 ? port : 1).c_str(), &hints, &ai.list) != 0 || !ai.list)
    return host;
  Socket s(::socket(ai.list->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid() || ::connect(s.fd(), ai.list->ai_addr, ai.list->ai_addrlen) != 0) return host;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(s.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return host;
  char buf[INET6_ADDRSTRLEN] = {};
  const void* addr = ss.ss_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
  if (!inet_ntop(ss.ss_family, addr, buf, sizeof buf)) return host;
  return buf;
}

std::string interface_address(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) throw DistError(str("cannot list network interfaces: ", std::strerror(errno)));
  std::string found, names;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (names.find(std::string(" ") + i->ifa_name + ",") == std::string::npos) names += std::string(" ") + i->ifa_name + ",";
    if (ifname == i->ifa_name && found.empty()) {
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      found = buf;
    }
  }
  freeifaddrs(list);
  if (found.empty()) {
    if (!names.empty()) names.pop_back();
    throw DistError(str("network interface '", ifname, "' has no IPv4 address (interfaces with one:", names, ")"));
  }
  return found;
}

}  // namespace anneal::distributed::net
