#include "apiserver_harness.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace taogate::k8s::testing {
namespace {

namespace fs = std::filesystem;
using taogate::testing::RunCommand;

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv);
  if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
}

void MakeCa(const fs::path& dir, const std::string& name) {
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".crt")).string(),
           "-days", "1", "-subj", "/CN=" + name});
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string HttpAdmin(int port, const std::string& path, const std::string* body) {
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path, out;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->c_str());
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || code != 200) throw std::runtime_error("admin " + path + " failed");
  return out;
}

}  // namespace

TestPki::TestPki(const fs::path& dir) {
  MakeCa(dir, "ca");
  MakeCa(dir, "other-ca");
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-CA", (dir / "ca.crt").string(), "-CAkey", (dir / "ca.key").string(),
           "-keyout", (dir / "server.key").string(), "-out", (dir / "server.crt").string(),
           "-days", "1", "-subj", "/CN=kube-apiserver",
           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
           "-addext", "basicConstraints=critical,CA:FALSE"});
  ca_file = (dir / "ca.crt").string();
  other_ca_file = (dir / "other-ca.crt").string();
  cert_file = (dir / "server.crt").string();
  key_file = (dir / "server.key").string();
}

TestApiServer::TestApiServer(const TestPki& pki, const fs::path& dir, const std::string& token)
    : ca_file_(pki.ca_file), token_file_((dir / "token").string()) {
  WriteToken(token);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  std::string script = std::string(TAOGATE_SOURCE_DIR) + "/tests/k8s/test_apiserver.py";
  std::vector<std::string> args = {TAOGATE_PYTHON3, script, "--cert", pki.cert_file,
                                   "--key", pki.key_file, "--token", token};
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  UniqueFd child_in(in[0]), child_out(out[1]), ready(out[0]);
  stdin_ = UniqueFd(in[1]);
  child_in.Reset();
  child_out.Reset();
  std::string line;
  char ch;
  pollfd p{ready.get(), POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&p, 1, 15000) == 1 &&
         read(ready.get(), &ch, 1) == 1) {
    line += ch;
  }
  if (sscanf(line.c_str(), "READY %d %d", &api_port_, &admin_port_) != 2) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error("test API server did not start: '" + line + "'");
  }
}

TestApiServer::~TestApiServer() {
  stdin_.Reset();  // the server exits on EOF
  if (pid_ > 0) {
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

ClusterConfig TestApiServer::Config() const {
  ClusterConfig c;
  c.server = "https://127.0.0.1:" + std::to_string(api_port_);
  c.ca_file = ca_file_;
  c.token_file = token_file_;
  return c;
}

void TestApiServer::WriteToken(const std::string& token) const {
  // Like kubelet: write aside, rename over.
  std::string tmp = token_file_ + ".tmp";
  taogate::testing::WriteFile(tmp, token + "\n");
  fs::rename(tmp, token_file_);
}

long TestApiServer::Admin(const std::string& cmd, const nlohmann::json& args) {
  std::string body = args.dump();
  return nlohmann::json::parse(HttpAdmin(admin_port_, "/" + cmd, &body))["rv"].get<long>();
}

long TestApiServer::Upsert(const nlohmann::json& object, bool silent, const std::string& resource) {
  return Admin("upsert", {{"resource", resource}, {"object", object}, {"silent", silent}});
}

long TestApiServer::Delete(const std::string& key, bool silent, const std::string& resource) {
  return Admin("delete", {{"resource", resource}, {"key", key}, {"silent", silent}});
}

long TestApiServer::Inject(const std::string& line, const std::string& resource) {
  return Admin("inject", {{"resource", resource}, {"line", line}});
}

long TestApiServer::AcceptTokens(const std::vector<std::string>& tokens) {
  return Admin("tokens", {{"tokens", tokens}});
}

long TestApiServer::Fail(int status, int count, const std::string& resource) {
  return Admin("fail", {{"resource", resource}, {"status", status}, {"count", count}});
}

nlohmann::json TestApiServer::Stats() { return nlohmann::json::parse(HttpAdmin(admin_port_, "/stats", nullptr)); }

nlohmann::json Fixture(const std::string& name) {
  return nlohmann::json::parse(taogate::testing::ReadFile(
      std::string(TAOGATE_SOURCE_DIR) + "/tests/k8s/fixtures/" + name));
}

nlohmann::json FixturePod(const std::string& fixture, const std::string& uid,
                          const std::string& name, const std::string& node) {
  nlohmann::json p = Fixture(fixture);
  p["metadata"]["uid"] = uid;
  p["metadata"]["name"] = name;
  p["spec"]["nodeName"] = node;
  return p;
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace taogate::k8s::testing
