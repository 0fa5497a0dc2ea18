// Fakes for the redeem path's dependencies (deps.h): a verifier over one
// public key, in-memory evidence, an in-memory grant table and an injectable
// free-space figure. Thread-safe where the redeem path needs it.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taogate/agent/deps.h"
#include "taogate/tao/signing.h"

namespace taogate::agent::fakes {

class KeyVerifier : public TaoVerifier {
 public:
  explicit KeyVerifier(std::array<uint8_t, 32> pub) : pub_(pub) {}
  absl::Status VerifyChain(const v1::Tao& tao, const v1::TaoBody& body, int64_t) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    return tao::VerifyTaoSignature(tao, body, pub_);
  }
  std::atomic<uint64_t> calls_{0};  // signature verifications done

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
  // Records of `k` whose field `name` equals `value`.
  std::vector<Fields> Find(Kind k, std::string_view name, std::string_view value) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Fields> out;
    for (auto& [kind, f] : records_)
      if (kind == k && FieldOf(f, name) == value) out.push_back(f);
    return out;
  }
  // Refusals the REJECTED records account for: 1 per refusal's own record,
  // `count` per summary (refusal_repeats / _overflow / _dropped).
  uint64_t RefusalsAccountedFor() {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t n = 0;
    for (auto& [kind, f] : records_) {
      if (kind != Kind::kRejected && kind != Kind::kOperatorRefused) continue;
      n += FieldOf(f, "event").rfind("refusal_", 0) == 0 ? std::stoull(FieldOf(f, "count")) : 1;
    }
    return n;
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu_);
    return records_.size();
  }
  static std::string FieldOf(const Fields& f, std::string_view name) {
    for (auto& [k, v] : f)
      if (k == name) return v;
    return {};
  }
  bool fail_ = false;

 private:
  std::mutex mu_;
  std::vector<std::pair<Kind, Fields>> records_;
};

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

class FakeSpace : public FreeSpace {
 public:
  absl::StatusOr<uint64_t> FreeBytes() override { return free_.load(); }
  std::atomic<uint64_t> free_{UINT64_MAX};
};

}  // namespace taogate::agent::fakes
