// A real PostgreSQL server for a test: initdb in a fresh directory, the
// postmaster on 127.0.0.1 at a free port (and a unix socket in the same
// directory), trust authentication for the role `taogate`. Debian's server
// binaries (/usr/lib/postgresql/<version>/bin) are used; as root, initdb and
// postgres run as the `postgres` user, which they require.
//
// Stop()/Start() restart the same cluster on the same port (a database
// outage mid-test); Crash() kills it with SIGKILL-like immediate shutdown.
// The destructor stops the server and removes the directory.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace taogate::testing {

class PostgresServer {
 public:
  struct Options {
    bool fsync = true;  // off only where a test says why
  };
  // Unavailable when no PostgreSQL server is installed (tests then skip).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Create(Options options);
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Create() { return Create(Options{}); }
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // libpq connection string for `dbname` over TCP loopback.
  std::string ConnInfo(const std::string& dbname = "postgres") const;
  // CREATE DATABASE name; returns its connection string.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // Runs SQL as the superuser on `dbname`; returns the first value of the
  // first row ("" when none).
  absl::StatusOr<std::string> Query(const std::string& dbname, const std::string& sql);

  absl::Status Start();  // after Stop/Crash
  absl::Status Stop();   // fast shutdown (SIGINT), waits
  void Crash();          // immediate shutdown (SIGQUIT), waits
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }

 private:
  PostgresServer() = default;
  Options options_;
  std::string bin_, root_, data_;
  int port_ = 0;
  pid_t pid_ = -1;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool drop_ = false;  // run the server binaries as `postgres`
};

}  // namespace taogate::testing
