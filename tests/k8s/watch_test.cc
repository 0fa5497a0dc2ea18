// taogate::k8s against a real TLS API server process on loopback: list+watch,
// bookmarks, 410 relists, dropped connections, token rotation, bad events,
// HTTP errors, the node filter and a wrong CA.
#include <gtest/gtest.h>

#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "apiserver_harness.h"
#include "taogate/k8s/node_watch.h"

namespace taogate::k8s {
namespace {

using nlohmann::json;
using testing::Eventually;
using testing::FixturePod;
using testing::TestApiServer;
using testing::TestPki;

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class Recorder : public StoreListener {
 public:
  void OnPodAdded(const Pod& p) override { Add("add " + p.uid); }
  void OnPodUpdated(const Pod&, const Pod& p) override { Add("update " + p.uid); }
  void OnPodDeleted(const Pod& p) override { Add("delete " + p.uid); }
  void OnNamespaceAdded(const Namespace& n) override { Add("add ns " + n.name); }
  void OnNamespaceUpdated(const Namespace&, const Namespace& n) override { Add("update ns " + n.name); }
  void OnNamespaceDeleted(const Namespace& n) override { Add("delete ns " + n.name); }
  void OnSynced(Resource r) override { Add(r == Resource::kPods ? "synced pods" : "synced ns"); }
  bool Saw(const std::string& e) const {
    std::lock_guard<std::mutex> l(mu_);
    return std::find(log_.begin(), log_.end(), e) != log_.end();
  }
  int Count(const std::string& e) const {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(std::count(log_.begin(), log_.end(), e));
  }

 private:
  void Add(std::string e) {
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(std::move(e));
  }
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

class K8sWatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new taogate::testing::TempDir();
    pki_ = new TestPki(pki_dir_->path());
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete pki_dir_;
  }
  void SetUp() override { server_ = std::make_unique<TestApiServer>(*pki_, dir_.path()); }
  void TearDown() override {
    if (watch_) watch_->Stop();
  }

  // Verbs.
  json PodOn(const std::string& uid, const std::string& node = "node-a",
             const std::string& fixture = "pod_burstable.json") {
    return FixturePod(fixture, uid, "pod-" + uid, node);
  }
  void StartWatch(ReflectorOptions o = Fast(), ApiClientOptions c = {}) {
    return StartWatchWith(server_->Config(), o, c);
  }
  void StartWatchWith(const ClusterConfig& cfg, ReflectorOptions o, ApiClientOptions c = {}) {
    client_ = std::make_unique<ApiClient>(cfg, c);
    watch_ = std::make_unique<NodeWatch>(*client_, store_, "node-a", o);
    watch_->Start();
  }
  static ReflectorOptions Fast() {
    ReflectorOptions o;
    o.initial_backoff = absl::Milliseconds(50);
    o.max_backoff = absl::Milliseconds(400);
    return o;
  }
  bool Synced() { return Eventually([&] { return rec_.Saw("synced pods") && rec_.Saw("synced ns"); }); }
  bool Has(const std::string& uid) { return Eventually([&] { return store_.PodByUid(uid).has_value(); }); }
  bool Gone(const std::string& uid) { return Eventually([&] { return !store_.PodByUid(uid).has_value(); }); }
  bool Connected() { return Eventually([&] { return watch_->PodStatus().connected; }); }
  ReflectorStatus Pods() { return watch_->PodStatus(); }
  std::vector<json> Requests(bool watch) {
    std::vector<json> out;
    json stats = server_->Stats();
    for (const json& r : stats["requests"]) {
      if (r["resource"] == "pods" && r["watch"] == watch) out.push_back(r);
    }
    return out;
  }

