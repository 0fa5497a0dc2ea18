// Shared test helpers: temp dirs, file I/O, running binaries.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace taogate::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::filesystem::path& p);
void WriteFile(const std::filesystem::path& p, std::string_view data);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs argv (argv[0] is a path) with no shell; captures stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv);

// A mounted ConfigMap/Secret as the kubelet writes it, in `dir`: NAME ->
// ..data/NAME, ..data -> a timestamped directory. Write() puts a new
// version in a new directory and renames a new ..data symlink onto the old
// one (the atomic swap a reload must notice without a signal).
class ConfigMapDir {
 public:
  ConfigMapDir(const std::filesystem::path& dir, const std::string& name, const std::string& content);
  void Write(const std::string& content);
  std::string path() const { return (dir_ / name_).string(); }

 private:
  std::filesystem::path dir_;
  std::string name_;
  int generation_ = 0;
};

// Path of one of our built binaries, e.g. BinPath("taogatectl").
std::string BinPath(std::string_view name);

}  // namespace taogate::testing
