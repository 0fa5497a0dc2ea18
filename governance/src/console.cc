#include "taogate/governance/console.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "console_assets.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/governor.h"
#include "taogate/ledger/merkle.h"
#include "taogate/ledger/record.h"
#include "taogate/runtime/listen.h"
#include "taogate/governance/webauthn.h"

namespace taogate::governance {
namespace {

using Json = nlohmann::json;

constexpr int64_t kChallengeTtlMs = 2 * 60 * 1000;
constexpr int64_t kLinkGraceMs = 24 * 60 * 60 * 1000;
constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kMaxEntries = 10'000;  // per table: tokens, sessions, challenges
constexpr char kCookie[] = "__Host-taogate-session";
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string B64u(std::string_view bytes) { return absl::WebSafeBase64Escape(absl::string_view(bytes.data(), bytes.size())); }
std::string HashHex(std::string_view s) { return ToHex(crypto::Sha256(s)); }

absl::StatusOr<std::string> RandomToken(size_t n) {
  std::string b(n, '\0');
  TG_RETURN_IF_ERROR(crypto::RandomBytes({reinterpret_cast<uint8_t*>(b.data()), b.size()}));
  return b;
}

// The console's certificate chain and key into `ctx`: checked by Create (a
// bad file fails the start) and loaded by the server it starts.
bool UseKeyPair(SSL_CTX& ctx, const std::string& cert, const std::string& key) {
  return SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(&ctx) == 1;
}

int HttpCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kOutOfRange: return 416;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

// https://HOST[:PORT] -> HOST (the WebAuthn relying-party id).
absl::StatusOr<std::string> RpIdOf(const std::string& origin) {
  constexpr std::string_view kScheme = "https://";
  if (origin.rfind(kScheme, 0) != 0)
    return absl::InvalidArgumentError(StrCat("console_origin must start with https:// (got \"", origin, "\")"));
  std::string host = origin.substr(kScheme.size());
  if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos || host.back() == ':')
    return absl::InvalidArgumentError(
        StrCat("console_origin must be https://HOST[:PORT] with no path (got \"", origin, "\")"));
  if (host.front() == '[')
    return absl::InvalidArgumentError("console_origin: WebAuthn needs a host name, not an IP address");
  if (auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  if (host.find_first_not_of("0123456789.") == std::string::npos)
    return absl::InvalidArgumentError("console_origin: WebAuthn needs a host name, not an IP address");
  for (char& c : host) c = char(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

Json DecisionJson(const DecisionSummary& s) {
  const v1::Decision& d = s.decision;
  std::string outcome = v1::Outcome_Name(d.outcome());
  if (outcome.rfind("OUTCOME_", 0) == 0) outcome = outcome.substr(8);
  std::string review;
  if (s.break_glass) review = s.reviewed ? "reviewed" : "review_required";
  return {{"decision_id", d.decision_id()},
          {"outcome", outcome},
          {"requester", d.requester()},
          {"workload", s.workload},
          {"node_id", s.node_id},
          {"action", s.action},
          {"target", s.target},
          {"rule", d.rule()},
          {"reason", s.reason.empty() ? d.reason() : s.reason},
          {"approvals_needed", d.approvals_needed()},
          {"approvals_given", d.approvals_given()},
          {"approvers", std::vector<std::string>(d.approvers().begin(), d.approvers().end())},
          {"approver_roles", std::vector<std::string>(d.approver_roles().begin(), d.approver_roles().end())},
          {"intent_sha256_hex", ToHex(d.intent_sha256())},
          {"expires_at_ms", d.pending_until_ms()},
          {"ledger_seq", d.ledger_seq()},
          {"break_glass", s.break_glass},
          {"review", review}};
}

}  // namespace

struct Console::Impl {
  ConsoleConfig config;
  webauthn::RelyingParty rp;
  const Clock* clock = nullptr;
  Governor* governor = nullptr;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  int port = 0;

  struct Link {
    std::string decision_id;
    int64_t until_ms = 0;
    bool used = false;
  };
  struct Enrollment {
    std::string identity;
    int64_t until_ms = 0;
    bool used = false;
    std::string challenge;  // of the last enroll/begin
    std::string user_id;
  };
  struct Challenge {
    std::string identity;
    int64_t until_ms = 0;
  };
  struct Session {
    std::string identity;
    std::string csrf;
    int64_t until_ms = 0;
  };
  std::mutex mu;  // guards everything below
  std::map<std::string, Link> links;              // SHA-256 hex of the token
  std::map<std::string, Enrollment> enrollments;  // SHA-256 hex of the token
  std::map<std::string, Challenge> challenges;    // hex of the challenge
  std::map<std::string, Session> sessions;        // SHA-256 hex of the cookie
  std::map<std::string, uint32_t> counters;       // credential id -> last counter

  int64_t Now() const { return clock->WallMs(); }

  // Drops entries `grace_ms` past their end (a used or expired link is kept
  // a while so that reopening it says so). Requires mu.
  template <typename M>
  void Prune(M& m, int64_t now, int64_t grace_ms = 0) {
    for (auto it = m.begin(); it != m.end();)
      it = it->second.until_ms + grace_ms < now ? m.erase(it) : std::next(it);
  }

  // ---- request plumbing ----
  struct Request {
    const httplib::Request* http = nullptr;
    std::string method, path;
    Json body;
    std::string cookie;  // the session cookie's value, "" if none
    Session session_copy;
    bool has_session = false;
    std::string Query(const char* key) const { return http->get_param_value(key); }
  };

  static void Send(httplib::Response& res, int code, const std::string& type, std::string body) {
    res.status = code;
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Cross-Origin-Opener-Policy", "same-origin");
    res.set_header("Strict-Transport-Security", "max-age=31536000");
    res.set_content(std::move(body), type.c_str());
  }
  static void SendError(httplib::Response& res, int code, std::string_view message) {
    Send(res, code, "application/json", Json{{"error", std::string(message)}}.dump());
  }

  // The value of our cookie in a Cookie header ("a=1; __Host-taogate-session=...").
  static std::string CookieToken(const httplib::Request& req) {
    const std::string header = req.get_header_value("Cookie");
    const std::string want = StrCat(kCookie, "=");
    size_t pos = 0;
    while (pos < header.size()) {
      size_t end = header.find(';', pos);
      if (end == std::string::npos) end = header.size();
      std::string_view item(header.data() + pos, end - pos);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      if (item.rfind(want, 0) == 0) return std::string(item.substr(want.size()));
      pos = end + 1;
    }
    return "";
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    Request r;
    r.http = &req;
    r.method = req.method;
    r.path = req.path;
    if (r.path == "/console") {
      Send(res, 302, "text/plain", "");
      res.set_header("Location", "/console/");
      return;
    }
    if (r.path.rfind("/console/api/", 0) != 0) return ServeAsset(r, res);
    if (governor == nullptr) return SendError(res, 503, "the governor is starting");
    // Session, if any (cookie).
    r.cookie = CookieToken(req);
    if (!r.cookie.empty()) {
      std::lock_guard l(mu);
      auto it = sessions.find(HashHex(r.cookie));
      if (it != sessions.end() && it->second.until_ms >= Now()) {
        r.session_copy = it->second;
        r.has_session = true;
      }
    }
    if (r.method == "POST") {
      // CSRF: the page's own origin only, JSON only, and with a session its
      // token in a header no cross-site form or simple request can set.
      if (req.get_header_value("Origin") != config.origin)
        return SendError(res, 403, "cross-origin request refused (Origin is not the console's)");
      if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
        return SendError(res, 415, "Content-Type must be application/json");
      if (r.has_session) {
        const std::string csrf = req.get_header_value("X-Taogate-CSRF");
        if (csrf.empty() || !crypto::ConstantTimeEqual(crypto::AsBytes(csrf), crypto::AsBytes(r.session_copy.csrf)))
          return SendError(res, 403, "missing or wrong CSRF token");
      }
      r.body = Json::parse(req.body, nullptr, false);
      if (!r.body.is_object()) return SendError(res, 400, "request body is not a JSON object");
    } else if (r.method != "GET") {
      return SendError(res, 405, "method not allowed");
    }
    absl::StatusOr<Json> out = Route(r);
    if (!out.ok()) {
      int code = HttpCode(out.status());
      std::string msg(out.status().message());
      if (msg.rfind("410 ", 0) == 0) {  // Gone: a used or expired one-time link
        code = 410;
        msg = msg.substr(4);
      }
      return SendError(res, code, msg);
    }
    std::string cookie;
    if (out->contains("__set_cookie")) {
      cookie = out->at("__set_cookie").get<std::string>();
      out->erase("__set_cookie");
    }
    Send(res, 200, "application/json", out->dump());
    if (!cookie.empty()) res.set_header("Set-Cookie", cookie);
  }

  void ServeAsset(const Request& r, httplib::Response& res) {
    const std::string path = r.path == "/console/" ? "/console/index.html" : r.path;
    if (r.method != "GET") return SendError(res, 405, "method not allowed");
    for (size_t i = 0; i < console_assets::kAssetCount; ++i) {
      const auto& a = console_assets::kAssets[i];
      if (path == a.path)
        return Send(res, 200, a.type, std::string(reinterpret_cast<const char*>(a.data), a.size));
    }
    Send(res, 404, "text/plain", "not found\n");
  }

  static absl::StatusOr<std::string> Field(const Json& j, const char* key, size_t max = 4096) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().size() > max)
      return absl::InvalidArgumentError(StrCat("\"", key, "\" is required (a string)"));
    return it->get<std::string>();
  }
  static absl::StatusOr<std::string> Bytes(const Json& j, const char* key, size_t max = 4096) {
    TG_ASSIGN_OR_RETURN(std::string text, Field(j, key, max * 2));
    std::string out;
    if (!absl::WebSafeBase64Unescape(text, &out) || out.size() > max)
      return absl::InvalidArgumentError(StrCat("\"", key, "\" must be base64url"));
    return out;
  }

