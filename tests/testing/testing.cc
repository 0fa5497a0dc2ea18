#include "testing/testing.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "taogate/common/fd.h"

namespace taogate::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/taogate-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

static std::string Drain(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult r;
  TempDir dir;
  auto out_path = dir.path() / "out", err_path = dir.path() / "err";
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  UniqueFd o(open(out_path.c_str(), O_RDONLY)), e(open(err_path.c_str(), O_RDONLY));
  r.out = Drain(o.get());
  r.err = Drain(e.get());
  return r;
}

std::string BinPath(std::string_view name) { return std::string(TAOGATE_BIN_DIR) + "/" + std::string(name); }

ConfigMapDir::ConfigMapDir(const std::filesystem::path& dir, const std::string& name,
                           const std::string& content)
    : dir_(dir), name_(name) {
  std::filesystem::create_directories(dir_);
  Write(content);
  std::filesystem::remove(dir_ / name_);
  std::filesystem::create_symlink(std::filesystem::path("..data") / name_, dir_ / name_);
}

void ConfigMapDir::Write(const std::string& content) {
  const std::string ts = "..2026_12_06_10_00_00." + std::to_string(++generation_);
  std::filesystem::create_directory(dir_ / ts);
  WriteFile(dir_ / ts / name_, content);
  std::filesystem::remove(dir_ / "..data_tmp");
  std::filesystem::create_symlink(ts, dir_ / "..data_tmp");
  std::filesystem::rename(dir_ / "..data_tmp", dir_ / "..data");
}

}  // namespace taogate::testing
