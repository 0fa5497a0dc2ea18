// YAML -> Bundle. Sections are read in dependency order (definitions first,
// then everything that references them), whatever their order in the file,
// so references can be checked where they are written.
#include "taogate/policies/loader.h"

#include <algorithm>
#include <fstream>
#include <tuple>
#include <set>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "loader_internal.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/k8s/selector.h"
#include "taogate/policies/targets.h"

namespace taogate::policies {

std::string ValidationError::ToString() const {
  return StrCat(file, ":", line, ":", column, ": ", path.empty() ? "(root)" : path, ": ",
                message);
}

namespace internal {
namespace {

// Registers `id` in `table`, reporting a duplicate at `at`.
bool Define(Walker& w, SymbolTable& table, const std::string& id, Index index,
            const YAML::Node& at, std::string_view path, std::string_view kind) {
  if (!table.emplace(id, index).second) {
    w.Error(at, path, StrCat("duplicate ", kind, " '", id, "'"));
    return false;
  }
  return true;
}

bool IsSha256Hex(std::string_view s) { return s.size() == 64 && IsLowerHex(s); }

// A DER SubjectPublicKeyInfo, whole, of an EC key on P-256.
bool IsP256PublicKey(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, long(der.size()));
  if (key == nullptr) return false;
  char group[32] = {0};
  size_t len = 0;
  const bool ok = p == reinterpret_cast<const unsigned char*>(der.data()) + der.size() &&
                  EVP_PKEY_is_a(key, "EC") &&
                  EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
                  std::string_view(group, len) == "prime256v1";
  EVP_PKEY_free(key);
  return ok;
}

// The selectors only a node agent's attestation can satisfy. Each is a
// non-empty list; every element is checked where it is written.
void ReadAttestedSelectors(Walker& w, Fields& sel, const std::string& sp, WorkloadDef& wd) {
  struct Kind {
    const char* key;
    std::vector<std::string>* out;
    size_t max_len;
    bool (*valid)(std::string_view);
    const char* what;
  };
  const Kind kinds[] = {
      {"namespaces", &wd.namespaces, 63, k8s::IsDnsLabel,
       "must be a Kubernetes namespace (DNS-1123 label)"},
      {"service_accounts", &wd.service_accounts, 317,
       [](std::string_view v) {
         return v.find('/') != std::string_view::npos &&
                k8s::ValidateServiceAccountRef(v).ok();
       },
       "must be \"namespace/name\" of a Kubernetes service account"},
      {"exe_paths", &wd.exe_paths, kMaxPathLength,
       [](std::string_view v) { return IsCanonicalPath(v, false); },
       "must be an absolute canonical executable path"},
      {"exe_sha256", &wd.exe_sha256, 64, IsSha256Hex,
       "must be a SHA-256 digest: 64 lowercase hex digits"},
  };
  for (const Kind& k : kinds) {
    auto it = sel.find(k.key);
    if (it == sel.end()) continue;
    std::string kp = Sub(sp, k.key);
    auto v = w.StringSeq(it->second.value, kp, k.max_len, false);
    for (size_t j = 0; v && j < v->size(); ++j) {
      if (!k.valid((*v)[j].first)) w.Error((*v)[j].second, At(kp, j), k.what);
      k.out->push_back((*v)[j].first);
    }
  }
}

}  // namespace

void ReadRoles(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "roles", true);
  if (!seq) return;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("roles", i);
    Fields f;
    // A bad entry with an id is still defined (bundle refused either way) so
    // references to it do not cascade into more errors.
    w.ReadMap((*seq)[i], path, {"id", "description"}, {"id"}, &f);
    if (!f.count("id")) continue;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    if (!id || !Define(w, s.roles, *id, b.roles.size(), f["id"].value, Sub(path, "id"), "role")) {
      continue;
    }
    b.roles.push_back({*id, desc.value_or("")});
  }
}

void ReadActionClasses(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "action_classes", true);
  if (!seq) return;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("action_classes", i);
    Fields f;
    w.ReadMap((*seq)[i], path, {"id", "description", "ttl"}, {"id", "ttl"}, &f);
    if (!f.count("id")) continue;
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    std::optional<uint32_t> ttl;
    if (f.count("ttl")) ttl = w.Duration(f["ttl"].value, Sub(path, "ttl"), kMaxTtlSeconds);
    auto desc = Description(w, f, path);
    // Defined even if the entry is bad, so references to it do not cascade
    // into more errors (the bundle is refused either way).
    if (!id || !Define(w, s.actions, *id, b.action_classes.size(), f["id"].value,
                       Sub(path, "id"), "action class")) {
      continue;
    }
    b.action_classes.push_back({*id, desc.value_or(""), ttl.value_or(1)});
  }
}