  absl::Status RequireSession(const Request& r) {
    if (!r.has_session) return absl::UnauthenticatedError("log in first (no session, or it expired)");
    return absl::OkStatus();
  }

  absl::StatusOr<Json> Route(Request& r) {
    const std::string p = r.path.substr(std::string_view("/console/api/").size());
    const bool post = r.method == "POST";
    if (post && p == "login/begin") return LoginBegin(r);
    if (post && p == "login/finish") return LoginFinish(r);
    if (post && p == "enroll/begin") return EnrollBegin(r);
    if (post && p == "enroll/finish") return EnrollFinish(r);
    if (!post && p == "session") {
      TG_RETURN_IF_ERROR(RequireSession(r));
      return SessionJson(r.session_copy);
    }
    TG_RETURN_IF_ERROR(RequireSession(r));
    if (post && p == "logout") {
      std::lock_guard l(mu);
      sessions.erase(HashHex(r.cookie));
      return Json{{"__set_cookie", StrCat(kCookie, "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")}};
    }
    if (post && p == "link") return RedeemLink(r);
    if (!post && p == "decisions") return ListDecisions();
    if (!post && p == "decision") {
      TG_ASSIGN_OR_RETURN(DecisionSummary s, governor->Summary(r.Query("id")));
      return DecisionJson(s);
    }
    if (post && p == "decision/approve") return Approve(r);
    if (!post && p == "killswitch") return KillSwitchState();
    if (post && p == "killswitch") return KillSwitch(r);
    if (!post && p == "ledger/records") return LedgerRecords(r);
    if (!post && p == "ledger/checkpoint") return LedgerCheckpoint(r);
    if (!post && p == "ledger/proof") return LedgerProof(r);
    return absl::NotFoundError(StrCat("no such API: ", r.method, " ", r.path));
  }

