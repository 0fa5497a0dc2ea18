// taogatectl ledger verify|tail|show|prove|consistency|approvals: offline audit and
// proofs over a ledger directory (`ledger follow` streams a running daemon's:
// ledger_follow.h). Opens the ledger read-only (no writer lock), so it works
// next to a running daemon. Hashes print as base64, as in
// checkpoint notes. `ledger recover --accept-loss` is the one writer here: the
// operator's way past the rollback guard (docs/ledger.md), daemon stopped.
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "command.h"
#include "ledger_follow.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "absl/strings/escaping.h"
#include "taogate/evidence/evidence.h"
#include "taogate/governance/webauthn.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/pg_ledger.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/verify.h"

namespace taogate::cli {
namespace {

using ledger::Base64Encode;
using evidence::RecordJson;
using Json = nlohmann::ordered_json;

struct Args {
  std::string dir;
  std::string postgres;  // libpq connection string
  std::string out;
  std::string pubkey;
  std::string key_cert, trust_bundle;
  bool strict = false;
  bool accept_loss = false;
  std::vector<std::string> witness;
  uint64_t seq = 0;
  uint64_t size = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  uint64_t count = 10;
  std::string origin;  // ledger approvals: the console origin the approvals must name
};
Args& A() {
  static Args a;
  return a;
}

Json HashesJson(const std::vector<ledger::Hash>& hs) {
  Json a = Json::array();
  for (const auto& h : hs) a.push_back(Base64Encode(h));
  return a;
}

// A directory (--dir) or the governor replicas' PostgreSQL ledger (--postgres).
absl::StatusOr<std::unique_ptr<ledger::Log>> OpenReadOnly() {
  if (A().dir.empty() == A().postgres.empty())
    return absl::InvalidArgumentError("give exactly one of --dir and --postgres");
  if (!A().postgres.empty()) {
    ledger::PgLedgerOptions o;
    o.conninfo = A().postgres;
    o.read_only = true;
    return ledger::PgLedger::Open(o);
  }
  ledger::LedgerOptions o;
  o.dir = A().dir;
  o.read_only = true;
  return ledger::Ledger::Open(o);
}

// The PostgreSQL ledger as segment files (log.h ExportSegments): what
// `ledger verify --dir` and every offline audit read.
int Export() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger export: ", l.status().message()), 2);
  auto n = ledger::ExportSegments(**l, A().out);
  if (!n.ok()) return Fail(StrCat("ledger export: ", n.status().message()));
  std::cout << "exported " << *n << " records from " << (*l)->Where() << " to " << A().out
            << "; audit with: taogatectl ledger verify --dir " << A().out << "\n";
  return 0;
}

std::string ReadFileOr(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  *ok = static_cast<bool>(in);
  return ss.str();
}

// --key-cert + --trust-bundle: the checkpoint key must be vouched for by a
// trusted root (the governor's TPM root), for purpose "ledger-checkpoint".
// Returns the root's name.
absl::StatusOr<std::string> CertifyCheckpointKey(const ledger::NoteVerifier& key) {
  bool ok = false;
  std::string cert = ReadFileOr(A().key_cert, &ok);
  if (!ok) return absl::NotFoundError(StrCat(A().key_cert, ": cannot read"));
  TG_ASSIGN_OR_RETURN(keys::TrustBundle bundle, keys::TrustBundle::Load(A().trust_bundle));
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto issuer = bundle.VerifyCertificate(cert, now_ms, A().strict);
  if (!issuer.ok()) return absl::UnauthenticatedError(StrCat(A().key_cert, ": ", issuer.status().message()));
  if (issuer->purpose != "ledger-checkpoint")
    return absl::UnauthenticatedError(
        StrCat(A().key_cert, ": certificate is for \"", issuer->purpose, "\", not \"ledger-checkpoint\""));
  if (issuer->issuing_public_key != key.public_key)
    return absl::UnauthenticatedError(StrCat(A().key_cert, ": certifies another key than --pubkey"));
  return StrCat(issuer->root_name, issuer->software_mode ? " (software mode)" : "");
}

// --trust-bundle alone: each KEY_ROTATED "ledger-checkpoint" record's
// certificate must chain to the bundle (at the record's time), be for that
// purpose and name the record's key; `roots` collects who vouched.
absl::StatusOr<ledger::CertifiedKey> CheckKeyRecord(const keys::TrustBundle& bundle, const ledger::Record& r,
                                                    std::set<std::string>& roots) {
  auto cert = ledger::Base64Decode(r.Field("certificate").value_or(""));
  if (!cert.ok()) return absl::InvalidArgumentError("certificate field is not base64");
  if (auto sha = r.Field("cert_sha256"); sha && *sha != ToHex(crypto::Sha256(*cert)))
    return absl::InvalidArgumentError("cert_sha256 does not match the certificate");
  auto issuer = bundle.VerifyCertificate(*cert, r.time_ns / 1'000'000, A().strict);
  if (!issuer.ok()) return issuer.status();
  if (issuer->purpose != keys::kPurposeLedgerCheckpoint)
    return absl::PermissionDeniedError(
        StrCat("certificate is for \"", issuer->purpose, "\", not \"ledger-checkpoint\""));
  if (r.Field("key_id") != ToHex(issuer->issuing_key_id))
    return absl::InvalidArgumentError(StrCat("certificate is for key ", ToHex(issuer->issuing_key_id),
                                             ", the record names ", r.Field("key_id").value_or("none")));
  roots.insert(StrCat(issuer->root_name, issuer->software_mode ? " (software mode)" : ""));
  ledger::CertifiedKey k;
  k.verifier.public_key = issuer->issuing_public_key;
  k.not_before_ms = issuer->not_before_ms;
  k.not_after_ms = issuer->not_after_ms;
  k.signer = issuer->instance;
  return k;
}

int Verify() {
  ledger::VerifyOptions opts;
  if (!A().pubkey.empty()) {
    std::ifstream in(A().pubkey);
    if (!in) return Fail(StrCat(A().pubkey, ": cannot open"), 2);
    std::stringstream ss;
    ss << in.rdbuf();
    auto k = ledger::ParseNoteVerifier(ss.str());
    if (!k.ok()) return Fail(StrCat(A().pubkey, ": ", k.status().message()), 2);
    opts.key = *k;
  }
  if (!A().key_cert.empty() && A().trust_bundle.empty())
    return Fail("--key-cert needs --trust-bundle (the roots it must chain to)", 2);
  std::string certified_by;
  if (!A().key_cert.empty()) {
    if (!opts.key) return Fail("--key-cert needs --pubkey (the checkpoint key it certifies)", 2);
    auto root = CertifyCheckpointKey(*opts.key);
    if (!root.ok())
      return Fail(StrCat("ledger verify: checkpoint key not certified: ", root.status().message()), 1);
    certified_by = *root;
  }
  std::optional<keys::TrustBundle> bundle;
  std::set<std::string> roots;
  const bool chain = !A().trust_bundle.empty() && A().key_cert.empty();
  if (chain) {
    if (opts.key) return Fail("--pubkey with --trust-bundle needs --key-cert; --trust-bundle alone follows the "
                              "ledger's own checkpoint keys", 2);
    auto b = keys::TrustBundle::Load(A().trust_bundle);
    if (!b.ok()) return Fail(StrCat("ledger verify: ", b.status().message()), 2);
    bundle = std::move(*b);
    opts.key_chain = [&](const ledger::Record& r) { return CheckKeyRecord(*bundle, r, roots); };
  }
  for (const auto& path : A().witness) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(StrCat(path, ": cannot open"), 2);
    std::stringstream ss;
    ss << in.rdbuf();
    opts.witness_notes.push_back(ss.str());
  }
  auto sum = ledger::VerifyLedger(A().dir, opts);
  if (!sum.ok()) {
    auto seq = ledger::BadSeq(sum.status());
    if (!seq) return Fail(StrCat("ledger verify: ", sum.status().message()), 2);
    return Fail(StrCat("ledger verify: FAILED at seq ", *seq, ": ", sum.status().message()), 1);
  }
  if (!certified_by.empty() && sum->signatures_verified == 0)
    return Fail("ledger verify: --key-cert given but no checkpoint signature was verified with that key", 1);
  if (chain && sum->signatures_verified == 0)
    return Fail("ledger verify: --trust-bundle given but the ledger has no checkpoint to verify", 1);
  std::cout << sum->OneLine() << "\n";
  if (!certified_by.empty())
    std::cout << "checkpoint key certified by root " << certified_by
              << " (certificate valid now; a certificate's window is not checked against older checkpoints)\n";
  if (chain) {
    std::cout << "every checkpoint signed by the checkpoint key current at its seq, each certified by root";
    for (const auto& r : roots) std::cout << " " << r;
    std::cout << " at the time it was recorded\n";
  }
  return 0;
}

