#include "taogate/dns/name_table.h"

#include <algorithm>
#include <climits>
#include <iterator>
#include <set>

#include "taogate/dns/message.h"

namespace taogate::dns {
namespace {

constexpr int64_t kNsPerS = 1'000'000'000;

std::vector<target::Ip> Union(const std::vector<target::Ip>& a, const std::vector<target::Ip>& b) {
  std::vector<target::Ip> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), IpLess);
  return out;
}

std::vector<target::Ip> Minus(const std::vector<target::Ip>& a, const std::vector<target::Ip>& b) {
  std::vector<target::Ip> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), IpLess);
  return out;
}

}  // namespace

uint32_t ClampTtl(uint32_t ttl_s, uint32_t floor_s, uint32_t ceiling_s) {
  return std::min(std::max(ttl_s, floor_s), std::max(floor_s, ceiling_s));
}

std::string_view FailureName(Failure f) {
  switch (f) {
    case Failure::kNxDomain: return "nxdomain";
    case Failure::kServFail: return "servfail";
    case Failure::kTimeout: return "timeout";
    case Failure::kGarbage: return "garbage";
    case Failure::kNoAd: return "no_ad";
    case Failure::kNoAddress: return "no_address";
    case Failure::kOther: return "other";
  }
  return "other";
}

NameTable::NameTable(TableOptions options) : options_(options), rng_(options.seed) {}

int64_t NameTable::Delay(uint32_t seconds) {
  int64_t ns = int64_t(seconds) * kNsPerS;
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> u(0, options_.jitter);
    ns -= int64_t(u(rng_) * double(ns));
  }
  return std::max<int64_t>(ns, 1'000'000);
}

std::vector<Change> NameTable::SetNames(const std::vector<std::string>& names, int64_t now_ns) {
  std::set<std::string> want(names.begin(), names.end());
  std::vector<Change> changes;
  for (auto it = names_.begin(); it != names_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    if (!it->second.status.addrs.empty()) {
      Change c;
      c.name = it->first;
      c.removed = it->second.status.addrs;
      c.unwatched = true;
      changes.push_back(std::move(c));
      ++stats_.changes;
    }
    it = names_.erase(it);
  }
  for (const auto& n : want) {
    auto [it, added] = names_.try_emplace(n);
    if (added) {
      it->second.status.name = n;
      it->second.status.next_due_ns = now_ns;
    }
  }
  return changes;
}

std::vector<std::string> NameTable::TakeDue(int64_t now_ns, size_t max) {
  std::vector<std::pair<int64_t, Entry*>> due;
  for (auto& [name, e] : names_) {
    if (!e.in_flight && e.status.next_due_ns <= now_ns) due.emplace_back(e.status.next_due_ns, &e);
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < due.size() && i < max; ++i) {
    due[i].second->in_flight = true;
    out.push_back(due[i].second->status.name);
  }
  return out;
}

int64_t NameTable::NextDueNs() const {
  int64_t next = INT64_MAX;
  for (const auto& [name, e] : names_) {
    if (!e.in_flight) next = std::min(next, e.status.next_due_ns);
  }
  return next;
}

void NameTable::ApplyFamily(Entry& e, const FamilyResult& r, int f, bool& failed, uint32_t& ttl,
                            std::vector<std::string>& chain) {
  stats_.wrong_family += r.wrong_family;
  switch (r.outcome) {
    case FamilyResult::Outcome::kAddresses: {
      std::vector<target::Ip> addrs = r.addrs;
      std::sort(addrs.begin(), addrs.end(), IpLess);
      addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
      if (addrs.size() > options_.max_addresses) {
        addrs.resize(options_.max_addresses);
        ++stats_.over_cap;
      }
      e.fam[f] = std::move(addrs);
      ttl = std::min(ttl, r.ttl_s);
      if (chain.empty()) chain = r.chain;
      break;
    }
    case FamilyResult::Outcome::kNoData:
      e.fam[f].clear();
      if (chain.empty()) chain = r.chain;
      break;
    case FamilyResult::Outcome::kFailed:
      failed = true;
      ++stats_.failures[size_t(r.failure)];
      e.status.last_error = std::string(f == 0 ? "A: " : "AAAA: ") + r.error;
      break;
  }
}