  // ---- WebAuthn credentials from the active bundle ----
  struct Cred {
    std::string identity;
    std::string public_key;
  };
  std::vector<std::string> CredentialIds(const std::string& identity) {
    std::vector<std::string> out;
    auto policy = governor->policy();
    for (const auto& a : policy->bundle().actors)
      if (a.identity == identity)
        for (const auto& c : a.webauthn_credentials) out.push_back(c.id);
    return out;
  }
  std::optional<Cred> FindCredential(const std::string& id) {
    auto policy = governor->policy();
    for (const auto& a : policy->bundle().actors)
      for (const auto& c : a.webauthn_credentials)
        if (c.id == id) return Cred{a.identity, c.public_key};
    return std::nullopt;
  }

  // Verifies an assertion by `identity`'s credential and moves its counter.
  absl::Status VerifyBy(const std::string& identity, const std::string& credential_id,
                        const std::string& challenge, const webauthn::Assertion& a) {
    auto cred = FindCredential(credential_id);
    if (!cred || cred->identity != identity)
      return absl::UnauthenticatedError("this credential is not enrolled for this identity in the active policy bundle");
    TG_ASSIGN_OR_RETURN(uint32_t count, webauthn::VerifyAssertion(rp, challenge, cred->public_key, a));
    std::lock_guard l(mu);
    uint32_t& stored = counters[credential_id];
    TG_RETURN_IF_ERROR(webauthn::CheckCounter(stored, count));
    stored = count;
    return absl::OkStatus();
  }

