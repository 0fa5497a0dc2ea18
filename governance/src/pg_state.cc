#include "pg_state.h"

#include <poll.h>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::governance::internal {

using pgstore::Exec;
using pgstore::ExecParams;
using pgstore::Result;

absl::StatusOr<std::unique_ptr<PgSharedState>> PgSharedState::Open(const std::string& conninfo) {
  std::unique_ptr<PgSharedState> l(new PgSharedState(conninfo));
  TG_ASSIGN_OR_RETURN(l->conn_, pgstore::Connect(conninfo));
  TG_RETURN_IF_ERROR(pgstore::RequireSchema(l->conn_.get(), pgstore::Where(l->conn_.get())));
  return l;
}

absl::StatusOr<uint64_t> PgSharedState::AppendKillSwitch(v1::GovernorKillSwitchRequest& req) {
  std::lock_guard l(mu_);
  TG_RETURN_IF_ERROR(pgstore::ExecRetry(conn_, conninfo_, "BEGIN", {}, "begin").status());
  PGconn* c = conn_.get();
  uint64_t seq = 0;
  auto tx = [&]() -> absl::Status {
    // EXCLUSIVE still lets readers read: only one broadcast commits at a time,
    // so a reader that saw seq N never misses a smaller one committed later.
    TG_RETURN_IF_ERROR(Exec(c, "LOCK TABLE taogate_killswitch IN EXCLUSIVE MODE", "lock the kill switch").status());
    TG_ASSIGN_OR_RETURN(Result r, Exec(c, "SELECT coalesce(max(seq), 0) + 1 FROM taogate_killswitch",
                                       "next kill-switch sequence"));
    seq = std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    req.set_sequence(seq);
    TG_RETURN_IF_ERROR(ExecParams(c, "INSERT INTO taogate_killswitch (seq, request) VALUES ($1, $2)",
                                  {pgstore::Text(std::to_string(seq)), pgstore::Binary(req.SerializeAsString())},
                                  "record the kill switch")
                           .status());
    TG_RETURN_IF_ERROR(Exec(c, "NOTIFY taogate_killswitch", "notify the replicas").status());
    return Exec(c, "COMMIT", "commit").status();
  };
  absl::Status st = tx();
  if (!st.ok()) {
    pgstore::Abandon(conn_);
    return st;
  }
  return seq;
}

absl::StatusOr<std::vector<v1::GovernorKillSwitchRequest>> PgSharedState::KillSwitchSince(uint64_t after) {
  std::lock_guard l(mu_);
  auto r = pgstore::ExecRetry(conn_, conninfo_, "SELECT seq, request FROM taogate_killswitch WHERE seq > $1 ORDER BY seq",
                      {pgstore::Text(std::to_string(after))}, "read the kill switch");
  if (!r.ok()) {
    pgstore::Abandon(conn_);
    return r.status();
  }
  std::vector<v1::GovernorKillSwitchRequest> out;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    v1::GovernorKillSwitchRequest m;
    std::string_view b = pgstore::Bytes(r->get(), i, 1);
    if (!m.ParseFromArray(b.data(), static_cast<int>(b.size())) || m.sequence() != pgstore::Int8(r->get(), i, 0))
      return absl::DataLossError(StrCat("taogate_killswitch seq ", pgstore::Int8(r->get(), i, 0), ": malformed row"));
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<uint64_t> PgSharedState::AppendPolicy(const SharedPolicy& p) {
  std::lock_guard l(mu_);
  TG_RETURN_IF_ERROR(pgstore::ExecRetry(conn_, conninfo_, "BEGIN", {}, "begin").status());
  PGconn* c = conn_.get();
  uint64_t seq = 0;
  auto tx = [&]() -> absl::Status {
    TG_RETURN_IF_ERROR(Exec(c, "LOCK TABLE taogate_policy IN EXCLUSIVE MODE", "lock the policy table").status());
    TG_ASSIGN_OR_RETURN(Result r, Exec(c, "SELECT coalesce(max(seq), 0) + 1 FROM taogate_policy", "next policy seq"));
    seq = std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    TG_RETURN_IF_ERROR(ExecParams(c,
                                  "INSERT INTO taogate_policy (seq, actor, name, bundle_yaml, policy_sha256) "
                                  "VALUES ($1, $2, $3, $4, $5)",
                                  {pgstore::Text(std::to_string(seq)), pgstore::Text(p.actor), pgstore::Text(p.name),
                                   pgstore::Text(p.yaml), pgstore::Text(p.sha256_hex)},
                                  "record the policy")
                           .status());
    TG_RETURN_IF_ERROR(Exec(c, "NOTIFY taogate_policy", "notify the replicas").status());
    return Exec(c, "COMMIT", "commit").status();
  };
  absl::Status st = tx();
  if (!st.ok()) {
    pgstore::Abandon(conn_);
    return st;
  }
  return seq;
}

absl::StatusOr<std::optional<SharedPolicy>> PgSharedState::LatestPolicy() {
  std::lock_guard l(mu_);
  auto r = pgstore::ExecRetry(conn_, conninfo_,
                              "SELECT seq, actor, name, bundle_yaml, policy_sha256 FROM taogate_policy "
                              "ORDER BY seq DESC LIMIT 1",
                              {}, "read the policy");
  if (!r.ok()) {
    pgstore::Abandon(conn_);
    return r.status();
  }
  if (PQntuples(r->get()) == 0) return std::nullopt;
  SharedPolicy p;
  p.seq = pgstore::Int8(r->get(), 0, 0);
  p.actor = std::string(pgstore::Bytes(r->get(), 0, 1));
  p.name = std::string(pgstore::Bytes(r->get(), 0, 2));
  p.yaml = std::string(pgstore::Bytes(r->get(), 0, 3));
  p.sha256_hex = std::string(pgstore::Bytes(r->get(), 0, 4));
  return p;
}

bool PgSharedState::WaitNotify(std::chrono::milliseconds timeout) {
  if (!listen_ || PQstatus(listen_.get()) != CONNECTION_OK) {
    listen_.reset();
    auto c = pgstore::Connect(conninfo_);
    if (!c.ok() || !Exec(c->get(), "LISTEN taogate_killswitch; LISTEN taogate_policy", "listen").ok()) {
      // The caller polls anyway: wait out the interval rather than spin.
      poll(nullptr, 0, static_cast<int>(timeout.count()));
      return false;
    }
    listen_ = std::move(*c);
  }
  PGconn* c = listen_.get();
  pollfd p{PQsocket(c), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  if (PQconsumeInput(c) == 0) {
    listen_.reset();
    return false;
  }
  bool any = false;
  while (PGnotify* n = PQnotifies(c)) {
    any = true;
    PQfreemem(n);
  }
  return any;
}

}  // namespace taogate::governance::internal
