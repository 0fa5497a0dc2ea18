#include "taogate/runtime/metrics_text.h"

#include "taogate/common/strings.h"
#include "taogate/common/version.h"

namespace taogate::runtime {

std::string Family(std::string_view name, std::string_view type, std::string_view help) {
  return StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

std::string Counter(std::string_view name, std::string_view help, uint64_t v) {
  return StrCat(Family(name, "counter", help), name, " ", v, "\n");
}

std::string Gauge(std::string_view name, std::string_view help, int64_t v) {
  return StrCat(Family(name, "gauge", help), name, " ", v, "\n");
}

std::string BuildInfo(std::string_view component) {
  return StrCat(Family("taogate_build_info", "gauge", "Always 1; labels name the build and the daemon."),
                "taogate_build_info{version=\"", kVersion, "\",component=\"", component, "\"} 1\n");
}

}  // namespace taogate::runtime
