#include "taogate/common/path.h"

namespace taogate {

bool CanonicalComponents(std::string_view rest) {
  while (true) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    if (comp.empty() || comp == "." || comp == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

}  // namespace taogate
