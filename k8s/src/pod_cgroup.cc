// Parsing is by exact construction: each expected name is built from the root
// and compared whole, so an extra prefix or suffix can never slip through.
#include "taogate/k8s/pod_cgroup.h"

#include <algorithm>
#include <vector>

#include "taogate/common/path.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "split.h"

namespace taogate::k8s {
namespace {

absl::Status Bad(std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("cgroup path '", path, "': ", why));
}

bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

bool ConsumeSuffix(std::string_view* s, std::string_view suffix) {
  if (!s->ends_with(suffix)) return false;
  s->remove_suffix(suffix.size());
  return true;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsHexId(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

// Absolute and normalised; the components after the leading '/'.
absl::StatusOr<std::vector<std::string_view>> Components(std::string_view path) {
  if (path.empty() || path[0] != '/') return Bad(path, "not absolute");
  if (path == "/") return std::vector<std::string_view>{};
  if (!CanonicalComponents(path.substr(1))) return Bad(path, "not normalised");
  return Split(path.substr(1), '/');
}

// `uid` with `sep` in the dash positions, as canonical (dashes).
absl::StatusOr<std::string> Uid(std::string_view text, char sep) {
  std::string uid(text);
  bool separated = uid.size() == 36;
  for (size_t i : {8u, 13u, 18u, 23u}) {
    separated = separated && uid[i] == sep;
    if (separated) uid[i] = '-';
  }
  if (!separated) {
    return absl::InvalidArgumentError(StrCat(
        "pod uid '", text, "' is not 8-4-4-4-12 hex separated by '", std::string(1, sep), "'"));
  }
  TG_RETURN_IF_ERROR(ValidatePodUid(uid));
  return uid;
}

struct Container {
  std::string runtime;
  std::string id;
  bool conmon = false;
};

// A container name directly below a pod. nullopt: not a runtime's name at all.
absl::StatusOr<std::optional<Container>> ParseContainer(CgroupDriver driver,
                                                        std::string_view name) {
  if (driver == CgroupDriver::kSystemd) {
    if (!ConsumeSuffix(&name, ".scope")) return std::nullopt;
  } else if (IsHexId(name)) {
    return Container{"", std::string(name), false};
  }
  // Longest prefix first: "crio-conmon-" before "crio-".
  struct Prefix {
    std::string_view text, runtime;
    bool conmon;
    bool systemd_only;
  };
  static constexpr Prefix kPrefixes[] = {{"cri-containerd-", "cri-containerd", false, true},
                                         {"crio-conmon-", "crio", true, false},
                                         {"crio-", "crio", false, false},
                                         {"docker-", "docker", false, true}};
  for (const Prefix& p : kPrefixes) {
    if (p.systemd_only && driver != CgroupDriver::kSystemd) continue;
    if (!ConsumePrefix(&name, p.text)) continue;
    if (!IsHexId(name)) {
      return absl::InvalidArgumentError(
          StrCat("container cgroup '", p.text, name, "': id is not 64 lowercase hex"));
    }
    return Container{std::string(p.runtime), std::string(name), p.conmon};
  }
  return std::nullopt;
}

struct Names {
  std::string qos_burstable, qos_besteffort;  // level-1 QoS cgroup names
  std::string pod_prefix[3], pod_suffix;      // per QosClass
  char uid_sep;
};

Names NamesFor(const KubepodsRoot& root) {
  if (root.driver() == CgroupDriver::kSystemd) {
    const std::string& p = root.prefix();
    return {StrCat(p, "-burstable.slice"),
            StrCat(p, "-besteffort.slice"),
            {StrCat(p, "-pod"), StrCat(p, "-burstable-pod"),
             StrCat(p, "-besteffort-pod")},
            ".slice",
            '_'};
  }
  return {"burstable", "besteffort", {"pod", "pod", "pod"}, "", '-'};
}

}  // namespace

std::string_view QosClassName(QosClass qos) {
  switch (qos) {
    case QosClass::kGuaranteed: return "Guaranteed";
    case QosClass::kBurstable: return "Burstable";
    case QosClass::kBestEffort: return "BestEffort";
  }
  return "?";
}

absl::Status ValidatePodUid(std::string_view uid) {
  if (IsCanonicalPodUid(uid)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      StrCat("pod uid '", uid, "' is not lowercase 8-4-4-4-12 hex"));
}

absl::StatusOr<KubepodsRoot> KubepodsRoot::Parse(std::string_view path) {
  TG_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Components(path));
  if (parts.empty()) return Bad(path, "the kubepods root cannot be the cgroup2 root");
  KubepodsRoot root;
  root.path_ = std::string(path);
  std::string_view last = parts.back();
  if (ConsumeSuffix(&last, ".slice")) {
    if (last.empty()) return Bad(path, "empty slice name");
    root.driver_ = CgroupDriver::kSystemd;
    root.prefix_ = std::string(last);
  }
  return root;
}

absl::StatusOr<std::optional<PodCgroup>> ParsePodCgroup(const KubepodsRoot& root,
                                                        std::string_view path) {
  TG_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Components(path));
  TG_ASSIGN_OR_RETURN(std::vector<std::string_view> root_parts, Components(root.path()));
  if (parts.size() < root_parts.size() ||
      !std::equal(root_parts.begin(), root_parts.end(), parts.begin())) {
    return Bad(path, StrCat("not under the kubepods root ", root.path()));
  }
  const size_t base = root_parts.size();
  if (parts.size() == base) return std::nullopt;  // the root itself

  const Names names = NamesFor(root);
  PodCgroup out;
  std::string_view level1 = parts[base];
  size_t pod_index = base;
  if (level1 == names.qos_burstable || level1 == names.qos_besteffort) {
    out.qos = level1 == names.qos_burstable ? QosClass::kBurstable : QosClass::kBestEffort;
    if (parts.size() == base + 1) return std::nullopt;  // the QoS cgroup
    pod_index = base + 1;
  } else {
    out.qos = QosClass::kGuaranteed;
  }
  std::string_view pod = parts[pod_index];
  const std::string& prefix = names.pod_prefix[static_cast<int>(out.qos)];
  if (!ConsumePrefix(&pod, prefix) || !ConsumeSuffix(&pod, names.pod_suffix)) {
    return Bad(path, StrCat("'", parts[pod_index], "' is not a ", QosClassName(out.qos),
                                  " pod cgroup"));
  }
  absl::StatusOr<std::string> uid = Uid(pod, names.uid_sep);
  if (!uid.ok()) return Bad(path, std::string(uid.status().message()));
  out.pod_uid = *std::move(uid);
  out.pod_level = static_cast<int>(pod_index - base) + 1;
  out.depth = static_cast<int>(parts.size() - pod_index - 1);
  out.pod_path = root.path();
  for (size_t i = base; i <= pod_index; ++i) out.pod_path += StrCat("/", parts[i]);
  if (out.depth >= 1) {
    absl::StatusOr<std::optional<Container>> c = ParseContainer(root.driver(), parts[pod_index + 1]);
    if (!c.ok()) return Bad(path, std::string(c.status().message()));
    if (c->has_value()) {
      out.runtime = (*c)->runtime;
      out.container_id = (*c)->id;
      out.conmon = (*c)->conmon;
    }
  }
  return out;
}

}  // namespace taogate::k8s
