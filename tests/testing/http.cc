#include "testing/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "taogate/common/fd.h"

namespace taogate::testing {

std::string HttpGet(int port, const std::string& path) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (write(fd.get(), req.data(), req.size()) < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, n);
  return out;
}

std::vector<std::string> UndocumentedSamples(std::string_view text) {
  std::set<std::string> help, type, histograms;
  std::vector<std::string> bad;
  std::string body(text.substr(text.find("\r\n\r\n") == std::string_view::npos ? 0 : text.find("\r\n\r\n") + 4));
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::istringstream words(line);
    std::string first, second, name, kind;
    if (line[0] == '#') {
      words >> first >> second >> name >> kind;
      if (second == "HELP") help.insert(name);
      if (second == "TYPE") type.insert(name);
      if (second == "TYPE" && (kind == "histogram" || kind == "summary")) histograms.insert(name);
      continue;
    }
    name = line.substr(0, line.find_first_of("{ "));
    std::string family = name;
    for (std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          histograms.count(name.substr(0, name.size() - suffix.size())))
        family = name.substr(0, name.size() - suffix.size());
    }
    if (!help.count(family) || !type.count(family)) bad.push_back(name);
  }
  return bad;
}

}  // namespace taogate::testing
