#include "tracking/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "tracking/errors.h"

namespace anneal::tracking {
namespace {

// Migration N takes the schema from version N-1 to N. Add new ones at the end; never edit
// one that has shipped. The types are spelled so that both engines accept them.
const char* const kMigrations[] = {
    // 1: experiments, runs, params, tags, metrics (+ their per-key summary), artifacts
    R"(CREATE TABLE experiments (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, experiment TEXT NOT NULL REFERENCES experiments(name),
  name TEXT NOT NULL, status TEXT NOT NULL, kind TEXT NOT NULL, folder TEXT NOT NULL, host TEXT, pid BIGINT,
  created DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION, ended DOUBLE PRECISION, heartbeat DOUBLE PRECISION,
  exit_code INTEGER, error TEXT, command TEXT, parent TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE INDEX runs_experiment ON runs(experiment);
CREATE INDEX runs_parent ON runs(parent);
CREATE TABLE params (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run_id, key));
CREATE TABLE tags (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run_id, key));
CREATE TABLE metrics (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value DOUBLE PRECISION, step BIGINT NOT NULL, timestamp DOUBLE PRECISION NOT NULL);
CREATE INDEX metrics_run_key_step ON metrics(run_id, key, step);
CREATE TABLE metric_summary (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  last DOUBLE PRECISION, min DOUBLE PRECISION, max DOUBLE PRECISION, last_step BIGINT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (run_id, key));
CREATE TABLE artifacts (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, path TEXT NOT NULL,
  size BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, path)))",
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == Registry::kSchemaVersion, "one migration per schema version");

std::vector<std::string> split_statements(const std::string& sql) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < sql.size()) {
    size_t end = sql.find(';', at);
    if (end == std::string::npos) end = sql.size();
    std::string s = sql.substr(at, end - at);
    if (s.find_first_not_of(" \n\t") != std::string::npos) out.push_back(s);
    at = end + 1;
  }
  return out;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
SqlValue real(double v) {
  if (!std::isfinite(v)) return std::nullopt;
  return num(v);
}
SqlValue opt_real(double v) { return v == 0 ? SqlValue{} : real(v); }
double to_real(const SqlValue& v) { return v ? std::strtod(v->c_str(), nullptr) : 0.0; }
double to_real_nan(const SqlValue& v) { return v ? std::strtod(v->c_str(), nullptr) : std::nan(""); }
int64_t to_int(const SqlValue& v) { return v ? std::strtoll(v->c_str(), nullptr, 10) : 0; }

class Transaction {
 public:
  explicit Transaction(SqlConnection& db) : db_(db) { db_.begin(); }
  ~Transaction() {
    if (!done_) db_.rollback();
  }
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  SqlConnection& db_;
  bool done_ = false;
};

const char* kRunColumns =
    "id, experiment, name, status, kind, folder, host, pid, created, started, ended, heartbeat, exit_code, error, "
    "command, parent, cancel_requested";

RunRecord run_from_row(const SqlRow& r) {
  RunRecord run;
  run.id = r[0].value_or("");
  run.experiment = r[1].value_or("");
  run.name = r[2].value_or("");
  run.status = r[3].value_or("");
  run.kind = r[4].value_or("");
  run.folder = r[5].value_or("");
  run.host = r[6].value_or("");
  run.pid = to_int(r[7]);
  run.created = to_real(r[8]);
  run.started = to_real(r[9]);
  run.ended = to_real(r[10]);
  run.heartbeat = to_real(r[11]);
  if (r[12]) run.exit_code = static_cast<int>(to_int(r[12]));
  run.error = r[13].value_or("");
  run.command = r[14].value_or("");
  run.parent = r[15].value_or("");
  run.cancel_requested = to_int(r[16]) != 0;
  return run;
}

}  // namespace

bool is_terminal_status(const std::string& s) { return s == kCompleted || s == kFailed || s == kCanceled; }
bool is_known_status(const std::string& s) { return s == kQueued || s == kRunning || is_terminal_status(s); }

std::unique_ptr<Registry> Registry::open(const std::string& uri) {
  ANNEAL_CHECK(!uri.empty(), ValueError, "registry: empty tracking URI");
  if (uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0)
    return std::make_unique<Registry>(open_postgres(uri));
  std::string path = uri;
  if (path.rfind("sqlite:///", 0) == 0) path = path.substr(9);
  else if (path.rfind("sqlite:", 0) == 0) path = path.substr(7);
  else if (path.find("://") != std::string::npos)
    throw ValueError(str("registry: unknown tracking URI '", uri,
                         "': expected a path to a .db file, sqlite:PATH, or postgresql://user@host:port/db"));
  ANNEAL_CHECK(!path.empty(), ValueError, "registry: the tracking URI '", uri, "' names no database file");
  return std::make_unique<Registry>(open_sqlite(path));
}