int Recover() {
  ledger::LedgerOptions o;
  o.dir = A().dir;
  o.accept_loss = A().accept_loss;
  auto l = ledger::Ledger::Open(o);
  if (!l.ok()) return Fail(StrCat("ledger recover: ", l.status().message()), 2);
  const ledger::RecoveryInfo& r = (*l)->recovery();
  if (!r.loss_accepted) {
    std::cout << "ledger recover: nothing lost: " << (*l)->Size()
              << " records, consistent with the last signed checkpoint\n";
    return 0;
  }
  std::cout << "ledger recover: accepted the loss of "
            << (r.checkpoint_size > r.recovered_size ? r.checkpoint_size - r.recovered_size : 0)
            << " signed records (the checkpoint covered " << r.checkpoint_size << ", " << r.recovered_size
            << " recovered); damaged files kept in " << r.moved_aside_to << "; LOSS_ACCEPTED recorded at seq "
            << (*l)->Size() - 1 << "\n";
  return 0;
}

int Tail() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger: ", l.status().message()));
  uint64_t n = (*l)->Size();
  uint64_t from = n > A().count ? n - A().count : 0;
  absl::Status s = (*l)->Scan(from, [](const ledger::Record& r) {
    std::cout << RecordJson(r).dump() << "\n";
    return true;
  });
  if (!s.ok()) return Fail(StrCat("ledger tail: ", s.message()));
  return 0;
}

