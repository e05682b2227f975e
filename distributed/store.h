#pragma once
// The rendezvous key-value store (PyTorch's c10d Store): ranks meet here to exchange the
// Gloo addresses and the NCCL unique id. TCPStore is hosted by rank 0 (a server thread)
// and reached by every rank over TCP; every call has a timeout. The server also knows
// which ranks are connected and the last collective each one started, which is how a
// survivor names the rank that died or stalled.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "distributed/socket.h"

namespace anneal::distributed {

class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::string& value) = 0;
  // Waits (up to the store's timeout) for the key to exist.
  virtual std::string get(const std::string& key) = 0;
  // Adds delta to the integer at key (missing: 0) and returns the new value.
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
  // Sets desired when the current value equals expected (or the key is missing and
  // expected is empty); returns the value after the call.
  virtual std::string compare_set(const std::string& key, const std::string& expected, const std::string& desired) = 0;
  virtual bool check(const std::vector<std::string>& keys) = 0;  // all exist now
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  void wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }
  virtual bool delete_key(const std::string& key) = 0;
  virtual int64_t num_keys() = 0;
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 protected:
  std::chrono::milliseconds timeout_{std::chrono::minutes(5)};
};

// What the server knows of a rank.
struct RankStatus {
  int rank = -1;
  enum State : uint8_t { Alive = 0, Left = 1, Gone = 2 } state = Alive;  // Left: said goodbye
  int64_t last_started = -1;  // sequence number of the last collective it started
};

class TCPStoreServer;

class TCPStore : public Store {
 public:
  // is_server: host the store at port (0: any free port, see port()). rank >= 0 registers
  // this client as that rank (liveness and progress reports).
  TCPStore(std::string host, int port, bool is_server, std::chrono::milliseconds timeout, int rank = -1);
  ~TCPStore() override;
  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;
  std::string compare_set(const std::string& key, const std::string& expected, const std::string& desired) override;
  bool check(const std::vector<std::string>& keys) override;
  using Store::wait;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool delete_key(const std::string& key) override;
  int64_t num_keys() override;

  // Fire-and-forget: this rank started collective `seq` (no reply is awaited).
  void report_progress(int64_t seq);
  // Every rank the server has heard of, within `timeout`.
  std::vector<RankStatus> rank_status(std::chrono::milliseconds timeout);
  // Tells the server this rank leaves cleanly (not "gone"); called by the destructor.
  void goodbye();
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  std::string request(uint8_t op, const std::string& payload, bool expect_reply, std::chrono::milliseconds timeout,
                      const char* what);
  void connect_locked(net::Clock::time_point deadline);

  std::string host_;
  int port_;
  int rank_;
  std::unique_ptr<TCPStoreServer> server_;
  std::mutex mu_;
  net::Socket sock_;
  bool said_goodbye_ = false;
};

// Keys under "prefix/" of another store (one per process group).
class PrefixStore : public Store {
 public:
  PrefixStore(std::string prefix, std::shared_ptr<Store> base);
  void set(const std::string& key, const std::string& value) override { base_->set(k(key), value); }
  std::string get(const std::string& key) override { return base_->get(k(key)); }
  int64_t add(const std::string& key, int64_t delta) override { return base_->add(k(key), delta); }
  std::string compare_set(const std::string& key, const std::string& e, const std::string& d) override {
    return base_->compare_set(k(key), e, d);
  }
  bool check(const std::vector<std::string>& keys) override;
  using Store::wait;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool delete_key(const std::string& key) override { return base_->delete_key(k(key)); }
  int64_t num_keys() override { return base_->num_keys(); }
  const std::shared_ptr<Store>& base() const { return base_; }

 private:
  std::string k(const std::string& key) const { return prefix_ + "/" + key; }
  std::string prefix_;
  std::shared_ptr<Store> base_;
};

}  // namespace anneal::distributed