Registry::Registry(std::unique_ptr<SqlConnection> db) : db_(std::move(db)) { migrate(); }

int Registry::schema_version() {
  auto rows = db_->query("SELECT version FROM schema_version");
  return rows.empty() ? 0 : static_cast<int>(to_int(rows[0][0]));
}

void Registry::migrate() {
  // Many processes may open a new registry at once: the check and the migrations run in
  // one write transaction (PostgreSQL: under an advisory lock, since CREATE TABLE IF NOT
  // EXISTS itself races there).
  Transaction tx(*db_);
  if (db_->engine() == "postgresql") db_->query("SELECT pg_advisory_xact_lock(7150417)");
  db_->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  auto rows = db_->query("SELECT version FROM schema_version");
  int version = rows.empty() ? 0 : static_cast<int>(to_int(rows[0][0]));
  if (version > kSchemaVersion) {
    throw RegistryError(str("registry: its schema is version ", version, ", newer than this anneal's (",
                            kSchemaVersion, "): use a newer anneal with this registry"));
  }
  if (version == kSchemaVersion) {
    tx.commit();
    return;
  }
  for (int v = version; v < kMigrationCount; ++v)
    for (auto& st : split_statements(kMigrations[v])) db_->exec(st);
  if (rows.empty()) db_->exec("INSERT INTO schema_version (version) VALUES (?)", {std::to_string(kSchemaVersion)});
  else db_->exec("UPDATE schema_version SET version = ?", {std::to_string(kSchemaVersion)});
  tx.commit();
}

