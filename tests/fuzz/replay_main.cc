// Without libFuzzer (gcc builds), each fuzz target links this driver instead:
// it replays every file given on the command line (or every file in the given
// directories) through LLVMFuzzerTestOneInput, so the corpus and its minimized
// crashers stay regression tests in every build.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void RunFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

int main(int argc, char** argv) {
  size_t n = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) RunFile(e.path()), ++n;
    } else {
      RunFile(p), ++n;
    }
  }
  std::cout << "replayed " << n << " inputs\n";
  return 0;
}