std::string FieldOf(const ledger::Record& r, const std::string& name) {
  for (const auto& [k, v] : r.fields)
    if (k == name) return v;
  return "";
}

// taogatectl ledger approvals: re-verifies every console (WebAuthn) approval
// in the ledger from the ledger alone (docs/approvals.md, "re-verifying
// offline"): the credential's key from its APPROVER_ENROLLED record, enrolled
// for the same approver, and the ES256 signature over authenticator data and
// clientDataJSON whose challenge is the recorded intent (or its reject hash),
// whose origin is --origin (if given) and whose rp id hash is its host's.
int Approvals() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger: ", l.status().message()));
  struct Enrolled {
    std::string actor, public_key;
  };
  std::map<std::string, Enrolled> keys;  // credential id (base64url) -> enrollment
  uint64_t ok = 0, bad = 0;
  absl::Status s = (*l)->Scan(0, [&](const ledger::Record& r) {
    if (r.kind == ledger::RecordKind::kApproverEnrolled) {
      std::string der;
      if (absl::Base64Unescape(FieldOf(r, "public_key"), &der))
        keys[FieldOf(r, "credential_id")] = {FieldOf(r, "actor"), der};
      return true;
    }
    if (r.kind != ledger::RecordKind::kApproval || FieldOf(r, "event") != "webauthn") return true;
    auto check = [&]() -> absl::Status {
      auto it = keys.find(FieldOf(r, "credential_id"));
      if (it == keys.end()) return absl::NotFoundError("no APPROVER_ENROLLED record for this credential before it");
      if (it->second.actor != FieldOf(r, "approver"))
        return absl::PermissionDeniedError(StrCat("credential enrolled for ", it->second.actor));
      std::string cd, ad, sig;
      auto intent = FromHex(FieldOf(r, "intent_sha256"));
      if (!absl::WebSafeBase64Unescape(FieldOf(r, "client_data"), &cd) ||
          !absl::WebSafeBase64Unescape(FieldOf(r, "authenticator_data"), &ad) ||
          !absl::WebSafeBase64Unescape(FieldOf(r, "assertion"), &sig) || !intent.ok() || intent->size() != 32)
        return absl::InvalidArgumentError("malformed WebAuthn fields");
      Json j = Json::parse(cd, nullptr, false);
      const std::string origin = j.is_object() && j.contains("origin") && j["origin"].is_string() ? j["origin"].get<std::string>() : "";
      if (!A().origin.empty() && origin != A().origin)
        return absl::UnauthenticatedError(StrCat("made for origin \"", origin, "\", not ", A().origin));
      governance::webauthn::RelyingParty rp;
      rp.origin = origin;
      rp.id = origin.substr(origin.find("://") == std::string::npos ? 0 : origin.find("://") + 3);
      rp.id = rp.id.substr(0, rp.id.find(':'));
      const std::string verdict = FieldOf(r, "verdict");
      const std::string challenge = governance::webauthn::ApprovalChallenge(
          std::string(intent->begin(), intent->end()), verdict != "reject");
      return governance::webauthn::VerifyAssertion(rp, challenge, it->second.public_key, {cd, ad, sig}).status();
    };
    absl::Status v = check();
    Json line = {{"seq", r.seq}, {"decision_id", FieldOf(r, "decision_id")}, {"approver", FieldOf(r, "approver")},
                 {"verdict", FieldOf(r, "verdict")}, {"ok", v.ok()}};
    if (!v.ok()) line["error"] = std::string(v.message());
    std::cout << line.dump() << "\n";
    (v.ok() ? ok : bad)++;
    return true;
  });
  if (!s.ok()) return Fail(StrCat("ledger approvals: ", s.message()));
  std::cerr << ok << " WebAuthn approvals verified, " << bad << " refused\n";
  return bad == 0 ? 0 : 1;
}

