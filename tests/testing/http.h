// Scraping a daemon's /metrics and /healthz (runtime/http_endpoint.h) in
// tests: a raw HTTP/1.1 GET on loopback, and the check that every sample of a
// Prometheus text carries its family's HELP and TYPE.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace taogate::testing {

// The whole response (status line, headers, body) of GET `path` on
// 127.0.0.1:`port`; "" if the connection fails.
std::string HttpGet(int port, const std::string& path);

// Names of the samples in `text` (a /metrics body or a whole response)
// whose family has no "# HELP" or no "# TYPE" line before them. A histogram's
// _bucket/_sum/_count samples belong to the histogram's family.
std::vector<std::string> UndocumentedSamples(std::string_view text);

}  // namespace taogate::testing
