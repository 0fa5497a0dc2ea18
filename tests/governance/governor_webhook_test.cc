// Notifications to people (issue 19, item 1): a real taogate-governor POSTs
// to a webhook receiver this test runs on loopback. What a receiver must be
// able to rely on: the decision's intent in the body, a signature it can
// check, retries that end, order kept, and a dead receiver never holding up
// a decision.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "governance/governor_testing.h"
#include "taogate/common/hex.h"
#include "taogate/governance/notifier.h"
#include "taogate/governance/server.h"

namespace taogate::governance::testing {
namespace {

// A webhook receiver: HTTP/1.1 on 127.0.0.1, one request per connection,
// answering with the scripted status codes (then 200), or never ("stall").
class Receiver {
 public:
  struct Request {
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
  };
  Receiver() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "receiver: " << strerror(errno);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Receiver() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void Script(std::deque<int> codes) {
    std::lock_guard l(mu_);
    codes_ = std::move(codes);
  }
  void Stall() {
    std::lock_guard l(mu_);
    stall_ = true;
  }
  // Waits (up to 20 s) until `n` requests arrived; returns all so far.
  std::vector<Request> WaitFor(size_t n) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, std::chrono::seconds(20), [&] { return requests_.size() >= n; });
    return requests_;
  }
  size_t count() {
    std::lock_guard l(mu_);
    return requests_.size();
  }

 private:
  void Loop() {
    while (true) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        std::lock_guard l(mu_);
        if (stop_) return;
        continue;
      }
      Handle(c);
    }
  }
  void Handle(int c) {
    std::string in;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t want = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          auto cl = Lower(in.substr(0, header_end)).find("content-length:");
          want = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 15));
        }
      }
      if (header_end != std::string::npos && in.size() >= header_end + 4 + want) break;
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, n);
    }
    Request r;
    if (header_end != std::string::npos) {
      std::string head = in.substr(0, header_end);
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        if (auto colon = line.find(':'); colon != std::string::npos)
          r.headers[Lower(line.substr(0, colon))] = line.substr(line.find_first_not_of(' ', colon + 1));
        pos = next;
      }
      r.body = in.substr(header_end + 4, want);
    }
    int code = 200;
    bool stall = false;
    {
      std::lock_guard l(mu_);
      requests_.push_back(r);
      stall = stall_;
      if (!codes_.empty()) {
        code = codes_.front();
        codes_.pop_front();
      }
    }
    cv_.notify_all();
    if (stall) {  // keep the connection open, answer nothing, until the test ends
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stop_; });
    } else {
      std::string resp = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!write(c, resp.data(), resp.size());
    }
    close(c);
  }
  static std::string Lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  std::deque<int> codes_;
  bool stall_ = false;
  bool stop_ = false;
};

std::string HmacHex(const std::string& key, const std::string& msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), len));
}