void Registry::create_run(const RunRecord& r) {
  ANNEAL_CHECK(!r.id.empty(), ValueError, "registry: a run needs an id");
  ANNEAL_CHECK(is_known_status(r.status), ValueError, "registry: unknown run status '", r.status, "'");
  Transaction tx(*db_);
  db_->exec("INSERT INTO experiments (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            {r.experiment, num(r.created)});
  db_->exec(str("INSERT INTO runs (", kRunColumns, ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            {r.id, r.experiment, r.name, r.status, r.kind, r.folder, r.host, std::to_string(r.pid), num(r.created),
             opt_real(r.started), opt_real(r.ended), opt_real(r.heartbeat),
             r.exit_code ? SqlValue(std::to_string(*r.exit_code)) : SqlValue{}, r.error, r.command,
             r.parent.empty() ? SqlValue{} : SqlValue(r.parent), r.cancel_requested ? "1" : "0"});
  tx.commit();
  if (!r.params.empty() || !r.tags.empty()) log_batch(r.id, {}, r.params, r.tags);
}

void Registry::update_run(const std::string& id, const RunUpdate& u) {
  std::string set;
  std::vector<SqlValue> values;
  auto add = [&](const char* column, SqlValue v) {
    if (!set.empty()) set += ", ";
    set += column;
    set += " = ?";
    values.push_back(std::move(v));
  };
  if (u.status) {
    ANNEAL_CHECK(is_known_status(*u.status), ValueError, "registry: unknown run status '", *u.status, "'");
    add("status", *u.status);
  }
  if (u.host) add("host", *u.host);
  if (u.command) add("command", *u.command);
  if (u.pid) add("pid", std::to_string(*u.pid));
  if (u.started) add("started", real(*u.started));
  if (u.heartbeat) add("heartbeat", real(*u.heartbeat));
  if (u.cancel_requested) add("cancel_requested", *u.cancel_requested ? "1" : "0");
  if (u.clear_exit) {
    add("exit_code", std::nullopt);
    add("error", std::nullopt);
    add("ended", std::nullopt);
  }
  if (u.exit_code) add("exit_code", std::to_string(*u.exit_code));
  if (u.error) add("error", *u.error);
  if (u.ended) add("ended", real(*u.ended));
  if (set.empty()) return;
  values.push_back(id);
  db_->exec("UPDATE runs SET " + set + " WHERE id = ?", values);
}

void Registry::log_batch(const std::string& id, const std::vector<MetricPoint>& points,
                         const std::map<std::string, std::string>& params,
                         const std::map<std::string, std::string>& tags) {
  if (points.empty() && params.empty() && tags.empty()) return;
  // The summary of this batch per key, merged into metric_summary by one upsert per key.
  std::map<std::string, MetricSummary> batch;
  std::vector<std::vector<SqlValue>> rows;
  rows.reserve(points.size());
  for (auto& p : points) {
    rows.push_back({id, p.key, real(p.value), std::to_string(p.step), num(p.timestamp)});
    auto [it, fresh] = batch.try_emplace(p.key);
    MetricSummary& s = it->second;
    if (fresh) {
      s.last = p.value;
      s.last_step = p.step;
      s.min = s.max = std::nan("");
    } else if (p.step >= s.last_step) {
      s.last = p.value;
      s.last_step = p.step;
    }
    if (std::isfinite(p.value)) {
      if (!(s.min <= p.value)) s.min = p.value;
      if (!(s.max >= p.value)) s.max = p.value;
    }
    ++s.count;
  }
  Transaction tx(*db_);
  db_->exec_many("INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)", rows);
  std::vector<std::vector<SqlValue>> summaries;
  for (auto& [k, s] : batch)
    summaries.push_back({id, k, real(s.last), real(s.min), real(s.max), std::to_string(s.last_step),
                         std::to_string(s.count)});
  // A NULL on either side of a comparison is false, so these CASEs keep the known value.
  db_->exec_many(
      "INSERT INTO metric_summary (run_id, key, last, min, max, last_step, count) VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (run_id, key) DO UPDATE SET "
      "last = CASE WHEN excluded.last_step >= metric_summary.last_step THEN excluded.last ELSE metric_summary.last END, "
      "last_step = CASE WHEN excluded.last_step >= metric_summary.last_step THEN excluded.last_step "
      "ELSE metric_summary.last_step END, "
      "min = CASE WHEN metric_summary.min IS NULL OR excluded.min < metric_summary.min THEN excluded.min "
      "ELSE metric_summary.min END, "
      "max = CASE WHEN metric_summary.max IS NULL OR excluded.max > metric_summary.max THEN excluded.max "
      "ELSE metric_summary.max END, "
      "count = metric_summary.count + excluded.count",
      summaries);
  std::vector<std::vector<SqlValue>> prow, trow;
  for (auto& [k, v] : params) prow.push_back({id, k, v});
  for (auto& [k, v] : tags) trow.push_back({id, k, v});
  db_->exec_many("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) "
                 "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                 prow);
  db_->exec_many("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
                 "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                 trow);
  tx.commit();
}

void Registry::discard_metrics_after(const std::string& id, int64_t step) {
  Transaction tx(*db_);
  db_->exec("DELETE FROM metrics WHERE run_id = ? AND step > ?", {id, std::to_string(step)});
  db_->exec("DELETE FROM metric_summary WHERE run_id = ?", {id});
  // the summaries again from what is left: last by step (then time), min and max of finite values
  std::map<std::string, MetricSummary> sums;
  for (auto& r : db_->query("SELECT key, value, step FROM metrics WHERE run_id = ? ORDER BY key, step, timestamp", {id})) {
    auto [it, fresh] = sums.try_emplace(*r[0]);
    MetricSummary& m = it->second;
    const double v = to_real_nan(r[1]);
    if (fresh) m.min = m.max = std::nan("");
    m.last = v;
    m.last_step = to_int(r[2]);
    if (std::isfinite(v)) {
      if (!(m.min <= v)) m.min = v;
      if (!(m.max >= v)) m.max = v;
    }
    ++m.count;
  }
  std::vector<std::vector<SqlValue>> rows;
  for (auto& [k, m] : sums)
    rows.push_back({id, k, real(m.last), real(m.min), real(m.max), std::to_string(m.last_step), std::to_string(m.count)});
  db_->exec_many("INSERT INTO metric_summary (run_id, key, last, min, max, last_step, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 rows);
  tx.commit();
}

void Registry::log_artifact(const std::string& id, const ArtifactRecord& a) {
  db_->exec("INSERT INTO artifacts (run_id, path, size, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, created = excluded.created",
            {id, a.path, std::to_string(a.size), num(a.created)});
}

void Registry::load_details(std::vector<RunRecord>& runs) {
  if (runs.empty()) return;
  std::map<std::string, RunRecord*> by_id;
  for (auto& r : runs) by_id[r.id] = &r;
  // One query per table for all the runs (a run's id list as placeholders, in chunks).
  std::vector<std::string> ids;
  for (auto& r : runs) ids.push_back(r.id);
  for (size_t at = 0; at < ids.size(); at += 500) {
    const size_t end = std::min(ids.size(), at + 500);
    std::string in = "(";
    std::vector<SqlValue> vals;
    for (size_t i = at; i < end; ++i) {
      in += i > at ? ", ?" : "?";
      vals.push_back(ids[i]);
    }
    in += ")";
    for (auto& r : db_->query("SELECT run_id, key, value FROM params WHERE run_id IN " + in, vals))
      by_id[*r[0]]->params[*r[1]] = r[2].value_or("");
    for (auto& r : db_->query("SELECT run_id, key, value FROM tags WHERE run_id IN " + in, vals))
      by_id[*r[0]]->tags[*r[1]] = r[2].value_or("");
    for (auto& r : db_->query(
             "SELECT run_id, key, last, min, max, last_step, count FROM metric_summary WHERE run_id IN " + in, vals)) {
      MetricSummary s;
      s.last = to_real_nan(r[2]);
      s.min = to_real_nan(r[3]);
      s.max = to_real_nan(r[4]);
      s.last_step = to_int(r[5]);
      s.count = to_int(r[6]);
      by_id[*r[0]]->metrics[*r[1]] = s;
    }
  }
}

std::optional<RunRecord> Registry::get_run(const std::string& id) {
  auto rows = db_->query(str("SELECT ", kRunColumns, " FROM runs WHERE id = ?"), {id});
  if (rows.empty()) return std::nullopt;
  std::vector<RunRecord> runs{run_from_row(rows[0])};
  load_details(runs);
  return runs[0];
}

std::vector<std::string> Registry::find_ids(const std::string& prefix, int limit) {
  // LIKE would treat _ and % in the prefix as patterns: compare the leading characters.
  auto rows = db_->query("SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
                         {std::to_string(prefix.size()), prefix, std::to_string(limit)});
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(*r[0]);
  return out;
}

std::vector<RunRecord> Registry::list_runs(const std::string& experiment, const std::string& status,
                                           const std::string& parent) {
  std::string where;
  std::vector<SqlValue> vals;
  auto add = [&](const char* cond, const std::string& v) {
    where += where.empty() ? " WHERE " : " AND ";
    where += cond;
    vals.push_back(v);
  };
  if (!experiment.empty()) add("experiment = ?", experiment);
  if (!status.empty()) add("status = ?", status);
  if (!parent.empty()) add("parent = ?", parent);
  std::vector<RunRecord> runs;
  for (auto& r : db_->query(str("SELECT ", kRunColumns, " FROM runs", where, " ORDER BY created DESC, id DESC"), vals))
    runs.push_back(run_from_row(r));
  load_details(runs);
  return runs;
}

std::map<std::string, std::vector<MetricPoint>> Registry::metric_history(const std::string& id,
                                                                         const std::vector<std::string>& keys) {
  std::string sql = "SELECT key, value, step, timestamp FROM metrics WHERE run_id = ?";
  std::vector<SqlValue> vals{id};
  if (!keys.empty()) {
    sql += " AND key IN (";
    for (size_t i = 0; i < keys.size(); ++i) {
      sql += i ? ", ?" : "?";
      vals.push_back(keys[i]);
    }
    sql += ")";
  }
  // rowid-free tie-break: timestamp keeps the order in which equal steps were logged
  sql += " ORDER BY key, step, timestamp";
  std::map<std::string, std::vector<MetricPoint>> out;
  for (auto& r : db_->query(sql, vals))
    out[*r[0]].push_back({*r[0], to_real_nan(r[1]), to_int(r[2]), to_real(r[3])});
  return out;
}

std::vector<ArtifactRecord> Registry::artifacts(const std::string& id) {
  std::vector<ArtifactRecord> out;
  for (auto& r : db_->query("SELECT path, size, created FROM artifacts WHERE run_id = ? ORDER BY path", {id}))
    out.push_back({*r[0], to_int(r[1]), to_real(r[2])});
  return out;
}

std::vector<std::string> Registry::experiments() {
  std::vector<std::string> out;
  for (auto& r : db_->query("SELECT name FROM experiments ORDER BY name")) out.push_back(*r[0]);
  return out;
}

void Registry::delete_run(const std::string& id) {
  Transaction tx(*db_);
  for (const char* table : {"metrics", "metric_summary", "params", "tags", "artifacts"})
    db_->exec(str("DELETE FROM ", table, " WHERE run_id = ?"), {id});
  db_->exec("DELETE FROM runs WHERE id = ?", {id});
  tx.commit();
}

}  // namespace anneal::tracking
