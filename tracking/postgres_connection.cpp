// SqlConnection on PostgreSQL through libpq: the registry that runs on many machines share.
// Built only when libpq is found (ANNEAL_WITH_POSTGRES); otherwise opening one is an error
// that says so.
#include "tracking/sql.h"

#include "core/error.h"
#include "tracking/errors.h"

#ifdef ANNEAL_WITH_POSTGRES
#include <libpq-fe.h>

#include <cstring>
#endif

namespace anneal::tracking {

#ifdef ANNEAL_WITH_POSTGRES
namespace {

// "a = ? AND b = ?" -> "a = $1 AND b = $2" (placeholders inside quotes are left alone),
// numbering from `first`.
std::string number_placeholders(const std::string& sql, int first, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  char quote = 0;
  int n = first;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$' + std::to_string(n++);
    } else {
      out += c;
    }
  }
  if (count) *count = n - first;
  return out;
}

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

class PostgresConnection final : public SqlConnection {
 public:
  explicit PostgresConnection(const std::string& uri) : uri_(uri) {
    conn_ = PQconnectdb(uri.c_str());
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      if (conn_) PQfinish(conn_);
      conn_ = nullptr;
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      throw RegistryError(str("registry: cannot connect to PostgreSQL at '", redacted(), "': ", why));
    }
    // notices ("relation already exists, skipping") are not the user's business
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~PostgresConnection() override {
    if (conn_) PQfinish(conn_);
  }

  void exec(const std::string& sql, const std::vector<SqlValue>& params) override { run(sql, params, nullptr); }
  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::vector<SqlRow> rows;
    run(sql, params, &rows);
    return rows;
  }
  // One statement per chunk of rows ("VALUES (...), (...), ..."): a round trip per row
  // would make a batch of 10,000 metric points take seconds.
  void exec_many(const std::string& sql, const std::vector<std::vector<SqlValue>>& rows) override {
    if (rows.empty()) return;
    const auto v = sql.find("VALUES");
    const auto open = v == std::string::npos ? v : sql.find('(', v);
    const auto close = open == std::string::npos ? open : sql.find(')', open);
    if (close == std::string::npos) {
      for (auto& r : rows) exec(sql, r);
      return;
    }
    const std::string head = sql.substr(0, open), tuple = sql.substr(open, close - open + 1),
                      tail = sql.substr(close + 1);
    const size_t per = rows[0].size(), chunk = std::max<size_t>(1, 30000 / std::max<size_t>(per, 1));
    for (size_t at = 0; at < rows.size(); at += chunk) {
      const size_t end = std::min(rows.size(), at + chunk);
      std::string text = head;
      std::vector<SqlValue> params;
      params.reserve((end - at) * per);
      for (size_t i = at; i < end; ++i) {
        if (i > at) text += ", ";
        text += tuple;
        params.insert(params.end(), rows[i].begin(), rows[i].end());
      }
      text += tail;
      exec(text, params);
    }
  }
  void begin() override { exec("BEGIN", {}); }
  void commit() override { exec("COMMIT", {}); }
  void rollback() override {
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) PgResult(PQexec(conn_, "ROLLBACK"));
  }
  std::string engine() const override { return "postgresql"; }

 private:
  // The URI without its password, for messages.
  std::string redacted() const {
    std::string u = uri_;
    auto scheme = u.find("://"), at = u.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      auto colon = u.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) u = u.substr(0, colon) + ":***" + u.substr(at);
    }
    return u;
  }
  void run(const std::string& sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
    int count = 0;
    const std::string text = number_placeholders(sql, 1, &count);
    ANNEAL_CHECK(static_cast<size_t>(count) == params.size(), ValueError, "registry: ", params.size(), " values for ",
                 count, " placeholders in: ", sql);
    std::vector<const char*> values(params.size());
    for (size_t i = 0; i < params.size(); ++i) values[i] = params[i] ? params[i]->c_str() : nullptr;
    PgResult r(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(), nullptr,
                            nullptr, 0));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = PQresultErrorMessage(r.get());
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      if (PQstatus(conn_) != CONNECTION_OK) why += " (the connection to " + redacted() + " is lost)";
      throw RegistryError(str("registry (PostgreSQL): ", why, " in: ", sql.substr(0, 60), sql.size() > 60 ? "..." : ""));
    }
    if (!rows) return;
    const int nr = PQntuples(r.get()), nc = PQnfields(r.get());
    rows->reserve(static_cast<size_t>(nr));
    for (int i = 0; i < nr; ++i) {
      SqlRow row(static_cast<size_t>(nc));
      for (int c = 0; c < nc; ++c)
        if (!PQgetisnull(r.get(), i, c)) row[size_t(c)] = std::string(PQgetvalue(r.get(), i, c), size_t(PQgetlength(r.get(), i, c)));
      rows->push_back(std::move(row));
    }
  }

  std::string uri_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<SqlConnection> open_postgres(const std::string& uri) { return std::make_unique<PostgresConnection>(uri); }
bool postgres_available() { return true; }

#else

std::unique_ptr<SqlConnection> open_postgres(const std::string& uri) {
  throw RegistryError(str("registry: '", uri.substr(0, uri.find("://")),
                          "://...' needs PostgreSQL, and this build of anneal has no PostgreSQL client "
                          "(install libpq-dev and rebuild)"));
}
bool postgres_available() { return false; }

#endif

}  // namespace anneal::tracking
