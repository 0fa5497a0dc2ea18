// A real TLS API server process for the k8s/ tests (test_apiserver.py) and the
// verbs tests use to drive it: add/modify/delete objects, expire the history
// (410), cut connections, send bookmarks or raw lines, rotate tokens, fail the
// next requests. Loopback only; the process ends with the harness.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "taogate/common/fd.h"
#include "taogate/k8s/config.h"
#include "testing/testing.h"

namespace taogate::k8s::testing {

// A throwaway CA and a server certificate for 127.0.0.1 signed by it, plus a
// second unrelated CA (for the wrong-CA test).
struct TestPki {
  explicit TestPki(const std::filesystem::path& dir);
  std::string ca_file, other_ca_file, cert_file, key_file;
};

class TestApiServer {
 public:
  TestApiServer(const TestPki& pki, const std::filesystem::path& dir,
                const std::string& token = "token-1");
  ~TestApiServer();
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  // In-cluster style config: this server, the test CA, the token file.
  ClusterConfig Config() const;
  const std::string& token_file() const { return token_file_; }
  void WriteToken(const std::string& token) const;

  // Admin verbs (each returns the server's resourceVersion after it).
  long Admin(const std::string& cmd, const nlohmann::json& args = nlohmann::json::object());
  long Upsert(const nlohmann::json& object, bool silent = false, const std::string& resource = "pods");
  long Delete(const std::string& key, bool silent = false, const std::string& resource = "pods");
  long Compact() { return Admin("compact"); }
  long Drop() { return Admin("drop"); }
  long Bookmark() { return Admin("bookmark"); }
  long Inject(const std::string& line, const std::string& resource = "pods");
  long AcceptTokens(const std::vector<std::string>& tokens);
  long Fail(int status, int count, const std::string& resource = "pods");
  nlohmann::json Stats();  // {"rv":N,"requests":[{"resource","watch","resourceVersion","token","t",...}]}

 private:
  pid_t pid_ = -1;
  UniqueFd stdin_;  // closing it ends the server
  int api_port_ = 0;
  int admin_port_ = 0;
  std::string ca_file_;
  std::string token_file_;
};

// A pod from tests/k8s/fixtures/<name> with the given uid, name and node.
nlohmann::json FixturePod(const std::string& fixture, const std::string& uid,
                          const std::string& name, const std::string& node);
nlohmann::json Fixture(const std::string& name);

// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace taogate::k8s::testing
