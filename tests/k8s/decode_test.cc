// Pod/Namespace decoding from real-shaped fixtures, and the watch wire format:
// every malformed input is an error, never a crash.
#include <gtest/gtest.h>

#include "apiserver_harness.h"
#include "taogate/k8s/objects.h"
#include "taogate/k8s/watch_stream.h"

namespace taogate::k8s {
namespace {

using nlohmann::json;
using testing::Fixture;

absl::StatusCode PodCode(const json& j) { return DecodePod(j).status().code(); }

json Broken(const char* fixture, const json::json_pointer& at, json value) {
  json p = Fixture(fixture);
  p[at] = std::move(value);
  return p;
}

TEST(K8sPodDecodeTest, GuaranteedPodWithInitContainer) {
  auto p = DecodePod(Fixture("pod_guaranteed.json"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->qos_class, "Guaranteed");
  EXPECT_EQ(p->node_name, "node-a");
  EXPECT_EQ(p->service_account, "agent-runner");
  EXPECT_EQ(p->labels.at("taogate.io/governed"), "true");
  ASSERT_EQ(p->containers.size(), 2u);
  EXPECT_EQ(p->containers[0].kind, ContainerKind::kInit);
  EXPECT_EQ(p->containers[0].name, "fetch-model");
  EXPECT_EQ(p->containers[0].id.rfind("containerd://", 0), 0u);
  EXPECT_EQ(p->containers[1].kind, ContainerKind::kRegular);
}

TEST(K8sPodDecodeTest, BurstablePodWithEphemeralContainer) {
  auto p = DecodePod(Fixture("pod_burstable.json"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->qos_class, "Burstable");
  ASSERT_EQ(p->containers.size(), 3u);
  EXPECT_EQ(p->containers[2].kind, ContainerKind::kEphemeral);
  EXPECT_EQ(p->containers[2].name, "debugger-vx8wq");
}

TEST(K8sPodDecodeTest, BestEffortPod) {
  auto p = DecodePod(Fixture("pod_besteffort.json"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->qos_class, "BestEffort");
  EXPECT_EQ(p->phase, "Running");
}

TEST(K8sPodDecodeTest, PendingPodWithoutStatusDecodes) {
  json p = Fixture("pod_besteffort.json");
  p.erase("status");
  auto pod = DecodePod(p);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE(pod->containers.empty());
  EXPECT_EQ(pod->qos_class, "");
}

TEST(K8sPodDecodeTest, MissingUidIsInvalid) {
  json p = Fixture("pod_guaranteed.json");
  p["metadata"].erase("uid");
  EXPECT_EQ(PodCode(p), absl::StatusCode::kInvalidArgument);
}

TEST(K8sPodDecodeTest, WrongTypesAreInvalid) {
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/metadata/uid"_json_pointer, 7)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/metadata/labels"_json_pointer, json::array())),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/metadata/labels/app"_json_pointer, true)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/spec"_json_pointer, "x")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/status/containerStatuses"_json_pointer, 1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(Broken("pod_guaranteed.json", "/status/containerStatuses/0"_json_pointer, 1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodCode(json::array()), absl::StatusCode::kInvalidArgument);
}

TEST(K8sNamespaceDecodeTest, NamespaceFixture) {
  auto n = DecodeNamespace(Fixture("namespace.json"));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->name, "ai-agents");
  EXPECT_EQ(n->labels.at("taogate.io/governed"), "true");
  EXPECT_EQ(DecodeNamespace(json::object()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(K8sWatchEventTest, ParsesEachType) {
  for (const char* t : {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}) {
    auto ev = ParseWatchEvent(json{{"type", t}, {"object", json::object()}}.dump());
    EXPECT_TRUE(ev.ok()) << t;
  }
}

TEST(K8sWatchEventTest, MalformedLinesAreDataLoss) {
  for (const char* line : {"{not json", "[]", "{\"type\":\"ADDED\"}", "{\"object\":{}}",
                           "{\"type\":\"EXPLODED\",\"object\":{}}", "{\"type\":1,\"object\":{}}",
                           "{\"type\":\"ADDED\",\"object\":[]}", "\xff\xfe"}) {
    EXPECT_EQ(ParseWatchEvent(line).status().code(), absl::StatusCode::kDataLoss) << line;
  }
}

TEST(K8sWatchEventTest, GoneStatusCode) {
  EXPECT_EQ(StatusCodeOf(json{{"kind", "Status"}, {"code", 410}}), 410);
  EXPECT_EQ(StatusCodeOf(json{{"code", "410"}}), 0);
  EXPECT_EQ(ResourceVersionOf(json{{"metadata", {{"resourceVersion", 5}}}}), "");
}

std::vector<std::string> Split(LineSplitter& s, std::initializer_list<std::string_view> chunks,
                               absl::Status* last = nullptr) {
  std::vector<std::string> lines;
  for (std::string_view c : chunks) {
    absl::Status st = s.Feed(c, [&](std::string_view l) {
      lines.emplace_back(l);
      return absl::OkStatus();
    });
    if (last) *last = st;
    if (!st.ok()) break;
  }
  return lines;
}

TEST(K8sLineSplitterTest, ReassemblesAcrossChunks) {
  LineSplitter s(100);
  auto lines = Split(s, {"{\"a\":", "1}\n{\"b\"", ":2}\n{\"c\":3}\n\n{\"d\""});
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(s.pending(), 4u);
}

TEST(K8sLineSplitterTest, OversizedLineIsResourceExhausted) {
  LineSplitter s(16);
  absl::Status st;
  Split(s, {"0123456789", "0123456789\n"}, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace taogate::k8s
