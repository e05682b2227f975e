#pragma once
// The few things the registry needs from a SQL engine, so one registry (tracking/
// registry.cpp) runs on SQLite (one machine, the default) and PostgreSQL (a registry many
// machines share). Statements are written once with `?` placeholders; each connection
// translates them to its engine's form. Values travel as text or NULL: both engines convert
// them to the column's type, and nothing is ever spliced into the SQL text.
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace anneal::tracking {

using SqlValue = std::optional<std::string>;  // nullopt: NULL
using SqlRow = std::vector<SqlValue>;

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual void exec(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  virtual std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  // The same statement for many rows (prepared once).
  virtual void exec_many(const std::string& sql, const std::vector<std::vector<SqlValue>>& rows) = 0;
  // A write transaction that waits for other writers (SQLite: BEGIN IMMEDIATE under the
  // busy timeout; PostgreSQL: BEGIN).
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual std::string engine() const = 0;  // "sqlite" or "postgresql"
};

// `path`: the database file (created with its folder). WAL journal, a busy timeout of
// `busy_timeout_ms`, foreign keys on.
std::unique_ptr<SqlConnection> open_sqlite(const std::string& path, int busy_timeout_ms = 30000);
// `uri`: a libpq connection URI (postgresql://user@host:port/db). An error when this build
// has no PostgreSQL client library.
std::unique_ptr<SqlConnection> open_postgres(const std::string& uri);

// Whether this build can talk to PostgreSQL.
bool postgres_available();

}  // namespace anneal::tracking
