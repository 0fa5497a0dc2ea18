#include "taogate/pgstore/pg.h"

#include <cstdlib>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::pgstore {
namespace {

// The migrations, in order; version N is kMigrations[N - 1]. Never edit one
// that has shipped: add the next.
constexpr const char* kMigrations[] = {
    // 1: the ledger (ledger/pg_ledger.h): one row per record, and the tip of
    // the chain, which every append locks.
    R"sql(
CREATE TABLE taogate_ledger (
  seq bigint PRIMARY KEY CHECK (seq >= 0),
  payload bytea NOT NULL,
  leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32));
CREATE TABLE taogate_ledger_head (
  id integer PRIMARY KEY CHECK (id = 1),
  next_seq bigint NOT NULL CHECK (next_seq >= 0),
  last_hash bytea NOT NULL CHECK (octet_length(last_hash) = 32));
INSERT INTO taogate_ledger_head VALUES (1, 0, decode(repeat('00', 32), 'hex'));
CREATE FUNCTION taogate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END $$;
CREATE TRIGGER taogate_ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON taogate_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION taogate_append_only();
)sql",
    // 2: kill-switch broadcasts, in the order every replica serves them
    // (governance/src/pg_state.h); append-only as the ledger.
    R"sql(
CREATE TABLE taogate_killswitch (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  request bytea NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now());
CREATE TRIGGER taogate_killswitch_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON taogate_killswitch
  FOR EACH STATEMENT EXECUTE FUNCTION taogate_append_only();
)sql",
    // 3: policy bundles activated on any replica; the latest is every
    // replica's active bundle (governance/src/pg_state.h).
    R"sql(
CREATE TABLE taogate_policy (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  actor text NOT NULL,
  name text NOT NULL,
  bundle_yaml text NOT NULL,
  policy_sha256 text NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now());
CREATE TRIGGER taogate_policy_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON taogate_policy
  FOR EACH STATEMENT EXECUTE FUNCTION taogate_append_only();
)sql",
    // 4: decisions waiting for approval, whichever replica is asked about
    // them, and the approval nonces seen (replays refused on every replica).
    R"sql(
CREATE TABLE taogate_decisions (
  id text PRIMARY KEY,
  entry text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE taogate_approval_nonces (
  nonce_hex text PRIMARY KEY,
  expires_ms bigint NOT NULL);
)sql",
    // 5: per-actor rate-limit buckets every replica draws from.
    R"sql(
CREATE TABLE taogate_rate_buckets (
  actor text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_ms bigint NOT NULL);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// Serialises concurrent `migrate` runs (any constant unique to taogate).
constexpr const char* kMigrateLock = "SELECT pg_advisory_xact_lock(7418352706411553)";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

absl::Status ConnError(PGconn* c, std::string_view what) {
  return absl::UnavailableError(StrCat("postgresql: ", what, ": ", Trim(PQerrorMessage(c))));
}

absl::Status CommandError(PGconn* c, const PGresult* r, std::string_view what) {
  if (PQstatus(c) != CONNECTION_OK) return ConnError(c, what);
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = Trim(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
  std::string_view s = state ? state : "";
  if (s.starts_with("08") || s.starts_with("57") || s.starts_with("53"))
    return absl::UnavailableError(StrCat("postgresql: ", what, ": ", msg));
  return absl::InternalError(StrCat("postgresql: ", what, ": ", msg, state ? StrCat(" (SQLSTATE ", state, ")") : ""));
}

absl::StatusOr<Result> Check(PGconn* c, Result r, std::string_view what) {
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return CommandError(c, r.get(), what);
  return r;
}

}  // namespace

absl::StatusOr<Conn> Connect(const std::string& conninfo) {
  // Defaults first: the caller's string (expanded from dbname) overrides them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "taogate", conninfo.c_str(), nullptr};
  Conn c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!c) return absl::ResourceExhaustedError("postgresql: out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK) return ConnError(c.get(), "connect");
  // Server notices ("relation already exists, skipping") are not ours to print.
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

absl::StatusOr<Result> Exec(PGconn* c, const char* sql, std::string_view what) {
  return Check(c, Result(PQexec(c, sql)), what);
}

absl::StatusOr<Result> ExecParams(PGconn* c, const std::string& sql, const std::vector<Param>& params,
                                  std::string_view what) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const Param& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  return Check(c,
               Result(PQexecParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                   lengths.data(), formats.data(), /*resultFormat=*/1)),
               what);
}

