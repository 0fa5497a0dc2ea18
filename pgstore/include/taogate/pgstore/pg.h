// The governor's PostgreSQL database (issue 18): libpq helpers and the
// versioned schema shared by the ledger (ledger/pg_ledger.h) and the
// governor's replicated state (governance/). Nothing here knows a record or
// a decision.
//
// Errors: Unavailable when the server cannot be reached or went away (or
// SQLSTATE class 08, 53, 57: it may come back), Internal with the server's
// message and SQLSTATE otherwise.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace taogate::pgstore {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Connects (connect_timeout 5 s and application_name "taogate" unless the
// string says otherwise); server notices are dropped.
absl::StatusOr<Conn> Connect(const std::string& conninfo);
absl::StatusOr<Result> Exec(PGconn* c, const char* sql, std::string_view what);

// A parameter: text (format 0) or binary bytes (format 1).
struct Param {
  std::string value;
  bool binary = false;
};
inline Param Text(std::string v) { return {std::move(v), false}; }
inline Param Binary(std::string_view b) { return {std::string(b), true}; }
// Results come back in binary format.
absl::StatusOr<Result> ExecParams(PGconn* c, const std::string& sql, const std::vector<Param>& params,
                                  std::string_view what);
// Column value bytes, and a binary int8 column.
std::string_view Bytes(const PGresult* r, int row, int col);
uint64_t Int8(const PGresult* r, int row, int col);
// One statement on `c` (connected first if null or broken). A connection
// that turns out broken (the server restarted since its last use) is
// re-opened and the statement run once more: only for statements that are
// safe to repeat (reads, BEGIN), never for COMMIT.
absl::StatusOr<Result> ExecRetry(Conn& c, const std::string& conninfo, const std::string& sql,
                                 const std::vector<Param>& params, std::string_view what);
// BEGIN (ExecRetry), fn(connection), COMMIT; on any error a rollback (or a
// dropped connection) and the error. A COMMIT that fails is reported as a
// failure even if the server did commit (the connection died with the
// reply): callers must treat failure as "maybe written" where it matters.
absl::Status Transaction(Conn& c, const std::string& conninfo, std::string_view what,
                         const std::function<absl::Status(PGconn*)>& fn);
// Rolls back an open transaction, or drops a broken connection.
void Abandon(Conn& c);

// The schema version this build reads and writes, and the migrations.
inline constexpr int kSchemaVersion = 5;
// Applies what the database lacks in one transaction, serialised across
// concurrent callers by an advisory lock; returns the versions applied
// (empty: current). FailedPrecondition for a newer database.
absl::StatusOr<std::vector<int>> Migrate(const std::string& conninfo);
absl::StatusOr<int> SchemaVersion(PGconn* c);
absl::StatusOr<int> SchemaVersion(const std::string& conninfo);
// FailedPrecondition naming `taogate-governor migrate` unless the database
// is at kSchemaVersion. `where` names the database in the message.
absl::Status RequireSchema(PGconn* c, std::string_view where);
// "postgresql host:port/dbname" of a connection.
std::string Where(PGconn* c);

}  // namespace taogate::pgstore
