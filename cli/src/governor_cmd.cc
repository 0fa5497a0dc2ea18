// taogatectl commands against a running governor (mTLS gRPC):
//   authz request|get|watch|approve|reject|breakglass|review|keygen
//   gov policy-activate|policy-get|checkpoint|proof|killswitch|watch-targets
//   approvers enroll
// Connection flags on every command: --governor HOST:PORT --ca --cert --key
// [--server-name] (defaults from TAOGATE_GOVERNOR, TAOGATE_CA, TAOGATE_CERT,
// TAOGATE_KEY). Decisions print as JSON; `authz request` exits 0 PERMIT,
// 2 DENY, 3 PENDING_APPROVAL. (`policy` belongs to policy_cmd.cc: offline.)
#include <chrono>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "command.h"
#include "governor_conn.h"
#include "governor.grpc.pb.h"
#include "taogate/common/hex.h"
#include "taogate/target/target_proto.h"
#include "taogate/common/strings.h"
#include "taogate/governance/approval.h"
#include "taogate/rpc/client.h"

namespace taogate::cli {
namespace {

struct Conn {
  std::string address, ca, cert, key, server_name;
};
Conn& C() {
  static Conn c;
  return c;
}

std::string Env(const char* n) {
  const char* v = std::getenv(n);
  return v ? v : "";
}

void AddConn(CLI::App* a) {
  a->add_option("--governor", C().address,
                 "governor address host:port, or replicas IP:port,IP:port (TAOGATE_GOVERNOR)");
  a->add_option("--ca", C().ca, "CA bundle PEM (TAOGATE_CA)");
  a->add_option("--cert", C().cert, "client certificate PEM (TAOGATE_CERT)");
  a->add_option("--key", C().key, "client key PEM (TAOGATE_KEY)");
  a->add_option("--server-name", C().server_name, "name to verify in the governor's certificate");
}

std::unique_ptr<v1::Governor::Stub> Stub() {
  Conn c = C();
  if (c.address.empty()) c.address = Env("TAOGATE_GOVERNOR");
  if (c.ca.empty()) c.ca = Env("TAOGATE_CA");
  if (c.cert.empty()) c.cert = Env("TAOGATE_CERT");
  if (c.key.empty()) c.key = Env("TAOGATE_KEY");
  if (c.address.empty()) {
    Fail("--governor (or TAOGATE_GOVERNOR) is required");
    return nullptr;
  }
  if (absl::Status a = rpc::ValidateGovernorAddress(c.address); !a.ok()) {
    Fail(std::string(a.message()));
    return nullptr;
  }
  auto tls = rpc::LoadClientTls(c.ca, c.cert, c.key);
  if (!tls.ok()) {
    Fail(std::string(tls.status().message()));
    return nullptr;
  }
  tls->server_name = c.server_name;
  return v1::Governor::NewStub(rpc::MakeGovernorChannel(c.address, *tls));
}

void Deadline(grpc::ClientContext& ctx, int s = 30) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(s));
}

int Rpc(const grpc::Status& s) {
  if (s.ok()) return 0;
  return Fail(StrCat("governor: code ", static_cast<int>(s.error_code()), ": ", s.error_message()));
}

