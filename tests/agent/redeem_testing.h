// In-memory fakes of the redeem path's dependencies (deps.h) for tests that
// run the real Redeemer without root: a verifier pinned to one issuing key
// or a whole trust check, evidence in a vector, grants in counters.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "taogate/agent/deps.h"
#include "taogate/tao/signing.h"

namespace taogate::agent::testing {

// Verifies the TAO signature under one issuing key (no certificate chain).
class KeyVerifier : public TaoVerifier {
 public:
  explicit KeyVerifier(std::array<uint8_t, 32> pub) : pub_(pub) {}
  absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t) override {
    return tao::VerifyTaoSignature(tao, body, pub_);
  }

 private:
  std::array<uint8_t, 32> pub_;
};

// Delegates to any check (e.g. a keys::TrustBundle).
class FunctionVerifier : public TaoVerifier {
 public:
  using Check = std::function<absl::Status(const v1::Tao&, int64_t)>;
  explicit FunctionVerifier(Check check) : check_(std::move(check)) {}
  absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody&, int64_t now_ms) override {
    return check_(tao, now_ms);
  }

 private:
  Check check_;
};

class MemoryEvidence : public Evidence {
 public:
  absl::StatusOr<uint64_t> Append(Kind kind, Fields fields) override {
    std::lock_guard<std::mutex> l(mu_);
    if (fail_) return absl::ResourceExhaustedError("disk full");
    records_.push_back({kind, std::move(fields)});
    return records_.size() - 1;
  }
  size_t Count(Kind k) {
    std::lock_guard<std::mutex> l(mu_);
    return std::count_if(records_.begin(), records_.end(), [&](auto& r) { return r.first == k; });
  }
  std::string LastField(std::string_view name) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [k, v] : records_.back().second)
      if (k == name) return v;
    return {};
  }
  bool fail_ = false;

 private:
  std::mutex mu_;
  std::vector<std::pair<Kind, Fields>> records_;
};

// Port 5432 is the one protected target.
class MemoryGrants : public GrantTable {
 public:
  bool IsProtected(const v1::Target& t) const override { return t.port() == 5432; }
  absl::Status InstallGrant(uint64_t cgroup, const v1::Target&, const TaoId&, int64_t) override {
    if (fail_) return absl::UnavailableError("map full");
    ++installed_;
    last_cgroup_ = cgroup;
    return absl::OkStatus();
  }
  std::atomic<int> installed_{0};
  uint64_t last_cgroup_ = 0;
  bool fail_ = false;
};

}  // namespace taogate::agent::testing
