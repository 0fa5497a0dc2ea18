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

// Path of one of our built binaries, e.g. BinPath("taogatectl").
std::string BinPath(std::string_view name);

}  // namespace taogate::testing