void ReadWorkloads(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "workloads", true);
  if (!seq) return;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("workloads", i);
    Fields f;
    if (!w.ReadMap((*seq)[i], path, {"id", "description", "mode", "selectors"}, {"id", "selectors"},
                   &f) &&
        (!f.count("id") || !f.count("selectors"))) {
      continue;
    }
    auto id = w.Id(f["id"].value, Sub(path, "id"));
    auto desc = Description(w, f, path);
    if (id && !Define(w, s.workloads, *id, b.workloads.size(), f["id"].value, Sub(path, "id"),
                      "workload")) {
      continue;
    }
    std::string sp = Sub(path, "selectors");
    Fields sel;
    bool sel_ok = w.ReadMap(f["selectors"].value, sp,
                            {"nodes", "cgroup_paths", "pod_labels", "namespaces",
                             "service_accounts", "exe_paths", "exe_sha256"},
                            {}, &sel);
    WorkloadDef wd;
    // Errors go to the walker; a bad entry is still pushed below.
    if (sel_ok && sel.empty()) {
      w.Error(f["selectors"].value, sp,
              "at least one selector (nodes, cgroup_paths, pod_labels, namespaces, "
              "service_accounts, exe_paths, exe_sha256)");
    }
    ReadAttestedSelectors(w, sel, sp, wd);
    if (auto it = sel.find("nodes"); it != sel.end()) {
      auto v = w.StringSeq(it->second.value, Sub(sp, "nodes"), kMaxIdentityLength, false);
      if (v) for (auto& [name, node] : *v) wd.nodes.push_back(name);
    }
    if (auto it = sel.find("cgroup_paths"); it != sel.end()) {
      std::string cp = Sub(sp, "cgroup_paths");
      auto v = w.StringSeq(it->second.value, cp, kMaxPathLength, false);
      for (size_t j = 0; v && j < v->size(); ++j) {
        if (!IsCanonicalPath((*v)[j].first, true)) {
          w.Error((*v)[j].second, At(cp, j), "must be an absolute canonical cgroup path");
        }
        wd.cgroup_paths.push_back((*v)[j].first);
      }
    }
    if (auto it = sel.find("pod_labels"); it != sel.end()) {
      std::string lp = Sub(sp, "pod_labels");
      const YAML::Node& m = it->second.value;
      if (!m.IsMap() || m.size() == 0) {
        w.Error(m, lp, "must be a non-empty mapping of label: value");
      } else {
        for (auto kv = m.begin(); kv != m.end(); ++kv) {
          const YAML::Node key_node = kv->first, value_node = kv->second;  // copies, see ReadMap
          auto k = w.String(key_node, lp, 317);
          auto v = k ? w.String(value_node, Sub(lp, *k), 63) : std::nullopt;
          if (!k || !v) continue;
          if (!wd.pod_labels.emplace(*k, *v).second) {
            w.Error(key_node, Sub(lp, *k), "duplicate label");
          }
        }
      }
    }
    if (auto it = f.find("mode"); it != f.end()) {
      std::string mp = Sub(path, "mode");
      wd.audit = ReadAuditMode(w, it->second.value, mp).value_or(false);
      if (wd.audit && (!wd.exe_paths.empty() || !wd.exe_sha256.empty())) {
        w.Error(it->second.value, mp,
                "audit mode covers whole workload cgroups; a workload selected by exe_paths or exe_sha256 "
                "cannot be audited (audit a workload of its cgroup_paths or pod selectors)");
      }
    }
    if (id) wd.id = *id;
    // Pushed even if bad (the bundle is refused then) so indices stay aligned.
    b.workloads.push_back(std::move(wd));
  }
}

std::optional<Ed25519PublicKey> ParseApproverKey(Walker& w, const YAML::Node& n,
                                                 std::string_view path) {
  if (n.IsScalar() && n.Scalar().rfind("-----BEGIN", 0) == 0) {
    if (!w.Visit(n, path)) return std::nullopt;
    auto k = crypto::Ed25519PublicKeyFromPem(n.Scalar());
    if (!k.ok()) {
      w.Error(n, path, StrCat("not an Ed25519 public key PEM: ", std::string(k.status().message())));
      return std::nullopt;
    }
    return *k;
  }
  auto s = w.String(n, path, 4096);
  if (!s) return std::nullopt;
  auto bytes = FromHex(*s);
  if (!bytes.ok() || bytes->size() != 32) {
    w.Error(n, path, "must be 64 hex digits (raw Ed25519 public key) or a PEM public key");
    return std::nullopt;
  }
  Ed25519PublicKey k;
  std::copy(bytes->begin(), bytes->end(), k.begin());
  return k;
}

