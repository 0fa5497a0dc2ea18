#include "pg_state.h"

#include <poll.h>

#include <cstdio>

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
  uint64_t seq = 0;
  absl::Status st = pgstore::Transaction(conn_, conninfo_, "kill switch", [&](PGconn* c) -> absl::Status {
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
    return Exec(c, "NOTIFY taogate_killswitch", "notify the replicas").status();
  });
  if (!st.ok()) return st;
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
  uint64_t seq = 0;
  absl::Status st = pgstore::Transaction(conn_, conninfo_, "policy", [&](PGconn* c) -> absl::Status {
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
    return Exec(c, "NOTIFY taogate_policy", "notify the replicas").status();
  });
  if (!st.ok()) return st;
  return seq;
}

absl::StatusOr<std::optional<SharedPolicy>> PgSharedState::LatestPolicy(uint64_t after) {
  std::lock_guard l(mu_);
  // Polled each second: the bundle travels only when it is new.
  auto r = pgstore::ExecRetry(conn_, conninfo_,
                              "SELECT seq, actor, name, bundle_yaml, policy_sha256 FROM taogate_policy "
                              "WHERE seq > $1 ORDER BY seq DESC LIMIT 1",
                              {pgstore::Text(std::to_string(after))}, "read the policy");
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

absl::Status PgSharedState::PutDecision(const std::string& id, const std::string& entry) {
  std::lock_guard l(mu_);
  auto r = pgstore::ExecRetry(conn_, conninfo_, "INSERT INTO taogate_decisions (id, entry) VALUES ($1, $2)",
                              {pgstore::Text(id), pgstore::Text(entry)}, "record the decision");
  if (!r.ok()) pgstore::Abandon(conn_);
  return r.status();
}

absl::StatusOr<std::optional<std::string>> PgSharedState::GetDecision(const std::string& id) {
  std::lock_guard l(mu_);
  auto r = pgstore::ExecRetry(conn_, conninfo_, "SELECT entry FROM taogate_decisions WHERE id = $1",
                              {pgstore::Text(id)}, "read the decision");
  if (!r.ok()) {
    pgstore::Abandon(conn_);
    return r.status();
  }
  if (PQntuples(r->get()) == 0) return std::nullopt;
  return std::string(pgstore::Bytes(r->get(), 0, 0));
}

absl::StatusOr<std::string> PgSharedState::UpdateDecision(const std::string& id, const Change& change,
                                                          const std::string& nonce_hex, int64_t nonce_expires_ms,
                                                          int64_t now_ms) {
  std::lock_guard l(mu_);
  std::string updated;
  absl::Status st = pgstore::Transaction(conn_, conninfo_, "decision", [&](PGconn* c) -> absl::Status {
    TG_ASSIGN_OR_RETURN(Result r, ExecParams(c, "SELECT entry FROM taogate_decisions WHERE id = $1 FOR UPDATE",
                                             {pgstore::Text(id)}, "lock the decision"));
    if (PQntuples(r.get()) == 0) return absl::NotFoundError("no such decision");
    TG_ASSIGN_OR_RETURN(updated, change(std::string(pgstore::Bytes(r.get(), 0, 0))));
    if (!nonce_hex.empty()) {
      // Expired nonces go first; a live one seen before is a replay.
      TG_RETURN_IF_ERROR(ExecParams(c, "DELETE FROM taogate_approval_nonces WHERE expires_ms < $1",
                                    {pgstore::Text(std::to_string(now_ms))}, "forget old nonces")
                             .status());
      TG_ASSIGN_OR_RETURN(Result n, ExecParams(c,
                                               "INSERT INTO taogate_approval_nonces VALUES ($1, $2) "
                                               "ON CONFLICT DO NOTHING RETURNING 1",
                                               {pgstore::Text(nonce_hex), pgstore::Text(std::to_string(nonce_expires_ms))},
                                               "claim the approval nonce"));
      if (PQntuples(n.get()) == 0) return absl::PermissionDeniedError("approval replayed");
    }
    TG_RETURN_IF_ERROR(ExecParams(c, "UPDATE taogate_decisions SET entry = $2, updated_at = now() WHERE id = $1",
                                  {pgstore::Text(id), pgstore::Text(updated)}, "update the decision")
                           .status());
    return ExecParams(c, "SELECT pg_notify('taogate_decision', $1)", {pgstore::Text(id)}, "notify the replicas")
        .status();
  });
  if (!st.ok()) return st;
  return updated;
}

namespace {
std::string ExactDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}
}  // namespace

absl::Status PgSharedState::TakeToken(const std::string& actor, double per_second, uint32_t burst,
                                      int64_t now_ms) {
  std::lock_guard l(mu_);
  // The refilled level; a clock behind the stored one refills nothing.
  constexpr const char* kLevel =
      "LEAST($2::float8, b.tokens + GREATEST(0, $3::bigint - b.updated_ms) * $4::float8 / 1000.0)";
  auto r = pgstore::ExecRetry(
      conn_, conninfo_,
      StrCat("INSERT INTO taogate_rate_buckets AS b (actor, tokens, updated_ms) VALUES ($1, $2::float8 - 1, $3) "
             "ON CONFLICT (actor) DO UPDATE SET tokens = ", kLevel, " - 1, updated_ms = GREATEST(b.updated_ms, $3) "
             "WHERE ", kLevel, " >= 1 RETURNING tokens"),
      {pgstore::Text(actor), pgstore::Text(std::to_string(burst)), pgstore::Text(std::to_string(now_ms)),
       pgstore::Text(ExactDouble(per_second))},
      "take a rate-limit token");
  if (!r.ok()) {
    pgstore::Abandon(conn_);
    return r.status();
  }
  if (PQntuples(r->get()) == 0)
    return absl::ResourceExhaustedError("rate limit exceeded (the bucket every replica draws from is empty)");
  return absl::OkStatus();
}

PgSharedState::Notified PgSharedState::WaitNotify(std::chrono::milliseconds timeout) {
  Notified out;
  if (!listen_ || PQstatus(listen_.get()) != CONNECTION_OK) {
    listen_.reset();
    auto c = pgstore::Connect(conninfo_);
    if (!c.ok() || !Exec(c->get(), "LISTEN taogate_killswitch; LISTEN taogate_policy; LISTEN taogate_decision",
                         "listen")
                         .ok()) {
      // The caller polls anyway: wait out the interval rather than spin.
      poll(nullptr, 0, static_cast<int>(timeout.count()));
      return out;
    }
    listen_ = std::move(*c);
  }
  PGconn* c = listen_.get();
  pollfd p{PQsocket(c), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return out;
  if (PQconsumeInput(c) == 0) {
    listen_.reset();
    return out;
  }
  while (PGnotify* n = PQnotifies(c)) {
    out.any = true;
    if (std::string_view(n->relname) == "taogate_decision") out.decisions.emplace_back(n->extra);
    PQfreemem(n);
  }
  return out;
}

}  // namespace taogate::governance::internal