  static taogate::testing::TempDir* pki_dir_;
  static TestPki* pki_;
  taogate::testing::TempDir dir_;
  std::unique_ptr<TestApiServer> server_;
  Recorder rec_;
  Store store_{"node-a", &rec_};
  std::unique_ptr<ApiClient> client_;
  std::unique_ptr<NodeWatch> watch_;
};
taogate::testing::TempDir* K8sWatchTest::pki_dir_ = nullptr;
TestPki* K8sWatchTest::pki_ = nullptr;

TEST_F(K8sWatchTest, ListThenWatchSeesAddsUpdatesDeletes) {
  server_->Upsert(PodOn("listed", "node-a", "pod_guaranteed.json"));
  server_->Upsert(testing::Fixture("namespace.json"), false, "namespaces");
  StartWatch();
  ASSERT_TRUE(Synced());
  EXPECT_EQ(store_.PodByUid("listed")->qos_class, "Guaranteed");
  EXPECT_TRUE(store_.NamespaceByName("ai-agents").has_value());
  ASSERT_TRUE(Connected());
  server_->Upsert(PodOn("new"));
  ASSERT_TRUE(Has("new"));
  json changed = PodOn("new");
  changed["metadata"]["labels"]["taogate.io/governed"] = "true";
  server_->Upsert(changed);
  ASSERT_TRUE(Eventually([&] { return rec_.Saw("update new"); }));
  server_->Delete("listed");
  ASSERT_TRUE(Gone("listed"));
  // The store changes before the reflector counts the event.
  EXPECT_TRUE(Eventually([&] { return Pods().events == 3u; }));
  EXPECT_EQ(Pods().relists, 0u);
  // The watch asked for what client-go asks for.
  json w = Requests(true).at(0);
  EXPECT_EQ(w["fieldSelector"], "spec.nodeName=node-a");
  EXPECT_EQ(w["allowWatchBookmarks"], "true");
  EXPECT_GE(std::stoi(w["timeoutSeconds"].get<std::string>()), 300);
}

TEST_F(K8sWatchTest, NamespaceLabelChangeIsAnUpdate) {
  server_->Upsert(testing::Fixture("namespace.json"), false, "namespaces");
  StartWatch();
  ASSERT_TRUE(Synced());
  json ns = testing::Fixture("namespace.json");
  ns["metadata"]["labels"].erase("taogate.io/governed");
  server_->Upsert(ns, false, "namespaces");
  ASSERT_TRUE(Eventually([&] { return rec_.Saw("update ns ai-agents"); }));
  EXPECT_FALSE(store_.NamespaceByName("ai-agents")->labels.count("taogate.io/governed"));
}

TEST_F(K8sWatchTest, BookmarkAdvancesResourceVersion) {
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  std::string listed = Pods().resource_version;
  long rv = server_->Upsert(PodOn("other", "node-b"));  // filtered out: no event for us
  server_->Bookmark();
  ASSERT_TRUE(Eventually([&] { return Pods().bookmarks == 1; }));
  EXPECT_NE(Pods().resource_version, listed);
  EXPECT_EQ(Pods().resource_version, std::to_string(rv));
  server_->Drop();  // the next watch starts from the bookmark
  ASSERT_TRUE(Eventually([&] { return Requests(true).size() >= 2; }));
  EXPECT_EQ(Requests(true)[1]["resourceVersion"], std::to_string(rv));
}

TEST_F(K8sWatchTest, GoneEventRelistsAndDeletesVanishedPods) {
  server_->Upsert(PodOn("stays"));
  server_->Upsert(PodOn("vanishes"));
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  server_->Delete("vanishes", /*silent=*/true);  // its event is lost...
  server_->Upsert(PodOn("appears"), /*silent=*/true);
  server_->Compact();  // ...and the watch gets ERROR 410
  ASSERT_TRUE(Gone("vanishes"));
  ASSERT_TRUE(Has("appears"));
  EXPECT_TRUE(store_.PodByUid("stays").has_value());
  // The store changes inside the relist, before the reflector counts it.
  EXPECT_TRUE(Eventually([&] { return Pods().relists == 1u; }));
  EXPECT_TRUE(Eventually([&] { return rec_.Count("synced pods") == 2; }));
  EXPECT_EQ(Pods().relists, 1u);
}

TEST_F(K8sWatchTest, GoneHttpStatusOnWatchRelists) {
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  server_->Fail(410, 1);
  server_->Drop();
  ASSERT_TRUE(Eventually([&] { return Pods().relists == 1; }));
  server_->Upsert(PodOn("after"));
  EXPECT_TRUE(Has("after"));
}

TEST_F(K8sWatchTest, DroppedConnectionReconnectsFromLastVersionAfterBackoff) {
  ReflectorOptions o = Fast();
  o.initial_backoff = absl::Milliseconds(300);
  o.jitter = 0;
  StartWatch(o);
  ASSERT_TRUE(Synced() && Connected());
  server_->Upsert(PodOn("seen"));
  ASSERT_TRUE(Has("seen"));
  std::string rv = Pods().resource_version;
  double dropped_at = MonotonicSeconds();  // the server's clock is CLOCK_MONOTONIC too
  server_->Drop();
  ASSERT_TRUE(Eventually([&] { return Pods().watches == 2 && Pods().connected; }));
  EXPECT_EQ(Pods().relists, 0u);
  EXPECT_GE(Pods().errors, 1u);
  auto watches = Requests(true);
  EXPECT_EQ(watches[1]["resourceVersion"], rv);
  EXPECT_GE(watches[1]["t"].get<double>() - dropped_at, 0.29);  // after the backoff
  server_->Upsert(PodOn("later"));
  EXPECT_TRUE(Has("later"));
}

TEST_F(K8sWatchTest, ServerErrorsBackOffExponentiallyWithCap) {
  ReflectorOptions o;
  o.initial_backoff = absl::Milliseconds(100);
  o.max_backoff = absl::Milliseconds(400);
  o.jitter = 0;
  server_->Fail(503, 4);
  StartWatch(o);
  ASSERT_TRUE(Eventually([&] { return Pods().synced; }));
  auto lists = Requests(false);
  ASSERT_EQ(lists.size(), 5u);
  std::vector<double> gaps;
  for (size_t i = 1; i < lists.size(); ++i) {
    gaps.push_back(lists[i]["t"].get<double>() - lists[i - 1]["t"].get<double>());
  }
  EXPECT_GE(gaps[0], 0.09);
  EXPECT_GE(gaps[1], 0.19);
  EXPECT_GE(gaps[2], 0.39);
  // Capped at 400 ms: the last gap is the previous one again (uncapped it
  // would be 400 ms longer); compared with it, a slow round trip counts once.
  EXPECT_LT(gaps[3], gaps[2] + 0.3);
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "HTTP 503"));
}