  Json SessionJson(const Session& s) {
    std::vector<std::string> roles;
    auto policy = governor->policy();
    for (const auto& a : policy->bundle().actors)
      if (a.identity == s.identity)
        for (auto i : a.roles) roles.push_back(policy->bundle().roles[i].id);
    return {{"identity", s.identity}, {"roles", roles}, {"admin", governor->IsAdmin(s.identity)}, {"csrf", s.csrf}};
  }

  absl::StatusOr<Json> LoginBegin(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string identity, Field(r.body, "identity", 512));
    std::vector<std::string> ids = CredentialIds(identity);
    if (ids.empty())
      return absl::NotFoundError("no WebAuthn credential for this identity in the active policy bundle");
    TG_ASSIGN_OR_RETURN(std::string challenge, RandomToken(32));
    {
      std::lock_guard l(mu);
      Prune(challenges, Now());
      if (challenges.size() >= kMaxEntries) return absl::UnavailableError("too many logins in progress");
      challenges[ToHex(challenge)] = {identity, Now() + kChallengeTtlMs};
    }
    Json allow = Json::array();
    for (const auto& id : ids) allow.push_back(B64u(id));
    return Json{{"challenge", B64u(challenge)}, {"rp_id", rp.id}, {"allow_credentials", allow},
                {"timeout_ms", kChallengeTtlMs}};
  }

  static absl::StatusOr<webauthn::Assertion> AssertionOf(const Json& body, std::string* storage) {
    // storage holds the decoded bytes the views point into: cdj, auth, sig.
    TG_ASSIGN_OR_RETURN(storage[0], Bytes(body, "client_data_json"));
    TG_ASSIGN_OR_RETURN(storage[1], Bytes(body, "authenticator_data"));
    TG_ASSIGN_OR_RETURN(storage[2], Bytes(body, "signature", 256));
    return webauthn::Assertion{storage[0], storage[1], storage[2]};
  }

