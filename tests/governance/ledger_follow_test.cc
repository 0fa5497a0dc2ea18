// taogatectl ledger follow against a real governor over mTLS: every record
// once, in order, across a governor restart; --from-seq resumes exactly;
// past-the-end, malformed and non-admin requests are clear errors.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "governance/governor_testing.h"
#include "taogate/ledger/base64.h"

namespace taogate::governance::testing {
namespace {

using taogate::testing::BinPath;
using taogate::testing::RunCommand;

// A `taogatectl ledger follow` child writing stdout to a file.
class Follower {
 public:
  Follower(const std::vector<std::string>& args, const std::filesystem::path& out) : out_(out) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open((out.string() + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 1);
      dup2(err, 2);
      std::vector<std::string> argv = args;
      argv.insert(argv.begin(), BinPath("taogatectl"));
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
  }
  ~Follower() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::vector<nlohmann::json> Lines() const {
    std::vector<nlohmann::json> out;
    std::string text = taogate::testing::ReadFile(out_);
    text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);  // whole lines
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
    return out;
  }
  // Waits (10 s at most) until `n` lines are printed.
  std::vector<nlohmann::json> WaitLines(size_t n) const {
    for (int i = 0; i < 200 && Lines().size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Lines();
  }
  std::string err() const { return taogate::testing::ReadFile(out_.string() + ".err"); }

 private:
  std::filesystem::path out_;
  pid_t pid_ = -1;
};

class LedgerFollowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gov_.Start()) << gov_.error();
    for (auto [id, name] : {std::pair{kAgent, "agent"}, std::pair{kAdmin, "admin"}}) {
      auto r = RunCommand({BinPath("taogatectl"), "certs", "client", gov_.dir().string(), "--uri", id,
                           "--name", name});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  std::vector<std::string> Follow(const std::string& who, std::vector<std::string> extra) {
    auto d = gov_.dir().string();
    std::vector<std::string> a = {"ledger", "follow", "--poll-ms", "20", "--governor", gov_.address(),
                                  "--ca", d + "/ca.crt", "--cert", d + "/" + who + ".crt",
                                  "--key", d + "/" + who + ".key"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  uint64_t Size() {
    grpc::ClientContext ctx;
    v1::GovernorLedgerReadRequest req;
    req.set_max_records(1);
    v1::GovernorLedgerReadResponse resp;
    EXPECT_TRUE(gov_.Client(kAdmin)->LedgerRead(&ctx, req, &resp).ok());
    return resp.size();
  }
  void Decide(int n) {
    for (int i = 0; i < n; ++i) {
      v1::Decision d;
      ASSERT_TRUE(gov_.Authorize(kAgent, ReadRequest(), &d).ok());
    }
  }
  std::filesystem::path Out() const { return gov_.dir() / "follow.jsonl"; }

  GovernorProcess gov_;
};

TEST_F(LedgerFollowTest, EveryRecordOnceInOrderAcrossAGovernorRestart) {
  Follower f(Follow("admin", {"--from-seq", "0"}), Out());
  Decide(3);
  ASSERT_EQ(f.WaitLines(Size()).size(), Size()) << f.err();
  int port = gov_.port();
  gov_.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the follower retries meanwhile
  ASSERT_TRUE(gov_.Start({"--listen", "127.0.0.1:" + std::to_string(port)})) << gov_.error();
  Decide(2);
  uint64_t size = Size();
  auto lines = f.WaitLines(size);
  gov_.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.Stop();
  auto records = gov_.LedgerRecords();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_GE(records->size(), size);  // the last Stop may append its own record after the follower stopped
  ASSERT_EQ(f.Lines().size(), size) << f.err();
  for (size_t i = 0; i < size; ++i) {
    EXPECT_EQ(lines[i]["seq"], i);
    EXPECT_EQ(lines[i]["kind"], ledger::KindName((*records)[i].kind));
    EXPECT_EQ(lines[i]["hash"], ledger::Base64Encode((*records)[i].hash));
    EXPECT_EQ(lines[i]["prev_hash"], ledger::Base64Encode((*records)[i].prev_hash));
  }
  EXPECT_NE(f.err().find("reconnected"), std::string::npos) << f.err();
}

TEST_F(LedgerFollowTest, FromSeqResumesExactlyAndSeesAppends) {
  Decide(2);
  uint64_t from = Size() - 1;
  Follower f(Follow("admin", {"--from-seq", std::to_string(from)}), Out());
  ASSERT_EQ(f.WaitLines(1).size(), 1u) << f.err();
  Decide(1);
  auto lines = f.WaitLines(Size() - from);
  ASSERT_EQ(lines.size(), Size() - from) << f.err();
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["seq"], from + i);
  EXPECT_EQ(lines.back()["kind"], "ISSUED");
  EXPECT_EQ(lines.back()["fields"]["actor"], kAgent);
}

TEST_F(LedgerFollowTest, WithoutFromSeqOnlyNewRecords) {
  Follower f(Follow("admin", {}), Out());
  // Its first answer finds the end, which it says on stderr.
  for (int i = 0; i < 500 && f.err().find("from seq") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(f.err().find("from seq"), std::string::npos) << f.err();
  uint64_t before = Size();
  EXPECT_NE(f.err().find("from seq " + std::to_string(before) + " "), std::string::npos) << f.err();
  Decide(1);
  auto lines = f.WaitLines(1);
  ASSERT_EQ(lines.size(), 1u) << f.err();
  EXPECT_EQ(lines[0]["seq"], before);
}

TEST_F(LedgerFollowTest, PastTheEndMalformedAndNonAdminAreClearErrors) {
  auto ctl = [](std::vector<std::string> a) {
    a.insert(a.begin(), BinPath("taogatectl"));
    return RunCommand(a);
  };
  auto r = ctl(Follow("admin", {"--from-seq", "100000"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("from_seq 100000 is past the governor ledger's end"), std::string::npos) << r.err;
  r = ctl(Follow("admin", {"--from-seq", "ten"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--from-seq"), std::string::npos) << r.err;
  r = ctl(Follow("admin", {"--from-seq", "-1"}));
  EXPECT_NE(r.exit_code, 0);
  r = ctl(Follow("agent", {"--from-seq", "0"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("only governor admins read the ledger"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taogate::governance::testing