TEST_F(K8sWatchTest, ForbiddenIsAClearErrorThenRecovers) {
  server_->Fail(403, 2);
  StartWatch();
  ASSERT_TRUE(Eventually([&] { return Pods().errors >= 1; }));
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "get/list/watch")) << Pods().last_error;
  EXPECT_TRUE(Eventually([&] { return Pods().synced; }));
}

TEST_F(K8sWatchTest, RotatedTokenIsReadWithinThePeriod) {
  ApiClientOptions c;
  c.token_reread = absl::Milliseconds(500);
  StartWatch(Fast(), c);
  ASSERT_TRUE(Synced() && Connected());
  server_->AcceptTokens({"token-1", "token-2"});  // kubelet rotates; both valid for a while
  server_->WriteToken("token-2");
  absl::SleepFor(absl::Milliseconds(700));
  server_->Drop();
  ASSERT_TRUE(Eventually([&] { return Requests(true).back()["token"] == "token-2"; }));
  server_->AcceptTokens({"token-2"});
  server_->Upsert(PodOn("after-rotation"));
  EXPECT_TRUE(Has("after-rotation"));
}

TEST_F(K8sWatchTest, StaleTokenGets401ThenIsReread) {
  ApiClientOptions c;
  c.token_reread = absl::Hours(1);  // only the 401 makes it re-read
  StartWatch(Fast(), c);
  ASSERT_TRUE(Synced() && Connected());
  server_->WriteToken("token-2");
  server_->AcceptTokens({"token-2"});
  server_->Drop();
  ASSERT_TRUE(Eventually([&] { return Pods().watches == 2; }));
  EXPECT_GE(client_->tokens().reads(), 2);
  server_->Upsert(PodOn("after-401"));
  EXPECT_TRUE(Has("after-401"));
  EXPECT_EQ(Pods().relists, 0u);
}

TEST_F(K8sWatchTest, MalformedEventRelistsWithoutLosingTheStore) {
  server_->Upsert(PodOn("kept"));
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  server_->Inject("{\"type\":\"ADDED\",\"object\":{\"metadata\":");
  server_->Inject("\n");
  ASSERT_TRUE(Eventually([&] { return Pods().relists == 1; }));
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "not JSON")) << Pods().last_error;
  EXPECT_TRUE(store_.PodByUid("kept").has_value());
  server_->Upsert(PodOn("next"));
  EXPECT_TRUE(Has("next"));
}

TEST_F(K8sWatchTest, WrongTypedEventRelists) {
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  server_->Inject(R"({"type":"ADDED","object":{"metadata":{"uid":5,"resourceVersion":"9"}}})" "\n");
  ASSERT_TRUE(Eventually([&] { return Pods().relists == 1; }));
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "refused")) << Pods().last_error;
  EXPECT_TRUE(store_.Pods().empty());
}

