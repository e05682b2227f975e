// SqlConnection on SQLite (libsqlite3): the registry of one machine.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "core/directories.h"
#include "core/error.h"
#include "tracking/errors.h"
#include "tracking/sql.h"

namespace anneal::tracking {
namespace {

class SqliteConnection final : public SqlConnection {
 public:
  SqliteConnection(const std::string& path, int busy_ms) : path_(path) {
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) make_directories(parent.string(), "registry");
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      if (db_) sqlite3_close(db_);
      db_ = nullptr;
      throw RegistryError(str("registry: cannot open the SQLite database '", path, "': ", why));
    }
    sqlite3_busy_timeout(db_, busy_ms);
    // WAL: readers never block the writer and one writer at a time commits; NORMAL sync
    // in WAL mode survives a process crash (only a power loss may drop the last commits,
    // and the run folders keep those records anyway).
    try {
      exec_plain("PRAGMA journal_mode=WAL");
      exec_plain("PRAGMA synchronous=NORMAL");
      exec_plain("PRAGMA foreign_keys=ON");
    } catch (...) {  // (not a database, say): the destructor will not run, so close it here
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteConnection() override {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    if (db_) sqlite3_close(db_);
  }

  void exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    sqlite3_stmt* st = prepare(sql);
    bind(st, params, sql);
    step_all(st, sql, nullptr);
  }
  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    sqlite3_stmt* st = prepare(sql);
    bind(st, params, sql);
    std::vector<SqlRow> rows;
    step_all(st, sql, &rows);
    return rows;
  }
  void exec_many(const std::string& sql, const std::vector<std::vector<SqlValue>>& rows) override {
    sqlite3_stmt* st = prepare(sql);
    for (auto& r : rows) {
      bind(st, r, sql);
      step_all(st, sql, nullptr);
    }
  }
  void begin() override {
    // BEGIN IMMEDIATE takes the write lock now (waiting under the busy timeout) instead of
    // failing with SQLITE_BUSY at the first write when another writer got there first.
    exec_plain("BEGIN IMMEDIATE");
  }
  void commit() override { exec_plain("COMMIT"); }
  void rollback() override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  std::string engine() const override { return "sqlite"; }

 private:
  [[noreturn]] void fail(const std::string& sql, int rc) const {
    std::string head = sql.substr(0, 60);
    throw RegistryError(str("registry (SQLite '", path_, "'): ", sqlite3_errmsg(db_), " (code ", rc, ") in: ", head,
                            sql.size() > 60 ? "..." : ""));
  }
  void exec_plain(const std::string& sql) {
    // WAL switch and BEGIN IMMEDIATE can meet a lock the busy handler does not cover
    // (another connection recovering the WAL): retry for a while.
    for (int attempt = 0;; ++attempt) {
      char* err = nullptr;
      int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
      if (err) sqlite3_free(err);
      if (rc == SQLITE_OK) return;
      if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < 300) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10 + attempt % 20));
        continue;
      }
      fail(sql, rc);
    }
  }
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr);
    if (rc != SQLITE_OK) fail(sql, rc);
    cache_.emplace(sql, st);
    return st;
  }
  void bind(sqlite3_stmt* st, const std::vector<SqlValue>& params, const std::string& sql) {
    sqlite3_reset(st);
    ANNEAL_CHECK(static_cast<int>(params.size()) == sqlite3_bind_parameter_count(st), ValueError, "registry: ",
                 params.size(), " values for ", sqlite3_bind_parameter_count(st), " placeholders in: ", sql);
    for (size_t i = 0; i < params.size(); ++i) {
      int rc = params[i] ? sqlite3_bind_text(st, int(i + 1), params[i]->data(), int(params[i]->size()), SQLITE_TRANSIENT)
                         : sqlite3_bind_null(st, int(i + 1));
      if (rc != SQLITE_OK) fail(sql, rc);
    }
  }
  void step_all(sqlite3_stmt* st, const std::string& sql, std::vector<SqlRow>* rows) {
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        fail(sql, rc);
      }
      if (!rows) continue;
      const int n = sqlite3_column_count(st);
      SqlRow row(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        const int type = sqlite3_column_type(st, c);
        if (type == SQLITE_NULL) continue;
        if (type == SQLITE_FLOAT) {  // SQLite's own text keeps 15 digits: a double needs 17
          char buf[40];
          std::snprintf(buf, sizeof buf, "%.17g", sqlite3_column_double(st, c));
          row[size_t(c)] = buf;
          continue;
        }
        const unsigned char* t = sqlite3_column_text(st, c);
        row[size_t(c)] = std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(st, c)));
      }
      rows->push_back(std::move(row));
    }
    sqlite3_reset(st);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> cache_;  // prepared statements by their text
};

}  // namespace

std::unique_ptr<SqlConnection> open_sqlite(const std::string& path, int busy_timeout_ms) {
  return std::make_unique<SqliteConnection>(path, busy_timeout_ms);
}

}  // namespace anneal::tracking
