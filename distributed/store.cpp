// TCPStore: a request/reply protocol over TCP. A request is [u32 length][u8 op][payload],
// a reply [u32 length][payload]; strings travel as [u32 length][bytes]. The server is one
// thread polling every client socket; GET and WAIT on missing keys park the client until
// another client sets them (the client enforces its own timeout).
#include "distributed/store.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include "distributed/errors.h"

namespace anneal::distributed {
namespace {

enum Op : uint8_t { SET = 1, GET, ADD, CAS, CHECK, WAIT, DELETE, HELLO, BYE, PROGRESS, STATUS, NUM_KEYS };
constexpr uint32_t kMaxMessage = 256u << 20;  // a request larger than this is a protocol error

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& s, int64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& s, const std::string& v) {
  ANNEAL_CHECK(v.size() < kMaxMessage, ValueError, "store: a key or value of ", v.size(), " bytes is too large");
  put_u32(s, static_cast<uint32_t>(v.size()));
  s += v;
}

struct ProtocolError {};

struct Reader {
  const std::string& s;
  size_t pos = 0;
  void need(size_t n) const {
    if (s.size() - pos < n) throw ProtocolError{};
  }
  uint32_t u32() {
    need(4);
    uint32_t v;
    std::memcpy(&v, s.data() + pos, 4);
    pos += 4;
    return v;
  }
  int64_t i64() {
    need(8);
    int64_t v;
    std::memcpy(&v, s.data() + pos, 8);
    pos += 8;
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    need(n);
    std::string v = s.substr(pos, n);
    pos += n;
    return v;
  }
};

std::string frame(const std::string& payload) {
  std::string out;
  put_u32(out, static_cast<uint32_t>(payload.size()));
  return out + payload;
}

}  // namespace

// ---- server ----