int Show() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger: ", l.status().message()));
  auto r = (*l)->Read(A().seq);
  if (!r.ok()) return Fail(StrCat("ledger show: ", r.status().message()));
  std::cout << RecordJson(*r).dump(2) << "\n";
  return 0;
}

int Prove() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger: ", l.status().message()));
  uint64_t size = A().size ? A().size : (*l)->Size();
  auto p = (*l)->ProveInclusion(A().seq, size);
  if (!p.ok()) return Fail(StrCat("ledger prove: ", p.status().message()));
  Json j{{"seq", p->seq},       {"leaf_index", p->seq},  {"tree_size", p->tree_size},
         {"leaf_hash", Base64Encode(p->leaf_hash)}, {"root", Base64Encode(p->root)},
         {"proof", HashesJson(p->path)}};
  std::cout << j.dump(2) << "\n";
  return 0;
}

int Consistency() {
  auto l = OpenReadOnly();
  if (!l.ok()) return Fail(StrCat("ledger: ", l.status().message()));
  uint64_t to = A().to ? A().to : (*l)->Size();
  auto p = (*l)->ProveConsistency(A().from, to);
  if (!p.ok()) return Fail(StrCat("ledger consistency: ", p.status().message()));
  Json j{{"size1", A().from}, {"size2", to}, {"root1", Base64Encode(*(*l)->RootAt(A().from))},
         {"root2", Base64Encode(*(*l)->RootAt(to))}, {"proof", HashesJson(*p)}};
  std::cout << j.dump(2) << "\n";
  return 0;
}

