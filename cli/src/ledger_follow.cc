// taogatectl ledger follow [--socket S | --governor ADDR --ca --cert --key]
//                          [--from-seq N] [--format json|ocsf] [--poll-ms MS]
// json: the `ledger tail` line; ocsf: evidence/ocsf.h (docs/evidence.md).
// Polls LedgerRead (agent operator socket, or the governor over mTLS: admins
// only) and prints each record once, in seq order, one JSON line flushed at a
// time, until interrupted. Caught up, it polls every --poll-ms (200). A
// failed call (daemon restarting, network) is retried with backoff (poll-ms
// doubling to 5 s) on a new connection, from the last printed seq + 1, so a
// restart neither repeats nor skips a record. Refusals that a retry cannot
// change (OUT_OF_RANGE, INVALID_ARGUMENT, PERMISSION_DENIED,
// UNAUTHENTICATED, UNIMPLEMENTED, DATA_LOSS) end it: exit 1.
#include "ledger_follow.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <iostream>
#include <optional>
#include <thread>

#include "command.h"
#include "governor_conn.h"
#include "taogate/agent/client.h"
#include "taogate/common/strings.h"
#include "taogate/evidence/evidence.h"
#include "taogate/evidence/ocsf.h"
#include "taogate/rpc/status.h"

namespace taogate::cli {
namespace {

struct FollowArgs {
  std::string socket = "/run/taogate/operator.sock";
  std::optional<uint64_t> from_seq;
  std::string format = "json";
  int poll_ms = 200;
};
FollowArgs& F() {
  static FollowArgs f;
  return f;
}

struct Page {
  std::vector<ledger::Record> records;
  uint64_t size = 0;
};
// One LedgerRead; reconnect = drop the connection first.
using Reader = std::function<absl::StatusOr<Page>(uint64_t from, uint32_t max, bool reconnect)>;

template <typename Resp>
absl::StatusOr<Page> ToPage(const Resp& resp) {
  Page p;
  p.size = resp.size();
  for (const auto& w : resp.records()) {
    std::map<std::string, std::string> fields(w.fields().begin(), w.fields().end());
    auto r = evidence::RecordFromWire(w.seq(), w.time_ns(), w.kind(), fields, w.hash_hex(), w.prev_hash_hex());
    if (!r.ok()) return r.status();
    p.records.push_back(*std::move(r));
  }
  return p;
}

Reader AgentReader() {
  auto client = std::make_shared<std::unique_ptr<agent::AgentClient>>();
  return [client](uint64_t from, uint32_t max, bool reconnect) -> absl::StatusOr<Page> {
    if (reconnect || !*client) *client = agent::AgentClient::ForSocket(F().socket);
    auto r = (*client)->LedgerRead(from, max);
    if (!r.ok()) return r.status();
    return ToPage(*r);
  };
}

Reader GovernorReader() {
  auto stub = std::make_shared<std::unique_ptr<v1::Governor::Stub>>();
  return [stub](uint64_t from, uint32_t max, bool reconnect) -> absl::StatusOr<Page> {
    if (reconnect || !*stub) *stub = GovernorStub();
    if (!*stub) return absl::InvalidArgumentError("no governor connection");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GovernorLedgerReadRequest req;
    req.set_from_seq(from);
    req.set_max_records(max);
    v1::GovernorLedgerReadResponse resp;
    grpc::Status s = (*stub)->LedgerRead(&ctx, req, &resp);
    if (!s.ok()) return rpc::FromGrpc(s);
    return ToPage(resp);
  };
}

bool Final(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

int Follow(const Reader& read, const std::string& origin) {
  const auto poll = std::chrono::milliseconds(std::max(F().poll_ms, 10));
  auto backoff = poll;
  std::optional<uint64_t> next = F().from_seq;
  bool reconnect = false, failing = false;
  while (true) {
    // Without --from-seq the first answer only tells where the end is.
    auto page = read(next.value_or(0), next ? 0 : 1, reconnect);
    if (!page.ok()) {
      if (Final(page.status())) return Fail(StrCat("ledger follow: ", page.status().ToString()));
      if (!failing) std::cerr << "taogatectl: ledger follow: " << page.status().ToString() << "; retrying\n";
      failing = reconnect = true;
      std::this_thread::sleep_for(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
      continue;
    }
    if (failing) std::cerr << "taogatectl: ledger follow: reconnected at seq " << next.value_or(page->size) << "\n";
    failing = reconnect = false;
    backoff = poll;
    if (!next) {
      next = page->size;
      std::cerr << "taogatectl: ledger follow: from seq " << *next << " (the end; --from-seq for earlier records)\n";
      continue;
    }
    for (const auto& r : page->records) {
      if (r.seq != *next) return Fail(StrCat("ledger follow: expected seq ", *next, ", got ", r.seq), 1);
      evidence::Json j = F().format == "ocsf" ? evidence::OcsfEvent(r, origin) : evidence::RecordJson(r);
      std::cout << j.dump() << "\n" << std::flush;
      ++*next;
    }
    if (!std::cout) return Fail("ledger follow: stdout closed");
    if (page->records.empty() || *next >= page->size) std::this_thread::sleep_for(poll);
  }
}

}  // namespace

void RegisterLedgerFollow(CLI::App* ledger) {
  auto* f = ledger->add_subcommand(
      "follow", "Stream the node ledger (agent operator socket) or, with --governor, the governor's, as JSON lines");
  f->add_option("--socket", F().socket, "agent operator socket (node ledger)");
  AddGovernorConn(f);
  static uint64_t from_seq = 0;
  auto* from = f->add_option("--from-seq", from_seq, "first record to print (0: everything; default: only new records)");
  f->add_option("--format", F().format, "json (the `ledger tail` line) | ocsf")
      ->check(CLI::IsMember({"json", "ocsf"}));
  f->add_option("--poll-ms", F().poll_ms, "poll interval when caught up (default 200)");
  f->callback([f, from] {
    if (from->count() > 0) F().from_seq = from_seq;
    bool governor = f->count("--governor") > 0;
    ExitCode() = governor ? Follow(GovernorReader(), "governor") : Follow(AgentReader(), "node");
  });
}

}  // namespace taogate::cli