  absl::StatusOr<Json> LoginFinish(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string identity, Field(r.body, "identity", 512));
    TG_ASSIGN_OR_RETURN(std::string cred_id, Bytes(r.body, "credential_id", 1023));
    std::string storage[3];
    TG_ASSIGN_OR_RETURN(webauthn::Assertion a, AssertionOf(r.body, storage));
    // The challenge the client signed must be one this console issued, to
    // this identity, unexpired, and is then spent.
    Json cd = Json::parse(a.client_data_json, nullptr, false);
    std::string challenge;
    if (!cd.is_object() || !cd.contains("challenge") || !cd["challenge"].is_string() ||
        !absl::WebSafeBase64Unescape(cd["challenge"].get<std::string>(), &challenge))
      return absl::InvalidArgumentError("clientDataJSON has no challenge");
    {
      std::lock_guard l(mu);
      auto it = challenges.find(ToHex(challenge));
      if (it == challenges.end() || it->second.until_ms < Now() || it->second.identity != identity)
        return absl::UnauthenticatedError("unknown or expired login challenge");
      challenges.erase(it);
    }
    TG_RETURN_IF_ERROR(VerifyBy(identity, cred_id, challenge, a));
    TG_ASSIGN_OR_RETURN(std::string token, RandomToken(32));
    TG_ASSIGN_OR_RETURN(std::string csrf, RandomToken(32));
    Session s{identity, B64u(csrf), Now() + config.session_ttl_ms};
    {
      std::lock_guard l(mu);
      Prune(sessions, Now());
      if (sessions.size() >= kMaxEntries) return absl::UnavailableError("too many sessions");
      sessions[HashHex(B64u(token))] = s;
    }
    log::Info("console: login", {{"identity", identity}});
    Json j = SessionJson(s);
    j["__set_cookie"] = StrCat(kCookie, "=", B64u(token), "; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=",
                               config.session_ttl_ms / 1000);
    return j;
  }

  absl::StatusOr<Json> RedeemLink(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string token, Field(r.body, "token", 128));
    std::lock_guard l(mu);
    auto it = links.find(HashHex(token));
    if (it == links.end()) return absl::NotFoundError("unknown link");
    if (it->second.used) return absl::FailedPreconditionError("410 link already used");
    if (it->second.until_ms < Now()) return absl::FailedPreconditionError("410 link expired");
    it->second.used = true;
    log::Info("console: link opened", {{"identity", r.session_copy.identity}, {"decision_id", it->second.decision_id}});
    return Json{{"decision_id", it->second.decision_id}};
  }

  absl::StatusOr<Json> ListDecisions() {
    Json pending = Json::array(), history = Json::array();
    for (const auto& s : governor->Decisions(1000)) {
      if (s.decision.outcome() == v1::OUTCOME_PENDING_APPROVAL) pending.push_back(DecisionJson(s));
      else if (history.size() < 200) history.push_back(DecisionJson(s));
    }
    return Json{{"pending", pending}, {"history", history}};
  }

  absl::StatusOr<Json> Approve(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string id, Field(r.body, "decision_id", 128));
    TG_ASSIGN_OR_RETURN(std::string verdict, Field(r.body, "verdict", 16));
    if (verdict != "approve" && verdict != "reject")
      return absl::InvalidArgumentError("verdict must be approve or reject");
    TG_ASSIGN_OR_RETURN(std::string cred_id, Bytes(r.body, "credential_id", 1023));
    std::string storage[3];
    TG_ASSIGN_OR_RETURN(webauthn::Assertion a, AssertionOf(r.body, storage));
    TG_ASSIGN_OR_RETURN(DecisionSummary s, governor->Summary(id));
    const std::string intent = s.decision.intent_sha256();
    const std::string challenge = webauthn::ApprovalChallenge(intent, verdict == "approve");
    const std::string& who = r.session_copy.identity;
    TG_RETURN_IF_ERROR(VerifyBy(who, cred_id, challenge, a));
    const std::string evidence_key = HashHex(StrCat(a.authenticator_data, a.client_data_json, a.signature));
    VerifiedApproval va{.decision_id = id,
                        .intent_sha256 = intent,
                        .approver = who,
                        .approve = verdict == "approve",
                        .nonce_hex = evidence_key,
                        .nonce_until_ms = s.decision.pending_until_ms() + 60'000,
                        .evidence = {{"event", "webauthn"},
                                     {"intent_sha256", ToHex(intent)},
                                     {"credential_id", B64u(cred_id)},
                                     {"authenticator_data", B64u(a.authenticator_data)},
                                     {"client_data", B64u(a.client_data_json)},
                                     {"assertion", B64u(a.signature)}}};
    TG_ASSIGN_OR_RETURN(v1::Decision d, governor->ApproveVerified(who, va));
    log::Info("console: approval", {{"identity", who}, {"decision_id", id}, {"verdict", verdict}});
    TG_ASSIGN_OR_RETURN(DecisionSummary after, governor->Summary(id));
    return DecisionJson(after);
  }

  absl::StatusOr<Json> KillSwitchState() {
    uint64_t latest = 0;
    auto log = governor->WaitKillSwitch("", 0, std::chrono::steady_clock::now(), &latest);
    Json history = Json::array();
    bool engaged = false;
    for (const auto& m : log) {
      history.push_back({{"sequence", m.sequence()}, {"engage", m.engage()}, {"node_id", m.node_id()},
                         {"workload", m.workload()}, {"reason", m.reason()}});
      if (m.node_id().empty() && m.workload().empty()) engaged = m.engage();
    }
    return Json{{"engaged", engaged}, {"history", history}};
  }

  absl::StatusOr<Json> KillSwitch(const Request& r) {
    const std::string& who = r.session_copy.identity;
    if (!governor->IsAdmin(who)) return absl::PermissionDeniedError("only governor admins use the kill switch");
    auto engage = r.body.find("engage");
    if (engage == r.body.end() || !engage->is_boolean())
      return absl::InvalidArgumentError("\"engage\" is required (true or false)");
    TG_ASSIGN_OR_RETURN(std::string confirm, Field(r.body, "confirm", 16));
    if (confirm != (engage->get<bool>() ? "ENGAGE" : "RELEASE"))
      return absl::InvalidArgumentError("type ENGAGE or RELEASE to confirm");
    v1::GovernorKillSwitchRequest req;
    req.set_engage(engage->get<bool>());
    req.set_node_id(r.body.value("node_id", ""));
    req.set_workload(r.body.value("workload", ""));
    req.set_reason(r.body.value("reason", ""));
    TG_ASSIGN_OR_RETURN(auto resp, governor->KillSwitch(who, req));
    return Json{{"sequence", resp.sequence()}, {"ledger_seq", resp.ledger_seq()}};
  }

  static uint64_t Uint(const std::string& text, uint64_t dflt) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return dflt;
    return std::stoull(text);
  }

  absl::StatusOr<Json> LedgerRecords(const Request& r) {
    const ledger::Log& log = governor->ledger();
    const uint64_t size = log.Size();
    const uint64_t from = Uint(r.Query("from"), 0);
    const uint64_t count = std::min<uint64_t>(Uint(r.Query("count"), 50), 200);
    if (from > size) return absl::OutOfRangeError(StrCat("from ", from, " is past the ledger's end (size ", size, ")"));
    Json records = Json::array();
    for (uint64_t seq = from; seq < size && seq < from + count; ++seq) {
      TG_ASSIGN_OR_RETURN(ledger::Record rec, log.Read(seq));
      std::string payload = ledger::EncodePayload(rec.seq, rec.time_ns, rec.kind, rec.prev_hash, rec.fields);
      if (ledger::LeafHash(payload) != rec.hash)
        return absl::DataLossError(StrCat("record ", seq, " does not re-encode to its leaf hash"));
      Json fields = Json::array();
      for (const auto& [k, v] : rec.fields) fields.push_back({k, v});
      records.push_back({{"seq", rec.seq}, {"kind", ledger::KindName(rec.kind)}, {"time_ns", rec.time_ns},
                         {"fields", fields}, {"payload_b64", absl::Base64Escape(payload)}});
    }
    return Json{{"size", size}, {"records", records}};
  }

  absl::StatusOr<Json> LedgerCheckpoint(const Request& r) {
    TG_ASSIGN_OR_RETURN(auto cp, governor->CheckpointCovering(Uint(r.Query("cover"), 0)));
    return Json{{"note", cp.checkpoint()}, {"verifier_key", cp.verifier_key()}};
  }

  absl::StatusOr<Json> LedgerProof(const Request& r) {
    const std::string seq = r.Query("seq"), size = r.Query("size");
    if (Uint(seq, UINT64_MAX) == UINT64_MAX || Uint(size, UINT64_MAX) == UINT64_MAX)
      return absl::InvalidArgumentError("seq and size are required (decimal)");
    TG_ASSIGN_OR_RETURN(auto p, governor->Proof(Uint(seq, 0), Uint(size, 0)));
    Json path = Json::array();
    for (const auto& h : p.audit_path_hex()) {
      auto raw = FromHex(h);
      if (!raw.ok()) return raw.status();
      path.push_back(absl::Base64Escape(std::string(raw->begin(), raw->end())));
    }
    return Json{{"seq", p.seq()}, {"tree_size", p.tree_size()}, {"audit_path_b64", path}};
  }

  // ---- enrollment ----
  // The unused, unexpired enrollment of `token`. Requires mu.
  absl::StatusOr<Enrollment*> OpenEnrollment(const std::string& token) {
    auto it = enrollments.find(HashHex(token));
    if (it == enrollments.end()) return absl::NotFoundError("unknown enrollment link");
    if (it->second.used) return absl::FailedPreconditionError("410 enrollment link already used");
    if (it->second.until_ms < Now()) return absl::FailedPreconditionError("410 enrollment link expired");
    return &it->second;
  }

  absl::StatusOr<Json> EnrollBegin(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string token, Field(r.body, "token", 128));
    TG_ASSIGN_OR_RETURN(std::string challenge, RandomToken(32));
    std::lock_guard l(mu);
    TG_ASSIGN_OR_RETURN(Enrollment * e, OpenEnrollment(token));
    e->challenge = challenge;
    return Json{{"identity", e->identity}, {"challenge", B64u(challenge)}, {"rp_id", rp.id},
                {"rp_name", "taogate"}, {"user_id", B64u(e->user_id)}, {"timeout_ms", kChallengeTtlMs}};
  }

  absl::StatusOr<Json> EnrollFinish(const Request& r) {
    TG_ASSIGN_OR_RETURN(std::string token, Field(r.body, "token", 128));
    TG_ASSIGN_OR_RETURN(std::string cred_id, Bytes(r.body, "credential_id", 1023));
    TG_ASSIGN_OR_RETURN(std::string cdj, Bytes(r.body, "client_data_json"));
    TG_ASSIGN_OR_RETURN(std::string att, Bytes(r.body, "attestation_object", 16384));
    std::string identity, challenge;
    {
      std::lock_guard l(mu);
      TG_ASSIGN_OR_RETURN(Enrollment * e, OpenEnrollment(token));
      if (e->challenge.empty()) return absl::FailedPreconditionError("call enroll/begin first");
      identity = e->identity;
      challenge = e->challenge;
    }
    TG_ASSIGN_OR_RETURN(webauthn::Registration reg, webauthn::VerifyRegistration(rp, challenge, cdj, att));
    if (reg.credential_id != cred_id)
      return absl::InvalidArgumentError("credential_id does not match the attested credential");
    if (FindCredential(reg.credential_id))
      return absl::AlreadyExistsError("this credential is already enrolled");
    {
      std::lock_guard l(mu);
      TG_ASSIGN_OR_RETURN(Enrollment * e, OpenEnrollment(token));  // not spent meanwhile
      e->used = true;
      counters[reg.credential_id] = reg.sign_count;
    }
    const std::string id_b64u = B64u(reg.credential_id), key_b64 = absl::Base64Escape(reg.public_key);
    TG_RETURN_IF_ERROR(governor
                           ->RecordEnrollment(identity, {{"credential_id", id_b64u},
                                                         {"public_key", key_b64},
                                                         {"authenticator_data", B64u(reg.authenticator_data)}})
                           .status());
    log::Info("console: approver enrolled", {{"identity", identity}, {"credential_id", id_b64u}});
    const std::string snippet =
        StrCat("# under actors: - identity: ", identity, "\n", "webauthn_credentials:\n", "  - id: ", id_b64u, "\n",
               "    public_key: ", key_b64, "\n");
    return Json{{"identity", identity}, {"credential_id", id_b64u}, {"public_key_b64", key_b64},
                {"bundle_snippet", snippet}};
  }
};

