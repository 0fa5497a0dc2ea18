// Protected-target validation and the targets cache file (format in
// target_sync.h).
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "taogate/agent/audit_workloads.h"
#include "taogate/agent/node_addresses.h"
#include "taogate/agent/hold_rules.h"
#include "taogate/agent/target_sync.h"
#include "taogate/common/crypto.h"
#include "taogate/common/status.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

constexpr char kMagic[8] = {'T', 'G', 'T', 'A', 'R', 'G', 'S', '1'};
constexpr size_t kHeader = 8 + 4 + 32;

absl::Status Bad(int i, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("targets[", i, "]: ", why));
}

bool Printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

absl::Status ValidateProtectedTargets(const v1::ProtectedTargets& msg) {
  const std::string& sha = msg.policy_sha256();
  if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)
    return absl::InvalidArgumentError("policy_sha256 must be 64 lowercase hex digits");
  if (static_cast<size_t>(msg.targets_size()) > kMaxProtectedTargets)
    return absl::InvalidArgumentError(StrCat("too many targets: ", msg.targets_size()));
  for (int i = 0; i < msg.targets_size(); ++i) {
    const v1::ProtectedTarget& t = msg.targets(i);
    if (t.name().size() > 256 || !Printable(t.name())) return Bad(i, "bad name");
    switch (t.proto()) {
      case v1::TARGET_PROTO_TCP:
      case v1::TARGET_PROTO_UDP: {
        if (!t.path().empty()) return Bad(i, "a network target has no path");
        // cidr "node": every address of the receiving node (node_addresses.h).
        if (auto n = target::FromProto(t); !n.ok()) return Bad(i, std::string(n.status().message()));
        break;
      }
      case v1::TARGET_PROTO_UNIX:
      case v1::TARGET_PROTO_FILE:
      case v1::TARGET_PROTO_EXEC: {
        const std::string& p = t.path();
        if (!t.cidr().empty() || t.port_from() != 0 || t.port_to() != 0)
          return Bad(i, "a path target has no cidr or ports");
        if (p.empty() || p[0] != '/') return Bad(i, "path must be absolute");
        if (p.find('\0') != std::string::npos || !Printable(p)) return Bad(i, "path has control characters");
        if (p.size() > (t.proto() == v1::TARGET_PROTO_UNIX ? target::kMaxUnixPath : target::kMaxPathLength))
          return Bad(i, "path too long");
        // Kill-on-open/exec and the LSM have no audit mode (docs/audit-mode.md).
        if (t.audit() && t.proto() != v1::TARGET_PROTO_UNIX) return Bad(i, "file/exec targets cannot be audited");
        break;
      }
      default:
        return Bad(i, StrCat("unknown proto ", static_cast<int>(t.proto())));
    }
  }
  TG_RETURN_IF_ERROR(ValidateHoldRules(msg));
  return ValidateAuditWorkloads(msg);
}

namespace {

// The framing both caches share (target_sync.h): magic, u32 length,
// SHA-256, payload; written as temp + fsync + rename + fsync(dir).
absl::StatusOr<std::string> ReadFramed(const std::string& path, const char (&magic)[8], std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0) return absl::NotFoundError(StrCat("no ", what, " ", path));
    return absl::DataLossError(StrCat(what, " ", path, " cannot be read"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  auto corrupt = [&](std::string_view why) {
    return absl::DataLossError(StrCat(what, " ", path, " is corrupt: ", why));
  };
  if (data.size() < kHeader) return corrupt("short header");
  if (std::memcmp(data.data(), magic, 8) != 0) return corrupt("bad magic");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(data[8 + i])) << (8 * i);
  if (n > kMaxCachePayload) return corrupt("payload length too large");
  if (data.size() != kHeader + n) return corrupt("length mismatch");
  std::string payload = data.substr(kHeader);
  crypto::Sha256Digest d = crypto::Sha256(payload);
  if (std::memcmp(d.data(), data.data() + 12, 32) != 0) return corrupt("checksum mismatch");
  return payload;
}

absl::Status WriteFramed(const std::string& path, const char (&magic)[8], const std::string& payload,
                         std::string_view what) {
  if (payload.size() > kMaxCachePayload) return absl::InvalidArgumentError(StrCat(what, ": too large"));
  std::string data(magic, 8);
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) data.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  crypto::Sha256Digest d = crypto::Sha256(payload);
  data.append(reinterpret_cast<const char*>(d.data()), d.size());
  data += payload;