std::optional<Change> NameTable::Apply(const std::string& name, const FamilyResult& v4,
                                       const FamilyResult& v6, int64_t now_ns) {
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  Entry& e = it->second;
  NameStatus& s = e.status;
  e.in_flight = false;
  ++s.resolutions;
  ++stats_.resolutions;

  std::vector<target::Ip> before_fam[2] = {e.fam[0], e.fam[1]};
  bool failed = false;
  uint32_t ttl = UINT32_MAX;
  std::vector<std::string> chain;
  ApplyFamily(e, v4, 0, failed, ttl, chain);
  ApplyFamily(e, v6, 1, failed, ttl, chain);
  std::vector<target::Ip> now_set = Union(e.fam[0], e.fam[1]);
  if (now_set.empty()) {  // never lose the last address through DNS
    if (!failed) {
      ++stats_.failures[size_t(Failure::kNoAddress)];
      s.last_error = "no address";
    }
    failed = true;
    e.fam[0] = std::move(before_fam[0]);
    e.fam[1] = std::move(before_fam[1]);
    now_set = s.addrs;
  }
  if (ttl != UINT32_MAX) {
    s.ttl_s = ClampTtl(ttl, options_.ttl_floor_s, options_.ttl_ceiling_s);
    s.chain = chain;
  }
  if (failed) {
    ++s.failures;
    ++s.consecutive_failures;
    if (s.stale_since_ns == 0) s.stale_since_ns = now_ns;
    uint32_t shift = std::min<uint32_t>(s.consecutive_failures - 1, 20);
    uint64_t retry = std::min<uint64_t>(uint64_t(std::max(options_.ttl_floor_s, 1u)) << shift,
                                        std::max(options_.retry_max_s, 1u));
    s.next_due_ns = now_ns + Delay(uint32_t(retry));
  } else {
    s.consecutive_failures = 0;
    s.stale_since_ns = 0;
    s.last_error.clear();
    s.next_due_ns = now_ns + Delay(s.ttl_s);
  }

  Change c{.name = name, .added = Minus(now_set, s.addrs), .removed = Minus(s.addrs, now_set),
           .ttl_s = s.ttl_s, .chain = s.chain};
  s.addrs = std::move(now_set);
  if (!s.addrs.empty()) s.resolved = true;
  if (c.added.empty() && c.removed.empty()) return std::nullopt;
  ++stats_.changes;
  return c;
}

size_t NameTable::StaleCount() const {
  return std::count_if(names_.begin(), names_.end(),
                       [](const auto& n) { return n.second.status.stale_since_ns != 0; });
}

std::vector<NameStatus> NameTable::Snapshot() const {
  std::vector<NameStatus> out;
  out.reserve(names_.size());
  for (const auto& [name, e] : names_) out.push_back(e.status);
  return out;
}


FamilyResult FailedResult(Failure failure, std::string error) {
  FamilyResult r;
  r.outcome = FamilyResult::Outcome::kFailed;
  r.failure = failure;
  r.error = std::move(error);
  return r;
}

FamilyResult Classify(const absl::StatusOr<Response>& response, bool require_ad) {
  FamilyResult r;
  if (!response.ok()) return FailedResult(Failure::kGarbage, std::string(response.status().message()));
  r.wrong_family = response->wrong_family;
  if (response->rcode == kRcodeNxDomain) return FailedResult(Failure::kNxDomain, "NXDOMAIN");
  if (response->rcode == kRcodeServFail) return FailedResult(Failure::kServFail, "SERVFAIL");
  if (response->rcode != kRcodeNoError) {
    return FailedResult(Failure::kOther, "response code " + std::to_string(response->rcode));
  }
  if (require_ad && !response->ad) {
    return FailedResult(Failure::kNoAd, "answer not authenticated (AD bit clear) and require_ad is set");
  }
  r.chain = response->chain;
  if (response->addrs.empty()) {
    r.outcome = FamilyResult::Outcome::kNoData;
    return r;
  }
  r.outcome = FamilyResult::Outcome::kAddresses;
  r.addrs = response->addrs;
  r.ttl_s = response->ttl_s;
  return r;
}

}  // namespace taogate::dns