std::string_view Bytes(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col))};
}

uint64_t Int8(const PGresult* r, int row, int col) {
  uint64_t v = 0;
  for (char ch : Bytes(r, row, col)) v = v << 8 | static_cast<uint8_t>(ch);
  return v;
}

absl::StatusOr<Result> ExecRetry(Conn& c, const std::string& conninfo, const std::string& sql,
                                 const std::vector<Param>& params, std::string_view what) {
  for (int attempt = 0;; ++attempt) {
    if (!c || PQstatus(c.get()) != CONNECTION_OK) {
      c.reset();
      TG_ASSIGN_OR_RETURN(c, Connect(conninfo));
    }
    auto r = ExecParams(c.get(), sql, params, what);
    if (r.ok() || attempt > 0 || PQstatus(c.get()) == CONNECTION_OK) return r;
  }
}

absl::Status Transaction(Conn& c, const std::string& conninfo, std::string_view what,
                         const std::function<absl::Status(PGconn*)>& fn) {
  TG_RETURN_IF_ERROR(ExecRetry(c, conninfo, "BEGIN", {}, StrCat(what, ": begin")).status());
  absl::Status st = fn(c.get());
  if (st.ok()) st = Exec(c.get(), "COMMIT", StrCat(what, ": commit")).status();
  if (!st.ok()) Abandon(c);
  return st;
}

void Abandon(Conn& c) {
  if (!c) return;
  if (PQstatus(c.get()) == CONNECTION_OK) {
    Result r(PQexec(c.get(), "ROLLBACK"));
  } else {
    c.reset();
  }
}

absl::StatusOr<int> SchemaVersion(PGconn* c) {
  TG_ASSIGN_OR_RETURN(Result exists, Exec(c, "SELECT to_regclass('taogate_schema_version') IS NOT NULL",
                                          "read the schema version"));
  if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t") return 0;
  TG_ASSIGN_OR_RETURN(Result r, Exec(c, "SELECT coalesce(max(version), 0) FROM taogate_schema_version",
                                     "read the schema version"));
  return std::atoi(PQgetvalue(r.get(), 0, 0));
}

absl::StatusOr<int> SchemaVersion(const std::string& conninfo) {
  TG_ASSIGN_OR_RETURN(Conn c, Connect(conninfo));
  return SchemaVersion(c.get());
}

absl::Status RequireSchema(PGconn* c, std::string_view where) {
  TG_ASSIGN_OR_RETURN(int version, SchemaVersion(c));
  if (version == kSchemaVersion) return absl::OkStatus();
  return absl::FailedPreconditionError(
      StrCat(where, ": schema version ", version, ", this build needs ", kSchemaVersion,
             version < kSchemaVersion ? ": run `taogate-governor migrate` first"
                                      : ": the database was migrated by a newer taogate"));
}

std::string Where(PGconn* c) {
  return StrCat("postgresql ", PQhost(c), ":", PQport(c), "/", PQdb(c));
}

absl::StatusOr<std::vector<int>> Migrate(const std::string& conninfo) {
  Conn conn;
  std::vector<int> applied;
  absl::Status st = Transaction(conn, conninfo, "migrate", [&](PGconn* c) -> absl::Status {
    TG_RETURN_IF_ERROR(Exec(c, kMigrateLock, "take the migration lock").status());
    TG_RETURN_IF_ERROR(Exec(c,
                            "CREATE TABLE IF NOT EXISTS taogate_schema_version ("
                            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                            "create taogate_schema_version")
                           .status());
    TG_ASSIGN_OR_RETURN(int current, SchemaVersion(c));
    if (current > kSchemaVersion)
      return absl::FailedPreconditionError(StrCat("database schema version ", current, " is newer than this build's ",
                                                  kSchemaVersion, ": refusing to touch it"));
    for (int v = current + 1; v <= kSchemaVersion; ++v) {
      TG_RETURN_IF_ERROR(Exec(c, kMigrations[v - 1], StrCat("migration ", v)).status());
      TG_RETURN_IF_ERROR(ExecParams(c, "INSERT INTO taogate_schema_version (version) VALUES ($1)",
                                    {Text(std::to_string(v))}, "record the schema version")
                             .status());
      applied.push_back(v);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return applied;
}

}  // namespace taogate::pgstore