class TCPStoreServer {
 public:
  explicit TCPStoreServer(int port) {
    listener_ = net::listen_on(port, &port_);
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw DistStoreError(str("store: pipe failed: ", std::strerror(errno)));
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "anneal-store");
      run();
    });
  }
  ~TCPStoreServer() {
    char c = 0;
    (void)!::write(wake_[1], &c, 1);
    thread_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  int port() const { return port_; }

 private:
  struct Client {
    net::Socket sock;
    std::string in, out;
    int rank = -1;
    bool bye = false;
  };
  struct Waiter {
    int client;
    Op op;
    std::vector<std::string> keys;
  };

  void run() {
    for (;;) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listener_.fd(), POLLIN, 0}};
      std::vector<int> ids;
      for (auto& [id, c] : clients_) {
        fds.push_back({c.sock.fd(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
        ids.push_back(id);
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;  // the owner is shutting down
      if (fds[1].revents & POLLIN) {
        int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) clients_[next_id_++].sock = net::Socket(fd);
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        auto it = clients_.find(ids[i]);
        if (it == clients_.end()) continue;
        short ev = fds[i + 2].revents;
        bool ok = true;
        if (ev & (POLLIN | POLLHUP | POLLERR)) ok = read_from(ids[i], it->second);
        if (ok && (ev & POLLOUT)) ok = flush(it->second);
        if (!ok) drop(ids[i]);
      }
    }
  }

  bool flush(Client& c) {
    while (!c.out.empty()) {
      ssize_t w = ::send(c.sock.fd(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.out.erase(0, static_cast<size_t>(w));
    }
    return true;
  }

  bool read_from(int id, Client& c) {
    char buf[65536];
    for (;;) {
      ssize_t r = ::recv(c.sock.fd(), buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0) return false;
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return false;
      }
      c.in.append(buf, static_cast<size_t>(r));
    }
    while (c.in.size() >= 4) {
      uint32_t len;
      std::memcpy(&len, c.in.data(), 4);
      if (len == 0 || len > kMaxMessage) return false;
      if (c.in.size() < 4 + size_t{len}) break;
      std::string msg = c.in.substr(4, len);
      c.in.erase(0, 4 + size_t{len});
      try {
        handle(id, c, msg);
      } catch (const ProtocolError&) {
        return false;
      }
    }
    return flush(c);
  }

  void reply(Client& c, const std::string& payload) { c.out += frame(payload); }

  void handle(int id, Client& c, const std::string& msg) {
    Reader r{msg, 1};
    const Op op = static_cast<Op>(static_cast<uint8_t>(msg[0]));
    std::string out;
    switch (op) {
      case SET: {
        std::string key = r.str();
        data_[key] = r.str();
        reply(c, std::string(1, '\0'));
        wake_waiters();
        return;
      }
      case GET:
      case WAIT: {
        std::vector<std::string> keys;
        if (op == GET) keys.push_back(r.str());
        else
          for (uint32_t n = r.u32(), i = 0; i < n; ++i) keys.push_back(r.str());
        waiters_.push_back({id, op, std::move(keys)});
        wake_waiters();
        return;
      }
      case ADD: {
        std::string key = r.str();
        int64_t delta = r.i64();
        int64_t v = 0;
        auto it = data_.find(key);
        if (it != data_.end()) {
          try {
            v = std::stoll(it->second);
          } catch (...) {
            v = 0;
          }
        }
        v += delta;
        data_[key] = std::to_string(v);
        put_i64(out, v);
        reply(c, out);
        wake_waiters();
        return;
      }
      case CAS: {
        std::string key = r.str(), expected = r.str(), desired = r.str();
        auto it = data_.find(key);
        if (it == data_.end()) {
          if (expected.empty()) data_[key] = desired;
        } else if (it->second == expected) {
          it->second = desired;
        }
        it = data_.find(key);
        put_str(out, it == data_.end() ? expected : it->second);
        reply(c, out);
        wake_waiters();
        return;
      }
      case CHECK: {
        bool all = true;
        for (uint32_t n = r.u32(), i = 0; i < n; ++i) all = all && data_.count(r.str());
        reply(c, std::string(1, all ? '\1' : '\0'));
        return;
      }
      case DELETE: {
        bool existed = data_.erase(r.str()) > 0;
        reply(c, std::string(1, existed ? '\1' : '\0'));
        return;
      }
      case HELLO: {
        c.rank = static_cast<int>(r.i64());
        auto& s = status_[c.rank];
        s.rank = c.rank;
        s.state = RankStatus::Alive;
        reply(c, std::string(1, '\0'));
        return;
      }
      case BYE:
        c.bye = true;
        if (c.rank >= 0) status_[c.rank].state = RankStatus::Left;
        return;
      case PROGRESS:
        if (c.rank >= 0) status_[c.rank].last_started = r.i64();
        return;
      case STATUS:
        put_u32(out, static_cast<uint32_t>(status_.size()));
        for (auto& [rank, s] : status_) {
          put_i64(out, rank);
          out.push_back(static_cast<char>(s.state));
          put_i64(out, s.last_started);
        }
        reply(c, out);
        return;
      case NUM_KEYS:
        put_i64(out, static_cast<int64_t>(data_.size()));
        reply(c, out);
        return;
    }
    throw ProtocolError{};
  }

  // Answers every parked GET/WAIT whose keys now exist.
  void wake_waiters() {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      bool ready = true;
      for (auto& k : it->keys) ready = ready && data_.count(k);
      auto c = clients_.find(it->client);
      if (c == clients_.end()) {
        it = waiters_.erase(it);
        continue;
      }
      if (!ready) {
        ++it;
        continue;
      }
      std::string out;
      if (it->op == GET) put_str(out, data_[it->keys[0]]);
      else out.assign(1, '\0');
      reply(c->second, out);
      flush(c->second);
      it = waiters_.erase(it);
    }
  }

  void drop(int id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    if (it->second.rank >= 0 && !it->second.bye) {
      // the rank may have reconnected on another socket meanwhile: only the last one counts
      bool other = false;
      for (auto& [oid, oc] : clients_)
        if (oid != id && oc.rank == it->second.rank) other = true;
      if (!other) status_[it->second.rank].state = RankStatus::Gone;
    }
    clients_.erase(it);
    for (auto w = waiters_.begin(); w != waiters_.end();) w = w->client == id ? waiters_.erase(w) : std::next(w);
  }

  net::Socket listener_;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::map<int, Client> clients_;
  int next_id_ = 0;
  std::map<std::string, std::string> data_;
  std::vector<Waiter> waiters_;
  std::map<int, RankStatus> status_;
};