void Register(CLI::App& root) {
  auto* cmd = root.add_subcommand("ledger", "Audit a ledger directory and produce Merkle proofs");
  cmd->require_subcommand(1);
  auto dir = [](CLI::App* c) { c->add_option("--dir", A().dir, "Ledger directory")->required(); };
  // Readers also take the governor replicas' PostgreSQL ledger.
  auto source = [](CLI::App* c) {
    c->add_option("--dir", A().dir, "Ledger directory");
    c->add_option("--postgres", A().postgres,
                  "Or the governor's PostgreSQL ledger: a libpq connection string (password in PGPASSFILE)");
  };

  auto* exp = cmd->add_subcommand(
      "export", "Write a PostgreSQL ledger (--postgres) as segment files that `ledger verify --dir` audits");
  exp->add_option("--postgres", A().postgres, "libpq connection string")->required();
  exp->add_option("--out", A().out, "New directory to write (must be empty or absent)")->required();
  exp->callback([] { ExitCode() = Export(); });

  auto* verify = cmd->add_subcommand(
      "verify", "Check framing, hash chain, Merkle roots and checkpoint signatures; exit 0 iff intact");
  dir(verify);
  verify->add_option("--pubkey", A().pubkey, "Checkpoint key: PEM Ed25519 public key or C2SP vkey");
  verify->add_option("--key-cert", A().key_cert,
                     "The checkpoint key's issuer certificate (taogatectl gov checkpoint --key-cert-out)");
  verify->add_option("--trust-bundle", A().trust_bundle,
                     "Trust bundle: alone, every checkpoint key recorded in the ledger (KEY_ROTATED) must chain to "
                     "it; with --key-cert, that certificate must");
  verify->add_flag("--strict", A().strict, "Refuse software-mode roots and certificates");
  verify->add_option("--checkpoint", A().witness,
                     "A checkpoint note kept elsewhere (witness); the ledger must contain its tree (repeatable)");
  verify->callback([] { ExitCode() = Verify(); });

  auto* recover = cmd->add_subcommand(
      "recover", "Operator: accept the loss of signed records so the daemon can open the ledger again");
  dir(recover);
  recover->add_flag("--accept-loss", A().accept_loss,
                    "Required: keep the damaged files in DIR/damaged-<ns>/ and record LOSS_ACCEPTED")
      ->required();
  recover->callback([] { ExitCode() = Recover(); });

  auto* tail = cmd->add_subcommand("tail", "Print the last records as JSON lines");
  source(tail);
  tail->add_option("-n,--count", A().count, "Number of records (default 10)");
  tail->callback([] { ExitCode() = Tail(); });

  RegisterLedgerFollow(cmd);

  auto* appr = cmd->add_subcommand(
      "approvals", "Re-verify every console (WebAuthn) approval from the ledger alone; exit 1 if one fails");
  source(appr);
  appr->add_option("--origin", A().origin, "the console origin every approval must name (https://HOST:PORT)");
  appr->callback([] { ExitCode() = Approvals(); });

  auto* show = cmd->add_subcommand("show", "Print one record as JSON");
  source(show);
  show->add_option("--seq", A().seq, "Record seq")->required();
  show->callback([] { ExitCode() = Show(); });

  auto* prove = cmd->add_subcommand("prove", "Inclusion proof for a record as JSON (RFC 6962)");
  source(prove);
  prove->add_option("--seq", A().seq, "Record seq")->required();
  prove->add_option("--size", A().size, "Tree size (default: whole ledger)");
  prove->callback([] { ExitCode() = Prove(); });

  auto* cons = cmd->add_subcommand("consistency", "Consistency proof between two tree sizes as JSON");
  source(cons);
  cons->add_option("--from", A().from, "Older tree size (>= 1)")->required();
  cons->add_option("--to", A().to, "Newer tree size (default: whole ledger)");
  cons->callback([] { ExitCode() = Consistency(); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