// One webauthn_credentials entry: {id: base64url, public_key: base64 SPKI DER
// of an EC P-256 key}, as `taogatectl approvers enroll` prints it.
std::optional<WebAuthnCredential> ParseWebAuthnCredential(Walker& w, const YAML::Node& n,
                                                          const std::string& path) {
  Fields f;
  if (!w.ReadMap(n, path, {"id", "public_key", "description"}, {"id", "public_key"}, &f)) return std::nullopt;
  auto id = w.String(f["id"].value, Sub(path, "id"), 2048);
  auto key = w.String(f["public_key"].value, Sub(path, "public_key"), 1024);
  if (!id || !key) return std::nullopt;
  WebAuthnCredential c;
  if (!absl::WebSafeBase64Unescape(*id, &c.id) || c.id.empty() || c.id.size() > 1023) {
    w.Error(f["id"].value, Sub(path, "id"), "must be the credential id in base64url (1..1023 bytes)");
    return std::nullopt;
  }
  if (!absl::Base64Unescape(*key, &c.public_key) || !IsP256PublicKey(c.public_key)) {
    w.Error(f["public_key"].value, Sub(path, "public_key"),
            "must be base64 of a DER SubjectPublicKeyInfo of an EC P-256 key (ES256)");
    return std::nullopt;
  }
  return c;
}

std::optional<std::string> Identity(Walker& w, const YAML::Node& n, std::string_view path) {
  auto id = w.String(n, path, kMaxIdentityLength);
  if (!id) return std::nullopt;
  if (id->find(' ') != std::string::npos || *id == "*") {
    w.Error(n, path, "an identity has no spaces and is not \"*\"");
    return std::nullopt;
  }
  return id;
}

void ReadActors(Walker& w, const YAML::Node& n, Bundle& b, Symbols& s) {
  auto seq = w.Seq(n, "actors", true);
  if (!seq) return;
  std::set<Ed25519PublicKey> all_keys;
  std::set<std::string> all_credentials;
  for (size_t i = 0; i < seq->size(); ++i) {
    std::string path = At("actors", i);
    Fields f;
    if (!w.ReadMap((*seq)[i], path,
                   {"identity", "description", "roles", "approver_keys", "webauthn_credentials"},
                   {"identity", "roles"}, &f)) {
      continue;
    }
    auto id = Identity(w, f["identity"].value, Sub(path, "identity"));
    auto desc = Description(w, f, path);
    auto roles = w.Refs(f["roles"].value, Sub(path, "roles"), s.roles, "role", false);
    ActorDef a;
    if (id && !Define(w, s.actors, *id, b.actors.size(), f["identity"].value,
                      Sub(path, "identity"), "actor")) {
      continue;
    }
    bool good = id && desc && roles;
    // An actor's signing credentials, each of one actor only: one key for
    // two actors would let one person count as two approvers.
    auto read_unique = [&](const char* key, auto parse, auto& seen, auto id_of, const char* duplicate,
                           auto& out) {
      auto it = f.find(key);
      if (it == f.end()) return;
      std::string lp = Sub(path, key);
      auto items = w.Seq(it->second.value, lp, false);
      if (!items) good = false;
      for (size_t j = 0; items && j < items->size(); ++j) {
        auto v = parse(w, (*items)[j], At(lp, j));
        if (!v) { good = false; continue; }
        if (!seen.insert(id_of(*v)).second) {
          w.Error((*items)[j], At(lp, j), duplicate);
          good = false;
          continue;
        }
        out.push_back(std::move(*v));
      }
    };
    read_unique("approver_keys", ParseApproverKey, all_keys, [](const Ed25519PublicKey& k) { return k; },
                "approver key already listed (keys are per actor)", a.approver_keys);
    read_unique("webauthn_credentials", ParseWebAuthnCredential, all_credentials,
                [](const WebAuthnCredential& c) { return c.id; },
                "webauthn credential already listed (credentials are per actor)", a.webauthn_credentials);
    if (id) a.identity = *id;
    if (good) a.roles = roles->items;
    else {  // a bad entry never counts as an approver
      a.approver_keys.clear();
      a.webauthn_credentials.clear();
    }
    b.actors.push_back(std::move(a));
  }
}

}  // namespace internal

absl::StatusOr<Bundle> ParseBundle(std::string_view bytes, std::string_view file_name,
                                   std::vector<ValidationError>* errors) {
  internal::Walker w(file_name);
  Bundle b;
  if (bytes.size() > kMaxBundleBytes) {
    w.Error(YAML::Mark(), "", StrCat("bundle larger than ", kMaxBundleBytes, " bytes"));
  } else {
    internal::ReadTopLevel(w, bytes, b);
  }
  if (w.ok()) return b;
  std::stable_sort(w.errors().begin(), w.errors().end(),
                   [](const ValidationError& x, const ValidationError& y) {
                     return std::tie(x.line, x.column) < std::tie(y.line, y.column);
                   });
  std::string msg;
  for (const auto& e : w.errors()) {
    if (!msg.empty()) msg += "\n";
    msg += e.ToString();
  }
  if (errors) errors->insert(errors->end(), w.errors().begin(), w.errors().end());
  return absl::InvalidArgumentError(msg);
}

absl::Status ReadBundleFile(const std::string& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open"));
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxBundleBytes) {
      return absl::InvalidArgumentError(StrCat(path, ": larger than ", kMaxBundleBytes, " bytes"));
    }
  }
  if (in.bad()) return absl::DataLossError(StrCat(path, ": read error"));
  *bytes = std::move(data);
  return absl::OkStatus();
}

}  // namespace taogate::policies