class GovernorWebhookTest : public ::testing::Test {
 protected:
  static constexpr char kSecret[] = "receiver-shared-secret";
  // Starts the governor with one webhook (`format`) to the receiver.
  void Start(const std::string& format = "json") {
    std::string secret_file = dir_.path().string() + "/secret";
    std::ofstream(secret_file) << kSecret << "\n";
    config_ = dir_.path().string() + "/governor.yaml";
    std::ofstream(config_) << "webhooks:\n"
                           << "  - name: security\n"
                           << "    url: " << receiver_.url() << "\n"
                           << "    format: " << format << "\n"
                           << "    secret_file: " << secret_file << "\n"
                           << "webhook_max_attempts: 3\n"
                           << "webhook_first_backoff_ms: 50\n";
    ASSERT_TRUE(gov_.Start({"--config", config_})) << gov_.error();
  }
  v1::Decision Pending() {
    v1::Decision d;
    auto s = gov_.Authorize(kWriter, WriteRequest(), &d);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(d.outcome(), v1::OUTCOME_PENDING_APPROVAL);
    return d;
  }
  std::string Metric(const std::string& outcome) {
    std::string m = taogate::testing::HttpGet(gov_.MetricsPort(), "/metrics");
    std::string key = "taogate_governor_webhook_deliveries_total{webhook=\"security\",outcome=\"" + outcome + "\"} ";
    auto at = m.find(key);
    if (at == std::string::npos) return "absent";
    return m.substr(at + key.size(), m.find('\n', at) - at - key.size());
  }
  // Polls /metrics until `outcome` reads `want` (deliveries are asynchronous).
  bool MetricBecomes(const std::string& outcome, const std::string& want) {
    for (int i = 0; i < 200; ++i) {
      if (Metric(outcome) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  taogate::testing::TempDir dir_;
  Receiver receiver_;
  GovernorProcess gov_;
  std::string config_;
};

TEST_F(GovernorWebhookTest, PendingApprovalIsPostedWithTheIntentAndAVerifiableSignature) {
  Start();
  v1::Decision d = Pending();
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got[0];
  EXPECT_EQ(r.headers.at("x-taogate-event"), "pending_approval");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  // The receiver checks the signature over timestamp "." body.
  const std::string ts = r.headers.at("x-taogate-timestamp");
  EXPECT_EQ(r.headers.at("x-taogate-signature"), "sha256=" + HmacHex(kSecret, ts + "." + r.body));
  EXPECT_NE(r.headers.at("x-taogate-signature"), "sha256=" + HmacHex("another secret", ts + "." + r.body));
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["event"], "pending_approval");
  EXPECT_EQ(j["decision_id"], d.decision_id());
  EXPECT_EQ(j["requester"], kWriter);
  EXPECT_EQ(j["action"], "db.write");
  EXPECT_EQ(j["approvals_needed"], std::to_string(d.approvals_needed()));
  EXPECT_EQ(j["intent_sha256"], ToHex(d.intent_sha256()));
  EXPECT_EQ(j["rule"], d.rule());
  EXPECT_EQ(j["reason"], "refund ticket 77") << "the sanitized summary, as in the ledger";
  EXPECT_FALSE(j["target"].get<std::string>().empty());
  EXPECT_NE(j["approve_with"].get<std::string>().find(d.decision_id()), std::string::npos);
  EXPECT_TRUE(MetricBecomes("delivered", "1"));
}

TEST_F(GovernorWebhookTest, SlackBodyEscapesWhatARequesterWrote) {
  Start("slack");
  v1::AuthorizationRequest req = WriteRequest();
  req.set_reason("<https://evil.example|click to approve> & <!channel>");
  v1::Decision d;
  ASSERT_TRUE(gov_.Authorize(kWriter, req, &d).ok());
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  auto j = nlohmann::json::parse(got[0].body);
  const std::string text = j["text"];
  EXPECT_NE(text.find(d.decision_id()), std::string::npos) << text;
  // No Slack control sequence survives: every < > & arrives escaped.
  EXPECT_EQ(text.find("<!channel>"), std::string::npos) << text;
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_NE(text.find("&amp;"), std::string::npos) << text;
}

TEST_F(GovernorWebhookTest, ServerErrorsAreRetriedInOrderUntilDelivered) {
  receiver_.Script({503, 500});
  Start();
  v1::Decision first = Pending();
  v1::Decision second = Pending();
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  // The first notification is tried three times before the second is sent.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(nlohmann::json::parse(got[i].body)["decision_id"], first.decision_id()) << i;
  EXPECT_EQ(nlohmann::json::parse(got[3].body)["decision_id"], second.decision_id());
  EXPECT_TRUE(MetricBecomes("delivered", "2"));
  EXPECT_EQ(Metric("retried"), "2");
  EXPECT_EQ(Metric("failed"), "0");
}

TEST_F(GovernorWebhookTest, ClientErrorIsNotRetriedAndRetriesEnd) {
  receiver_.Script({400, 503, 503, 503});
  Start();
  Pending();  // 400: failed at once
  Pending();  // 503 three times: failed after webhook_max_attempts
  EXPECT_TRUE(MetricBecomes("failed", "2"));
  EXPECT_EQ(receiver_.count(), 4u);
  EXPECT_EQ(Metric("retried"), "2");
  EXPECT_EQ(Metric("delivered"), "0");
}

// Were delivery synchronous, each decision would wait for the stalled
// receiver (5 s per attempt, 3 attempts) and miss Authorize's 10 s deadline.
TEST_F(GovernorWebhookTest, StalledReceiverNeverHoldsUpADecision) {
  receiver_.Stall();
  Start();
  for (int i = 0; i < 3; ++i) Pending();
  EXPECT_GE(receiver_.WaitFor(1).size(), 1u);
}

TEST_F(GovernorWebhookTest, KillSwitchChangesAndBreakGlassAreNotifiedInOrder) {
  Start();
  for (bool engage : {true, false}) {
    v1::GovernorKillSwitchRequest k;
    k.set_engage(engage);
    k.set_workload("test");
    k.set_reason("suspected prompt injection");
    v1::GovernorKillSwitchResponse kr;
    grpc::ClientContext c;
    ASSERT_TRUE(gov_.Client(kAdmin)->KillSwitch(&c, k, &kr).ok());
  }
  v1::BreakGlassRequest b;
  *b.mutable_binding() = WriteRequest().binding();
  b.set_cgroup_path("/taogate/test");
  b.set_action_class("db.write");
  *b.mutable_target() = WriteRequest().target();
  b.set_incident_id("INC-42");
  b.set_justification("orders primary is corrupt, manual fix");
  b.set_ttl_seconds(120);
  v1::Decision out;
  grpc::ClientContext c;
  ASSERT_TRUE(gov_.Client(kCarol)->BreakGlass(&c, b, &out).ok());

  auto got = receiver_.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  auto engage = nlohmann::json::parse(got[0].body);
  auto release = nlohmann::json::parse(got[1].body);
  auto glass = nlohmann::json::parse(got[2].body);
  EXPECT_EQ(engage["event"], "kill_switch");
  EXPECT_EQ(engage["verdict"], "engage");
  EXPECT_EQ(engage["workload"], "test");
  EXPECT_EQ(engage["actor"], kAdmin);
  EXPECT_EQ(release["verdict"], "release");
  EXPECT_EQ(glass["event"], "break_glass");
  EXPECT_EQ(glass["decision_id"], out.decision_id());
  EXPECT_EQ(glass["requester"], kCarol);
  EXPECT_EQ(glass["incident"], "INC-42");
  EXPECT_EQ(got[2].headers.at("x-taogate-event"), "break_glass");
}

// Configuration: what an operator could get wrong is refused with the line.
class WebhookConfigTest : public ::testing::Test {
 protected:
  absl::Status Load(const std::string& yaml) {
    std::string path = dir_.path().string() + "/g.yaml";
    std::ofstream(path) << yaml;
    ServerConfig c;
    return LoadServerConfigYaml(path, &c);
  }
  taogate::testing::TempDir dir_;
};

TEST_F(WebhookConfigTest, PlainHttpOnlyToLoopback) {
  EXPECT_TRUE(Load("webhooks:\n  - {name: a, url: 'http://127.0.0.1:9/x'}\n").ok());
  EXPECT_TRUE(Load("webhooks:\n  - {name: a, url: 'https://hooks.example.com/x', format: slack}\n").ok());
  auto st = Load("webhooks:\n  - {name: a, url: 'http://hooks.example.com/x'}\n");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("https://"), std::string::npos) << st;
  EXPECT_NE(st.message().find(":2:"), std::string::npos) << st;
  EXPECT_TRUE(Load("webhooks:\n  - {name: a, url: 'http://[::1]:9/x'}\n").ok());
  EXPECT_TRUE(Load("webhooks:\n  - {name: a, url: 'http://localhost:9/x'}\n").ok());
  // A name that only looks like a loopback address is a remote host.
  EXPECT_FALSE(Load("webhooks:\n  - {name: a, url: 'http://127.attacker.example/x'}\n").ok());
  EXPECT_FALSE(Load("webhooks:\n  - {name: a, url: 'ftp://127.0.0.1/x'}\n").ok());
  EXPECT_FALSE(Load("webhooks:\n  - {name: a, url: 'not a url'}\n").ok());
}

TEST_F(WebhookConfigTest, CredentialsInTheUrlUnknownFormatsAndKeysAreRefused) {
  auto st = Load("webhooks:\n  - {name: a, url: 'https://u:p@hooks.example.com/x'}\n");
  EXPECT_NE(st.message().find("secret_file"), std::string::npos) << st;
  st = Load("webhooks:\n  - {name: a, url: 'https://h.example.com/x', format: xml}\n");
  EXPECT_NE(st.message().find("xml"), std::string::npos) << st;
  st = Load("webhooks:\n  - {name: a, url: 'https://h.example.com/x', retries: 3}\n");
  EXPECT_NE(st.message().find("unknown key 'retries'"), std::string::npos) << st;
  st = Load("webhooks:\n  - {name: 'Bad Name', url: 'https://h.example.com/x'}\n");
  EXPECT_FALSE(st.ok());
  st = Load("webhook_max_attempts: 0\n");
  EXPECT_FALSE(st.ok());
}

TEST_F(WebhookConfigTest, SecretAndUrlFilesAreReadAndAMissingOneIsNamed) {
  std::ofstream(dir_.path().string() + "/url") << "https://hooks.example.com/services/T0/B0/XYZ\n";
  std::ofstream(dir_.path().string() + "/secret") << "s3cret\n";
  std::string path = dir_.path().string() + "/g.yaml";
  std::ofstream(path) << "webhooks:\n  - name: slack\n    url_file: " << dir_.path().string() << "/url\n    secret_file: "
                      << dir_.path().string() << "/secret\n    format: slack\n";
  ServerConfig c;
  ASSERT_TRUE(LoadServerConfigYaml(path, &c).ok());
  ASSERT_EQ(c.webhooks.size(), 1u);
  EXPECT_EQ(c.webhooks[0].url, "https://hooks.example.com/services/T0/B0/XYZ");
  EXPECT_EQ(c.webhooks[0].secret, "s3cret");
  auto st = Load("webhooks:\n  - {name: a, url: 'https://h.example.com/x', secret_file: /nonexistent/s}\n");
  EXPECT_NE(st.message().find("/nonexistent/s"), std::string::npos) << st;
}

TEST(WebhookNotifierTest, TwoWebhooksWithOneNameAreRefused) {
  WebhookConfig a, b;
  a.name = b.name = "a";
  a.url = "https://a.example.com";
  b.url = "https://b.example.com";
  auto n = WebhookNotifier::Create("g", {a, b});
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taogate::governance::testing
