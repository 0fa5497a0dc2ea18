#include "testing/postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "testing/testing.h"

namespace taogate::testing {
namespace {

// The newest installed server: /usr/lib/postgresql/<version>/bin.
std::string FindBin() {
  std::string best;
  int best_v = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int v = std::atoi(e.path().filename().c_str());
    if (v > best_v && std::filesystem::exists(e.path() / "bin" / "postgres")) {
      best_v = v;
      best = (e.path() / "bin").string();
    }
  }
  return best;
}

int FreePort() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

std::string Tail(const std::string& path) {
  std::string s = ReadFile(path);
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Create(Options options) {
  std::unique_ptr<PostgresServer> p(new PostgresServer());
  p->options_ = options;
  p->bin_ = FindBin();
  if (p->bin_.empty()) return absl::UnavailableError("no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)");
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) return absl::UnavailableError("running as root and there is no `postgres` user to run the server as");
    p->drop_ = true;
    p->uid_ = pw->pw_uid;
    p->gid_ = pw->pw_gid;
  }
  const char* tmp = getenv("TMPDIR");
  std::string tmpl = StrCat(tmp && *tmp ? tmp : "/tmp", "/taogate-test-pg-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return absl::UnavailableError("mkdtemp failed");
  p->root_ = tmpl;
  p->data_ = p->root_ + "/data";
  chmod(p->root_.c_str(), 0755);
  if (p->drop_ && chown(p->root_.c_str(), p->uid_, p->gid_) != 0)
    return absl::UnavailableError("chown of the test directory failed");
  // initdb: trust for the superuser `taogate` on loopback and the socket.
  pid_t pid = fork();
  if (pid == 0) {
    int log = open((p->root_ + "/initdb.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    if (p->drop_ && (setgroups(0, nullptr) != 0 || setgid(p->gid_) != 0 || setuid(p->uid_) != 0)) _exit(126);
    std::string initdb = p->bin_ + "/initdb";
    execl(initdb.c_str(), initdb.c_str(), "-D", p->data_.c_str(), "-U", "taogate", "-A", "trust", "-E", "UTF8",
          "--locale=C", "--no-sync", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return absl::InternalError(StrCat("initdb failed: ", Tail(p->root_ + "/initdb.log")));
  p->port_ = FreePort();
  TG_RETURN_IF_ERROR(p->Start());
  return p;
}

absl::Status PostgresServer::Start() {
  if (pid_ > 0) return absl::OkStatus();
  const std::string log = root_ + "/postgres.log";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (drop_ && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) _exit(126);
    std::string postgres = bin_ + "/postgres", port = std::to_string(port_);
    std::string fsync = StrCat("fsync=", options_.fsync ? "on" : "off");
    execl(postgres.c_str(), postgres.c_str(), "-D", data_.c_str(), "-p", port.c_str(), "-k", root_.c_str(), "-c",
          "listen_addresses=127.0.0.1", "-c", fsync.c_str(), "-c", "max_connections=200", "-c",
          "shared_buffers=32MB", static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (PQping(ConnInfo().c_str()) == PQPING_OK) return absl::OkStatus();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(StrCat("postgres exited at start: ", Tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(StrCat("postgres not ready after 60 s: ", Tail(log)));
}

absl::Status PostgresServer::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGINT);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return absl::OkStatus();
}

void PostgresServer::Crash() {
  if (pid_ <= 0) return;
  kill(pid_, SIGQUIT);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

PostgresServer::~PostgresServer() {
  (void)Stop();
  std::error_code ec;
  if (!root_.empty()) std::filesystem::remove_all(root_, ec);
}

std::string PostgresServer::ConnInfo(const std::string& dbname) const {
  return StrCat("host=127.0.0.1 port=", port_, " user=taogate dbname=", dbname, " connect_timeout=5");
}

absl::StatusOr<std::string> PostgresServer::Query(const std::string& dbname, const std::string& sql) {
  PGconn* c = PQconnectdb(ConnInfo(dbname).c_str());
  std::string out;
  absl::Status st;
  if (PQstatus(c) != CONNECTION_OK) {
    st = absl::UnavailableError(PQerrorMessage(c));
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
      st = absl::InternalError(StrCat(sql, ": ", PQresultErrorMessage(r)));
    else if (s == PGRES_TUPLES_OK && PQntuples(r) > 0)
      out = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  PQfinish(c);
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  TG_RETURN_IF_ERROR(Query("postgres", StrCat("CREATE DATABASE ", name)).status());
  return ConnInfo(name);
}

}  // namespace taogate::testing