// ---- client ----

TCPStore::TCPStore(std::string host, int port, bool is_server, std::chrono::milliseconds timeout, int rank)
    : host_(std::move(host)), port_(port), rank_(rank) {
  timeout_ = timeout;
  if (is_server) {
    server_ = std::make_unique<TCPStoreServer>(port);
    port_ = server_->port();
  }
  std::lock_guard<std::mutex> lock(mu_);
  connect_locked(net::deadline_after(timeout_));
}

TCPStore::~TCPStore() {
  if (server_ && rank_ >= 0) {
    // The host waits (up to 3 s) for the other ranks to leave, so that peers finishing
    // their last requests still get answers.
    auto until = net::Clock::now() + std::chrono::seconds(3);
    try {
      while (net::Clock::now() < until) {
        bool others = false;
        for (auto& s : rank_status(std::chrono::seconds(1)))
          if (s.rank != rank_ && s.state == RankStatus::Alive) others = true;
        if (!others) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } catch (...) {
    }
  }
  try {
    goodbye();
  } catch (...) {
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    sock_.reset();
  }
  server_.reset();
}

void TCPStore::connect_locked(net::Clock::time_point deadline) {
  sock_ = net::connect_to(server_ ? std::string("127.0.0.1") : host_, port_, deadline);
  if (rank_ >= 0) {
    std::string p;
    p.push_back(static_cast<char>(HELLO));
    put_i64(p, rank_);
    std::string f = frame(p);
    net::send_all(sock_.fd(), f.data(), f.size(), deadline, "store hello");
    char hdr[5];
    net::recv_all(sock_.fd(), hdr, 5, deadline, "store hello");
  }
}

std::string TCPStore::request(uint8_t op, const std::string& payload, bool expect_reply,
                              std::chrono::milliseconds timeout, const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto deadline = net::deadline_after(timeout);
  try {
    if (!sock_.valid()) connect_locked(deadline);
    std::string msg = frame(std::string(1, static_cast<char>(op)) + payload);
    net::send_all(sock_.fd(), msg.data(), msg.size(), deadline, what);
    if (!expect_reply) return {};
    uint32_t len;
    net::recv_all(sock_.fd(), &len, 4, deadline, what);
    if (len > kMaxMessage) throw DistStoreError(str(what, ": malformed reply from the store"));
    std::string out(len, '\0');
    net::recv_all(sock_.fd(), out.data(), len, deadline, what);
    return out;
  } catch (const DistTimeoutError& e) {
    sock_.reset();  // a late reply would desynchronise the stream: start afresh next call
    throw DistStoreError(str(e.what(), " (timeout ", timeout.count(), " ms, store ", host_, ":", port_, ")"));
  } catch (const DistNetworkError& e) {
    sock_.reset();
    throw DistStoreError(str(e.what(), " (store ", host_, ":", port_,
                             "; the store is hosted by rank 0: has it exited?)"));
  }
}

void TCPStore::set(const std::string& key, const std::string& value) {
  std::string p;
  put_str(p, key);
  put_str(p, value);
  request(SET, p, true, timeout_, "store set");
}

std::string TCPStore::get(const std::string& key) {
  std::string p;
  put_str(p, key);
  std::string r;
  try {
    r = request(GET, p, true, timeout_, "store get");
  } catch (const DistStoreError& e) {
    throw DistStoreError(str("store get of key '", key, "': ", e.what()));
  }
  Reader rd{r};
  try {
    return rd.str();
  } catch (const ProtocolError&) {
    throw DistStoreError("store get: malformed reply");
  }
}

int64_t TCPStore::add(const std::string& key, int64_t delta) {
  std::string p;
  put_str(p, key);
  put_i64(p, delta);
  std::string r = request(ADD, p, true, timeout_, "store add");
  if (r.size() != 8) throw DistStoreError("store add: malformed reply");
  int64_t v;
  std::memcpy(&v, r.data(), 8);
  return v;
}

std::string TCPStore::compare_set(const std::string& key, const std::string& expected, const std::string& desired) {
  std::string p;
  put_str(p, key);
  put_str(p, expected);
  put_str(p, desired);
  std::string r = request(CAS, p, true, timeout_, "store compare_set");
  Reader rd{r};
  try {
    return rd.str();
  } catch (const ProtocolError&) {
    throw DistStoreError("store compare_set: malformed reply");
  }
}

bool TCPStore::check(const std::vector<std::string>& keys) {
  std::string p;
  put_u32(p, static_cast<uint32_t>(keys.size()));
  for (auto& k : keys) put_str(p, k);
  return request(CHECK, p, true, timeout_, "store check") == std::string(1, '\1');
}

void TCPStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::string p;
  put_u32(p, static_cast<uint32_t>(keys.size()));
  for (auto& k : keys) put_str(p, k);
  try {
    request(WAIT, p, true, timeout, "store wait");
  } catch (const DistStoreError& e) {
    std::string names;
    for (auto& k : keys) names += (names.empty() ? "'" : ", '") + k + "'";
    throw DistStoreError(str("store wait for ", names, ": ", e.what()));
  }
}