  const std::string tmp = path + ".tmp";
  auto fail = [&](const char* op) {
    int e = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(StrCat(what, " ", path, ": ", op, ": ", strerror(e)));
  };
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return fail("open");
    for (size_t off = 0; off < data.size();) {
      ssize_t w = write(fd.get(), data.data() + off, data.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return fail("write");
      off += static_cast<size_t>(w);
    }
    if (fsync(fd.get()) != 0) return fail("fsync");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // The rename is done; a lost directory fsync can at worst bring back the
  // previous cache after a crash, which the next update replaces.
  if (dfd.valid()) (void)fsync(dfd.get());
  return absl::OkStatus();
}

constexpr char kNamesMagic[8] = {'T', 'G', 'N', 'A', 'M', 'E', 'S', '1'};

}  // namespace

absl::StatusOr<v1::ProtectedTargets> LoadTargetsCache(const std::string& path) {
  auto payload = ReadFramed(path, kMagic, "targets cache");
  if (!payload.ok()) return payload.status();
  auto corrupt = [&](std::string_view why) {
    return absl::DataLossError(StrCat("targets cache ", path, " is corrupt: ", why));
  };
  v1::ProtectedTargets msg;
  if (!msg.ParseFromString(*payload)) return corrupt("bad protobuf");
  if (auto st = ValidateProtectedTargets(msg); !st.ok()) return corrupt(std::string(st.message()));
  return msg;
}

absl::Status SaveTargetsCache(const std::string& path, const v1::ProtectedTargets& msg) {
  std::string payload;
  if (!msg.SerializeToString(&payload)) return absl::InvalidArgumentError("targets cache: cannot serialize");
  return WriteFramed(path, kMagic, payload, "targets cache");
}

absl::StatusOr<NameAddressMap> LoadNamesCache(const std::string& path) {
  auto payload = ReadFramed(path, kNamesMagic, "names cache");
  if (!payload.ok()) return payload.status();
  NameAddressMap out;
  std::string_view rest = *payload;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    size_t sp = line.find(' ');
    std::string name(line.substr(0, sp));
    auto corrupt = [&](std::string_view why) {
      return absl::DataLossError(StrCat("names cache ", path, " is corrupt: ", name, ": ", why));
    };
    if (sp == std::string_view::npos) return corrupt("no addresses");
    if (auto st = target::CheckCanonicalHostName(name); !st.ok()) return corrupt(std::string(st.message()));
    std::vector<target::Ip>& addrs = out[name];
    std::string_view list = line.substr(sp + 1);
    while (!list.empty()) {
      size_t comma = list.find(',');
      auto ip = target::ParseIp(list.substr(0, comma));
      if (!ip.ok()) return corrupt(std::string(ip.status().message()));
      addrs.push_back(*ip);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    if (addrs.empty()) return corrupt("no addresses");
  }
  return out;
}

absl::Status SaveNamesCache(const std::string& path, const NameAddressMap& names) {
  std::string payload;
  for (const auto& [name, addrs] : names) {
    if (addrs.empty()) continue;
    payload += name;
    for (size_t i = 0; i < addrs.size(); ++i) payload += (i == 0 ? " " : ",") + target::FormatIp(addrs[i]);
    payload += "\n";
  }
  return WriteFramed(path, kNamesMagic, payload, "names cache");
}

}  // namespace taogate::agent
