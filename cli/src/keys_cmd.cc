// taogatectl keys: the TPM root key and trust bundles.
//   keys init    --tcti T [--handle H] [--force] [--expect-key-id HEX] [--trust-bundle-out F]
//   keys show    --tcti T [--handle H]
//   keys bundle-add --trust-bundle F --pem F [--name N] [--not-before-ms] [--not-after-ms] [--software]
//   keys verify  --trust-bundle F [--strict] [--skew-ms N] TAO_FILE
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "taogate/common/hex.h"
#include "taogate/common/strings.h"
#include "taogate/keys/keys_init.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/json.h"

namespace taogate::cli {
namespace {

struct KeysArgs {
  std::string tcti = "device:/dev/tpmrm0";
  std::string handle = "0x81000010";
  bool force = false;
  std::string expect_key_id;
  std::string owner_auth;
  std::string bundle;
  std::string bundle_out;
  std::string pem;
  std::string name;
  int64_t not_before_ms = 0;
  int64_t not_after_ms = INT64_MAX;
  bool software = false;
  bool strict = false;
  int64_t skew_ms = 5000;
  std::string file;
};
KeysArgs& Args() {
  static KeysArgs a;
  return a;
}

bool ReadAll(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool WriteAll(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(data.data(), static_cast<std::streamsize>(data.size()))) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

absl::StatusOr<uint32_t> ParseHandle(const std::string& s) {
  try {
    size_t used = 0;
    unsigned long v = std::stoul(s, &used, 0);
    if (used == s.size() && v <= 0xffffffffUL) return static_cast<uint32_t>(v);
  } catch (...) {
  }
  return absl::InvalidArgumentError(StrCat("bad TPM handle \"", s, "\" (e.g. 0x81000010)"));
}

void PrintKey(const keys::PublicKey& k, uint32_t handle, std::string_view how) {
  char h[16];
  std::snprintf(h, sizeof(h), "0x%08x", handle);
  std::cout << how << " TPM root key at " << h << "\nkey id: " << ToHex(k.key_id())
            << "\npublic key:\n" << k.ToPem();
}

int Init() {
  const KeysArgs& a = Args();
  keys::KeysInitOptions o;
  o.tcti = a.tcti;
  o.force = a.force;
  o.owner_auth = a.owner_auth;
  auto handle = ParseHandle(a.handle);
  if (!handle.ok()) return Fail(std::string(handle.status().message()));
  o.persistent_handle = *handle;
  if (!a.expect_key_id.empty()) {
    auto id = FromHex(a.expect_key_id);
    if (!id.ok() || id->size() != 32) return Fail("--expect-key-id must be 64 hex digits");
    keys::KeyId k;
    std::copy(id->begin(), id->end(), k.begin());
    o.expected_key_id = k;
  }
  auto r = keys::KeysInit(o);
  if (!r.ok()) return Fail(StrCat("keys init: ", r.status().message()));
  PrintKey(r->public_key, r->persistent_handle, r->created ? "created" : "adopted existing");
  if (!a.bundle_out.empty()) {
    std::string name = a.name.empty() ? ToHex(r->public_key.key_id()).substr(0, 16) : a.name;
    std::string json = keys::TrustBundle::ToJson({keys::TrustedRoot{name, r->public_key, a.not_before_ms}});
    if (!WriteAll(a.bundle_out, json)) return Fail(StrCat(a.bundle_out, ": cannot write"));
    std::cout << "trust bundle written to " << a.bundle_out << "\n";
  }
  return 0;
}

int Show() {
  auto handle = ParseHandle(Args().handle);
  if (!handle.ok()) return Fail(std::string(handle.status().message()));
  auto k = keys::ReadRootKey(Args().tcti, *handle);
  if (!k.ok()) return Fail(StrCat("keys show: ", k.status().message()));
  PrintKey(*k, *handle, "existing");
  return 0;
}

int BundleAdd() {
  const KeysArgs& a = Args();
  std::string pem, text;
  if (!ReadAll(a.pem, &pem)) return Fail(StrCat(a.pem, ": cannot open"));
  auto key = keys::PublicKey::FromPem(pem);
  if (!key.ok()) return Fail(StrCat(a.pem, ": ", key.status().message()));
  std::vector<keys::TrustedRoot> roots;
  if (ReadAll(a.bundle, &text)) {
    auto b = keys::TrustBundle::Parse(text);
    if (!b.ok()) return Fail(StrCat(a.bundle, ": ", b.status().message()));
    roots = b->roots();
  }
  std::string name = a.name.empty() ? ToHex(key->key_id()).substr(0, 16) : a.name;
  roots.push_back(keys::TrustedRoot{name, *key, a.not_before_ms, a.not_after_ms, a.software});
  auto check = keys::TrustBundle::FromRoots(roots);
  if (!check.ok()) return Fail(std::string(check.status().message()));
  if (!WriteAll(a.bundle, keys::TrustBundle::ToJson(roots))) return Fail(StrCat(a.bundle, ": cannot write"));
  std::cout << "added root " << name << " (" << ToHex(key->key_id()) << ") to " << a.bundle << "\n";
  return 0;
}

int Verify() {
  const KeysArgs& a = Args();
  auto bundle = keys::TrustBundle::Load(a.bundle);
  if (!bundle.ok()) return Fail(std::string(bundle.status().message()));
  std::string wire;
  if (!ReadAll(a.file, &wire)) return Fail(StrCat(a.file, ": cannot open"));
  auto t = tao::DecodeTao(wire);
  if (!t.ok()) return Fail(StrCat(a.file, ": malformed TAO: ", t.status().message()));
  using namespace std::chrono;
  int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  auto body = bundle->VerifyTao(*t, now, a.skew_ms, a.strict);
  if (!body.ok()) return Fail(StrCat(a.file, ": refused: ", body.status().message()));
  auto issuer = bundle->VerifyCertificate(t->issuer_certificate(), now, a.strict, a.skew_ms);
  std::cout << "OK: TAO verified; issuing key " << ToHex(issuer->issuing_key_id) << " certified by root "
            << issuer->root_name << (issuer->software_mode ? " (SOFTWARE MODE)" : " (TPM)") << "\n"
            << tao::TaoToJson(*t, *body) << "\n";
  return 0;
}

void Register(CLI::App& root) {
  auto* keys = root.add_subcommand("keys", "TPM root key and trust bundles");
  keys->require_subcommand(1);
  KeysArgs& a = Args();
  auto tcti = [&](CLI::App* c) {
    c->add_option("--tcti", a.tcti, "TPM TCTI, e.g. device:/dev/tpmrm0 or swtpm:path=SOCK")
        ->envname("TAOGATE_TCTI")
        ->capture_default_str();
    c->add_option("--handle", a.handle, "persistent handle of the root key")->capture_default_str();
  };
  auto* init = keys->add_subcommand(
      "init", "Create (or adopt) the non-exportable TPM root key; prints its public key and id");
  tcti(init);
  init->add_flag("--force", a.force, "replace whatever is at the handle with a new key");
  init->add_option("--owner-auth", a.owner_auth,
                   "owner hierarchy authorization (prefer the environment variable)")
      ->envname("TAOGATE_TPM_OWNER_AUTH");
  init->add_option("--expect-key-id", a.expect_key_id, "adopt only a key with this id (hex)");
  init->add_option("--trust-bundle-out", a.bundle_out, "also write a trust bundle holding this root");
  init->add_option("--name", a.name, "root name in the bundle");
  init->add_option("--not-before-ms", a.not_before_ms, "root valid from (unix ms) in the bundle");
  init->callback([] { ExitCode() = Init(); });

  auto* show = keys->add_subcommand("show", "Print the TPM root key without changing anything");
  tcti(show);
  show->callback([] { ExitCode() = Show(); });

  auto* add = keys->add_subcommand("bundle-add", "Add a root public key to a trust bundle (root rotation)");
  add->add_option("--trust-bundle", a.bundle, "trust bundle file (created if missing)")->required();
  add->add_option("--pem", a.pem, "root public key PEM file")->required();
  add->add_option("--name", a.name, "root name");
  add->add_option("--not-before-ms", a.not_before_ms, "root vouches for certificates from (unix ms)");
  add->add_option("--not-after-ms", a.not_after_ms, "root retired at (unix ms)");
  add->add_flag("--software", a.software, "development (software) root");
  add->callback([] { ExitCode() = BundleAdd(); });

  auto* verify = keys->add_subcommand("verify", "Verify a TAO's chain to a root in a trust bundle");
  verify->add_option("--trust-bundle", a.bundle, "trust bundle file")->required();
  verify->add_flag("--strict", a.strict, "refuse software-mode roots");
  verify->add_option("--skew-ms", a.skew_ms, "allowed clock skew")->capture_default_str();
  verify->add_option("FILE", a.file, "TAO file (binary Tao encoding)")->required();
  verify->callback([] { ExitCode() = Verify(); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