bool TCPStore::delete_key(const std::string& key) {
  std::string p;
  put_str(p, key);
  return request(DELETE, p, true, timeout_, "store delete") == std::string(1, '\1');
}

int64_t TCPStore::num_keys() {
  std::string r = request(NUM_KEYS, "", true, timeout_, "store num_keys");
  int64_t v = 0;
  if (r.size() == 8) std::memcpy(&v, r.data(), 8);
  return v;
}

void TCPStore::report_progress(int64_t seq) {
  if (rank_ < 0) return;
  std::string p;
  put_i64(p, seq);
  try {
    request(PROGRESS, p, false, timeout_, "store progress");
  } catch (const DistError&) {
    // a lost store shows up in the collective itself; progress reports are best effort
  }
}

std::vector<RankStatus> TCPStore::rank_status(std::chrono::milliseconds timeout) {
  std::string r = request(STATUS, "", true, timeout, "store status");
  std::vector<RankStatus> out;
  try {
    Reader rd{r};
    for (uint32_t n = rd.u32(), i = 0; i < n; ++i) {
      RankStatus s;
      s.rank = static_cast<int>(rd.i64());
      rd.need(1);
      s.state = static_cast<RankStatus::State>(r[rd.pos++]);
      s.last_started = rd.i64();
      out.push_back(s);
    }
  } catch (const ProtocolError&) {
    throw DistStoreError("store status: malformed reply");
  }
  return out;
}

void TCPStore::goodbye() {
  if (said_goodbye_ || rank_ < 0) return;
  said_goodbye_ = true;
  request(BYE, "", false, std::chrono::seconds(2), "store goodbye");
}

// ---- prefix ----

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> base)
    : prefix_(std::move(prefix)), base_(std::move(base)) {
  timeout_ = base_->timeout();
}

bool PrefixStore::check(const std::vector<std::string>& keys) {
  std::vector<std::string> full;
  for (auto& key : keys) full.push_back(k(key));
  return base_->check(full);
}

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::vector<std::string> full;
  for (auto& key : keys) full.push_back(k(key));
  base_->wait(full, timeout);
}

}  // namespace anneal::distributed