// One unary call under the 30 s deadline: 0, or the failure's exit code.
template <typename Req, typename Resp>
int Call(v1::Governor::Stub& stub,
         grpc::Status (v1::Governor::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
         const Req& req, Resp* out) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  return Rpc((stub.*method)(&ctx, req, out));
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  // Cannot fail for a message we parsed: it has no Any fields to resolve.
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

int OutcomeExit(const v1::Decision& d) {
  switch (d.outcome()) {
    case v1::OUTCOME_PERMIT: return 0;
    case v1::OUTCOME_PENDING_APPROVAL: return 3;
    default: return 2;
  }
}

// --target in the destination form of target::Parse: tcp:ADDR:PORT,
// tcp:NAME:PORT (a DNS name, docs/names.md), udp:[V6]:PORT, unix:/p, file:/p, exec:/p. Prints why on failure.
bool ParseTarget(const std::string& text, v1::Target* out) {
  auto t = target::Parse(text, target::Form::kDestination);
  if (!t.ok()) {
    std::cerr << "--target: " << t.status().message() << "\n";
    return false;
  }
  *out = target::ToProto(*t);
  return true;
}

struct ReqFlags {
  std::string node, pod, workload, action, target, reason, cgroup_path, tao_out, incident;
  uint64_t cgroup_id = 0;
  uint32_t ttl = 0;
  std::string decision, key_file, verdict, note;
} F;

// The binding, workload and action flags shared by `request` and `breakglass`.
template <typename Request>
void SetBinding(Request& r) {
  r.mutable_binding()->set_node_id(F.node);
  r.mutable_binding()->set_cgroup_id(F.cgroup_id);
  r.mutable_binding()->set_pod_uid(F.pod);
  r.set_workload(F.workload);
  r.set_cgroup_path(F.cgroup_path);
  r.set_action_class(F.action);
}

// --tao-out: the TAO bytes, if the decision carries one.
void SaveTao(const v1::Decision& d) {
  if (!F.tao_out.empty() && !d.tao().empty()) std::ofstream(F.tao_out, std::ios::binary) << d.tao();
}

// A final answer: saved (--tao-out), printed, and its exit code.
int Show(const v1::Decision& d) {
  SaveTao(d);
  PrintJson(d);
  return OutcomeExit(d);
}

int Request() {
  auto stub = Stub();
  if (!stub) return 1;
  v1::AuthorizationRequest r;
  SetBinding(r);
  r.set_reason(F.reason);
  if (!ParseTarget(F.target, r.mutable_target())) return Fail("bad --target (tcp:ADDR:PORT, unix:/path, ...)");
  v1::Decision d;
  if (int rc = Call(*stub, &v1::Governor::Stub::RequestAuthorization, r, &d)) return rc;
  return Show(d);
}

int Get(bool watch) {
  auto stub = Stub();
  if (!stub) return 1;
  v1::GetDecisionRequest g;
  g.set_decision_id(F.decision);
  v1::Decision d;
  if (!watch) {
    if (int rc = Call(*stub, &v1::Governor::Stub::GetDecision, g, &d)) return rc;
    return Show(d);
  }
  grpc::ClientContext ctx;  // no deadline: streams until the decision is final
  auto reader = stub->WatchDecision(&ctx, g);
  while (reader->Read(&d)) PrintJson(d);
  if (int rc = Rpc(reader->Finish())) return rc;
  SaveTao(d);
  return OutcomeExit(d);
}

int Approve(bool approve) {
  auto stub = Stub();
  if (!stub) return 1;
  std::ifstream in(F.key_file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto key = crypto::Ed25519PrivateKey::FromPem(ss.str());
  if (!key.ok()) return Fail(StrCat("--approver-key: ", std::string(key.status().message())));
  v1::GetDecisionRequest g;
  g.set_decision_id(F.decision);
  v1::Decision d;
  if (int rc = Call(*stub, &v1::Governor::Stub::GetDecision, g, &d)) return rc;
  // Show what is being signed: the approver must see the intent.
  std::cerr << "signing " << (approve ? "APPROVE" : "REJECT") << " for decision " << d.decision_id()
            << " requested by " << d.requester() << " (rule " << d.rule() << ")\n";
  using namespace std::chrono;
  int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  auto a = governance::SignApproval(d, approve, *key, now);
  if (!a.ok()) return Fail(std::string(a.status().message()));
  v1::Decision out;
  if (int rc = Call(*stub, approve ? &v1::Governor::Stub::Approve : &v1::Governor::Stub::Reject, *a, &out))
    return rc;
  PrintJson(out);
  return 0;
}

int BreakGlass() {
  auto stub = Stub();
  if (!stub) return 1;
  v1::BreakGlassRequest r;
  SetBinding(r);
  r.set_incident_id(F.incident);
  r.set_justification(F.reason);
  r.set_ttl_seconds(F.ttl);
  if (!ParseTarget(F.target, r.mutable_target())) return Fail("bad --target");
  v1::Decision d;
  if (int rc = Call(*stub, &v1::Governor::Stub::BreakGlass, r, &d)) return rc;
  return Show(d);
}

int Review() {
  auto stub = Stub();
  if (!stub) return 1;
  v1::ReviewRequest r;
  r.set_decision_id(F.decision);
  r.set_verdict(F.verdict);
  r.set_note(F.note);
  v1::ReviewResponse out;
  if (int rc = Call(*stub, &v1::Governor::Stub::Review, r, &out)) return rc;
  PrintJson(out);
  return 0;
}

int Keygen() {
  auto k = crypto::Ed25519PrivateKey::Generate();
  if (!k.ok()) return Fail(std::string(k.status().message()));
  auto pem = k->ToPem();
  if (!pem.ok()) return Fail(std::string(pem.status().message()));
  std::ofstream out(F.key_file, std::ios::trunc);
  out << *pem;
  out.close();
  if (!out) return Fail(StrCat("cannot write ", F.key_file));
  std::filesystem::permissions(F.key_file, std::filesystem::perms::owner_read |
                                               std::filesystem::perms::owner_write);
  auto pub = k->PublicKey();
  std::cout << "approver_keys entry: " << ToHex(pub) << "\nkey id: " << governance::ApproverKeyId(pub)
            << "\n";
  return 0;
}

std::string ReadAll(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  *ok = static_cast<bool>(in);
  return ss.str();
}

struct AdminFlags {
  std::string file, node, workload, reason;
  uint64_t seq = 0, tree_size = 0;
  bool release = false;
} A;

int Admin(const std::string& what) {
  auto stub = Stub();
  if (!stub) return 1;
  if (what == "policy-activate") {
    bool ok = false;
    v1::ActivatePolicyRequest r;
    r.set_bundle_yaml(ReadAll(A.file, &ok));
    if (!ok) return Fail(StrCat("cannot read ", A.file));
    r.set_name(A.file);
    v1::ActivatePolicyResponse out;
    if (int rc = Call(*stub, &v1::Governor::Stub::ActivatePolicy, r, &out)) return rc;
    for (const auto& e : out.errors()) std::cerr << e << "\n";
    if (!out.errors().empty())
      return Fail(StrCat(A.file, ": refused; active bundle unchanged (", out.policy_sha256(), ")"));
    std::cout << "active " << out.policy_sha256() << " (ledger seq " << out.ledger_seq() << ")\n";
    return 0;
  }
  if (what == "policy-get") {
    v1::GetPolicyResponse out;
    if (int rc = Call(*stub, &v1::Governor::Stub::GetPolicy, v1::GetPolicyRequest(), &out)) return rc;
    if (A.file.empty()) std::cout << out.bundle_yaml();
    else std::ofstream(A.file, std::ios::binary) << out.bundle_yaml();
    std::cerr << "policy_sha256 " << out.policy_sha256() << "\n";
    return 0;
  }
  if (what == "checkpoint") {
    v1::LedgerCheckpointResponse out;
    if (int rc = Call(*stub, &v1::Governor::Stub::LedgerCheckpoint, v1::LedgerCheckpointRequest(), &out))
      return rc;
    std::cout << out.checkpoint() << "\nverifier key: " << out.verifier_key() << "\n";
    if (!A.file.empty()) std::ofstream(A.file, std::ios::binary) << out.key_certificate();
    return 0;
  }
  if (what == "proof") {
    v1::GovernorLedgerProofRequest r;
    r.set_seq(A.seq);
    r.set_tree_size(A.tree_size);
    v1::GovernorLedgerProofResponse out;
    if (int rc = Call(*stub, &v1::Governor::Stub::LedgerProof, r, &out)) return rc;
    PrintJson(out);
    return 0;
  }
  if (what == "killswitch") {
    v1::GovernorKillSwitchRequest r;
    r.set_engage(!A.release);
    r.set_node_id(A.node);
    r.set_workload(A.workload);
    r.set_reason(A.reason);
    v1::GovernorKillSwitchResponse out;
    if (int rc = Call(*stub, &v1::Governor::Stub::KillSwitch, r, &out)) return rc;
    PrintJson(out);
    return 0;
  }
  v1::WatchProtectedTargetsRequest r;
  r.set_node_id(A.node);
  grpc::ClientContext ctx;  // no deadline: streams until interrupted
  auto reader = stub->WatchProtectedTargets(&ctx, r);
  v1::ProtectedTargets t;
  while (reader->Read(&t)) PrintJson(t);
  return Rpc(reader->Finish());
}

void RegisterAdmin(CLI::App& root) {
  auto* gov = root.add_subcommand("gov", "Governor administration (policy, ledger, kill switch)");
  gov->require_subcommand(1);
  auto add = [&](const char* name, const char* help) {
    auto* c = gov->add_subcommand(name, help);
    AddConn(c);
    std::string n = name;
    c->callback([n] { ExitCode() = Admin(n); });
    return c;
  };
  add("policy-activate", "Activate a bundle (atomic; refused bundles print FILE:LINE:COL errors)")
      ->add_option("file", A.file)->required();
  add("policy-get", "Print (or --out) the active bundle")->add_option("--out", A.file);
  add("checkpoint", "Sign and print a ledger checkpoint")
      ->add_option("--key-cert-out", A.file, "write the checkpoint key's issuer certificate");
  auto* p = add("proof", "Inclusion proof for a ledger record");
  p->add_option("seq", A.seq)->required();
  p->add_option("--tree-size", A.tree_size, "0 = current");
  auto* k = add("killswitch", "Broadcast the kill switch to agents (admins)");
  k->add_option("--node", A.node, "empty = all nodes");
  k->add_option("--workload", A.workload, "empty = all workloads");
  k->add_option("--reason", A.reason)->required();
  k->add_flag("--release", A.release, "release instead of engage");
  add("watch-targets", "Stream the protected targets (what agents receive)")
      ->add_option("--node", A.node);
}

TG_CLI_COMMAND(RegisterAdmin);

void AddBinding(CLI::App* a, bool breakglass) {
  a->add_option("--node", F.node, "node id")->required();
  a->add_option("--cgroup-id", F.cgroup_id, "cgroup v2 id of the workload");
  a->add_option("--pod-uid", F.pod, "pod UID");
  a->add_option("--cgroup-path", F.cgroup_path, "cgroup path (workload selector)");
  a->add_option("--workload", F.workload, "workload name");
  a->add_option("--action", F.action, "action class")->required();
  a->add_option("--target", F.target, "tcp:ADDR:PORT | tcp:NAME:PORT | udp:.. | unix:/p | file:/p | exec:/p")->required();
  a->add_option(breakglass ? "--justification" : "--reason", F.reason, "free text (hashed + redacted)")->required();
  a->add_option("--tao-out", F.tao_out, "write the TAO bytes here on PERMIT");
}

void RegisterGovernor(CLI::App& root) {
  auto* authz = root.add_subcommand("authz", "Authorizations, approvals and break-glass (governor)");
  authz->require_subcommand(1);
  auto* req = authz->add_subcommand("request", "Ask for a TAO; exit 0 PERMIT, 2 DENY, 3 PENDING");
  AddConn(req);
  AddBinding(req, false);
  req->callback([] { ExitCode() = Request(); });
  for (bool watch : {false, true}) {
    auto* g = authz->add_subcommand(watch ? "watch" : "decision",
                                    watch ? "Stream a decision until it is final" : "Show a decision");
    AddConn(g);
    g->add_option("decision", F.decision)->required();
    g->add_option("--tao-out", F.tao_out, "write the TAO bytes here on PERMIT");
    g->callback([watch] { ExitCode() = Get(watch); });
  }
  for (bool approve : {true, false}) {
    auto* a = authz->add_subcommand(approve ? "approve" : "reject",
                                    "Sign the decision's intent with your approver key");
    AddConn(a);
    a->add_option("decision", F.decision)->required();
    a->add_option("--approver-key", F.key_file, "Ed25519 PKCS#8 PEM")->required();
    a->callback([approve] { ExitCode() = Approve(approve); });
  }
  auto* bg = authz->add_subcommand("breakglass", "Scoped, short-lived, always reviewed");
  AddConn(bg);
  AddBinding(bg, true);
  bg->add_option("--incident", F.incident, "incident id")->required();
  bg->add_option("--ttl", F.ttl, "seconds")->required();
  bg->callback([] { ExitCode() = BreakGlass(); });
  auto* rv = authz->add_subcommand("review", "Close a break-glass review (admins)");
  AddConn(rv);
  rv->add_option("decision", F.decision)->required();
  rv->add_option("--verdict", F.verdict, "accepted | violation")->required();
  rv->add_option("--note", F.note, "free text");
  rv->callback([] { ExitCode() = Review(); });
  auto* kg = authz->add_subcommand("keygen", "Create an approver key (PEM) and print its policy entry");
  kg->add_option("out", F.key_file)->required();
  kg->callback([] { ExitCode() = Keygen(); });
}

TG_CLI_COMMAND(RegisterGovernor);

// taogatectl approvers enroll IDENTITY: a one-time console link with which
// the approver registers a passkey or security key (docs/approvals.md).
int Enroll(const std::string& identity) {
  auto stub = Stub();
  if (!stub) return 1;
  v1::EnrollApproverRequest r;
  r.set_identity(identity);
  v1::EnrollApproverResponse out;
  if (int rc = Call(*stub, &v1::Governor::Stub::EnrollApprover, r, &out)) return rc;
  std::cout << "Send this one-time link to " << identity << " (single use, expires "
            << std::chrono::duration_cast<std::chrono::minutes>(
                   std::chrono::milliseconds(out.expires_at_ms()) -
                   std::chrono::system_clock::now().time_since_epoch())
                       .count() + 1
            << " min from now):\n"
            << out.link() << "\n"
            << "The page prints the bundle entry (webauthn_credentials) to add under the actor.\n";
  return 0;
}

void RegisterApprovers(CLI::App& root) {
  auto* ap = root.add_subcommand("approvers", "WebAuthn approvers of the console (governor admins)");
  ap->require_subcommand(1);
  static std::string identity;
  auto* en = ap->add_subcommand("enroll", "Print a one-time enrollment link for an actor of the bundle");
  AddConn(en);
  en->add_option("identity", identity, "the actor's identity (URI), as in the policy bundle")->required();
  en->callback([] { ExitCode() = Enroll(identity); });
}

TG_CLI_COMMAND(RegisterApprovers);

}  // namespace

void AddGovernorConn(CLI::App* a) { AddConn(a); }
std::unique_ptr<v1::Governor::Stub> GovernorStub() { return Stub(); }

}  // namespace taogate::cli