TEST_F(K8sWatchTest, OversizedEventRelists) {
  ReflectorOptions o = Fast();
  o.max_event_bytes = 4096;
  StartWatch(o);
  ASSERT_TRUE(Synced() && Connected());
  server_->Inject(std::string(10000, 'x') + "\n");
  ASSERT_TRUE(Eventually([&] { return Pods().relists == 1; }));
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "longer than 4096")) << Pods().last_error;
}

TEST_F(K8sWatchTest, PodOfAnotherNodeNeverAppears) {
  server_->Admin("ignore_field_selector", {{"on", true}});  // even if the server misbehaves
  server_->Upsert(PodOn("theirs-listed", "node-b"));
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  server_->Upsert(PodOn("theirs", "node-b"));
  server_->Upsert(PodOn("ours"));
  ASSERT_TRUE(Has("ours"));
  EXPECT_FALSE(store_.PodByUid("theirs").has_value());
  EXPECT_FALSE(store_.PodByUid("theirs-listed").has_value());
  EXPECT_EQ(rec_.Count("add theirs"), 0);
}

TEST_F(K8sWatchTest, WrongCaIsRefused) {
  ClusterConfig cfg = server_->Config();
  cfg.ca_file = pki_->other_ca_file;
  StartWatchWith(cfg, Fast());
  ASSERT_TRUE(Eventually([&] { return Pods().errors >= 2; }));
  EXPECT_FALSE(Pods().synced);
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "certificate")) << Pods().last_error;
  EXPECT_TRUE(server_->Stats()["requests"].empty());  // no HTTP request got through
}

TEST_F(K8sWatchTest, StopIsPromptDuringAnIdleWatch) {
  StartWatch();
  ASSERT_TRUE(Synced() && Connected());
  auto t0 = std::chrono::steady_clock::now();
  watch_->Stop();
  // Both reflectors end on their next 100 ms poll tick, together; waiting for
  // curl's 1 s tick or the next byte would take a second or more.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  EXPECT_FALSE(Pods().connected);
}

TEST_F(K8sWatchTest, ServerEndingWatchesAtOnceIsNoBusyLoop) {
  server_->Admin("short_watch", {{"on", true}});
  StartWatch();
  ASSERT_TRUE(Synced());
  absl::SleepFor(absl::Seconds(1));
  EXPECT_LT(Requests(true).size(), 15u);  // backoff, not thousands of watches
  EXPECT_TRUE(absl::StrContains(Pods().last_error, "very short watch")) << Pods().last_error;
}

TEST_F(K8sWatchTest, InClusterConfigSyncs) {
  std::string server = server_->Config().server;  // https://127.0.0.1:PORT
  InClusterPaths paths{server_->token_file(), pki_->ca_file, "127.0.0.1",
                       server.substr(server.rfind(':') + 1)};
  auto cfg = InClusterConfig(paths);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  server_->Upsert(PodOn("p"));
  StartWatchWith(*cfg, Fast());
  EXPECT_TRUE(Has("p"));
}

TEST_F(K8sWatchTest, KubeconfigWithInlineCaSyncs) {
  std::string ca = absl::Base64Escape(taogate::testing::ReadFile(pki_->ca_file));
  std::string path = (dir_.path() / "kubeconfig").string();
  taogate::testing::WriteFile(path,
      "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
      "clusters: [{name: c, cluster: {server: '" + server_->Config().server +
      "', certificate-authority-data: " + ca + "}}]\n"
      "users: [{name: u, user: {token: token-1}}]\n"
      "contexts: [{name: t, context: {cluster: c, user: u}}]\n");
  auto cfg = KubeconfigConfig(path);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  server_->Upsert(PodOn("p"));
  StartWatchWith(*cfg, Fast());
  EXPECT_TRUE(Has("p"));
}

TEST_F(K8sWatchTest, WatchTimeoutRewatchesWithoutRelist) {
  ReflectorOptions o = Fast();
  o.min_watch_timeout = absl::Seconds(1);  // the server ends each watch after 1-2 s
  StartWatch(o);
  ASSERT_TRUE(Synced());
  ASSERT_TRUE(Eventually([&] { return Pods().watches >= 3; }, std::chrono::seconds(15)));
  EXPECT_EQ(Pods().relists, 0u);
  EXPECT_EQ(Pods().errors, 0u);
}

}  // namespace
}  // namespace taogate::k8s
