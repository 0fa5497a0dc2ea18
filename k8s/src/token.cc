#include "taogate/k8s/token.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace taogate::k8s {

TokenSource::TokenSource(std::string file, std::string token, absl::Duration reread)
    : file_(std::move(file)), reread_(reread), token_(std::move(token)) {}

absl::StatusOr<std::string> TokenSource::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_.empty()) return token_;
  absl::Time now = absl::Now();
  if (!stale_ && now - read_at_ < reread_) return token_;
  std::ifstream in(file_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.is_open() || ss.str().empty()) {
    if (reads_ > 0) return token_;  // keep the last good token; retry next time
    return absl::UnavailableError(absl::StrCat("cannot read the token file ", file_));
  }
  token_ = std::string(absl::StripAsciiWhitespace(ss.str()));
  read_at_ = now;
  stale_ = false;
  ++reads_;
  return token_;
}

void TokenSource::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
}

int TokenSource::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_;
}

}  // namespace taogate::k8s