Console::Console(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Console>> Console::Create(ConsoleConfig config, const Clock* clock) {
  auto impl = std::make_unique<Impl>();
  if (config.origin.empty())
    return absl::InvalidArgumentError("console_origin is required with console_listen (e.g. https://localhost:8443)");
  TG_ASSIGN_OR_RETURN(impl->rp.id, RpIdOf(config.origin));
  impl->rp.origin = config.origin;
  impl->rp.require_user_verification = config.require_user_verification;
  impl->clock = clock != nullptr ? clock : &RealClock();
  // Checked now, so a bad file fails the start, not the first page.
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  const bool ok = ctx != nullptr && UseKeyPair(*ctx, config.tls_cert, config.tls_key);
  SSL_CTX_free(ctx);
  if (!ok)
    return absl::InvalidArgumentError(StrCat("console: cannot use certificate ", config.tls_cert, " with key ",
                                             config.tls_key));
  impl->config = std::move(config);
  return std::unique_ptr<Console>(new Console(std::move(impl)));
}

absl::Status Console::Serve(Governor* governor) {
  Impl& i = *impl_;
  TG_ASSIGN_OR_RETURN(runtime::ListenAddress where, runtime::ParseListen("console_listen", i.config.listen, true));
  if (where.port == 0) return absl::InvalidArgumentError("console_listen needs a fixed port (the origin names it)");
  const std::string cert = i.config.tls_cert, key = i.config.tls_key;
  i.server = std::make_unique<httplib::SSLServer>([cert, key](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    return UseKeyPair(ctx, cert, key);
  });
  if (!i.server->is_valid()) return absl::InvalidArgumentError(StrCat("console: cannot use certificate ", cert));
  i.server->set_payload_max_length(kMaxBody);
  i.server->set_read_timeout(std::chrono::seconds(10));
  i.server->set_write_timeout(std::chrono::seconds(10));
  auto handler = [&i](const httplib::Request& req, httplib::Response& res) { i.Handle(req, res); };
  i.server->Get(R"(/console.*)", handler);
  i.server->Post(R"(/console.*)", handler);
  i.governor = governor;
  if (!i.server->bind_to_port(where.host, where.port))
    return absl::UnavailableError(StrCat("console: cannot serve HTTPS on ", runtime::ListenSpelling(where)));
  i.port = where.port;
  i.thread = std::thread([&i] { i.server->listen_after_bind(); });
  log::Info("console listening", {{"origin", i.config.origin}, {"port", std::to_string(i.port)}});
  return absl::OkStatus();
}

void Console::Stop() {
  if (impl_->server) impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Console::~Console() { Stop(); }

int Console::port() const { return impl_->port; }

std::string Console::MintDecisionLink(const std::string& decision_id, int64_t until_ms) {
  auto token = RandomToken(32);
  if (!token.ok()) return "";
  const std::string t = B64u(*token);
  {
    std::lock_guard l(impl_->mu);
    impl_->Prune(impl_->links, impl_->Now(), kLinkGraceMs);
    if (impl_->links.size() >= kMaxEntries) return "";
    impl_->links[HashHex(t)] = {decision_id, until_ms, false};
  }
  return StrCat(impl_->config.origin, "/console/#/link/", t);
}

absl::StatusOr<std::string> Console::MintEnrollmentLink(const std::string& identity, int64_t* until_ms) {
  TG_ASSIGN_OR_RETURN(std::string token, RandomToken(32));
  TG_ASSIGN_OR_RETURN(std::string user_id, RandomToken(16));
  const std::string t = B64u(token);
  *until_ms = impl_->Now() + impl_->config.enroll_ttl_ms;
  {
    std::lock_guard l(impl_->mu);
    impl_->Prune(impl_->enrollments, impl_->Now(), kLinkGraceMs);
    if (impl_->enrollments.size() >= kMaxEntries) return absl::UnavailableError("too many enrollment links");
    impl_->enrollments[HashHex(t)] = {identity, *until_ms, false, "", user_id};
  }
  return StrCat(impl_->config.origin, "/console/#/enroll/", t);
}

}  // namespace taogate::governance
