// Test support for taogate::dns: DNS responses built by hand (the parser's
// attacks), a recording Sink, a real dnsmasq on loopback whose answers the
// test rewrites, and a fake UDP resolver that answers scripted, junk, garbage
// or nothing. Loopback only; every process and thread ends with its owner.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taogate/common/fd.h"
#include "taogate/dns/resolver.h"

namespace taogate::dns::testing {

// One response to (qname, qtype); records are written uncompressed unless
// the test appends raw bytes.
class ResponseBuilder {
 public:
  ResponseBuilder(std::string qname, uint16_t qtype) : qname_(std::move(qname)), qtype_(qtype) {}
  ResponseBuilder& Rcode(uint8_t rcode) { rcode_ = rcode; return *this; }
  ResponseBuilder& Ad() { ad_ = true; return *this; }
  ResponseBuilder& A(const std::string& owner, const std::string& ip, uint32_t ttl = 60);
  ResponseBuilder& Aaaa(const std::string& owner, const std::string& ip, uint32_t ttl = 60);
  ResponseBuilder& Cname(const std::string& owner, const std::string& target, uint32_t ttl = 60);
  ResponseBuilder& Record(const std::string& owner, uint16_t type, const std::vector<uint8_t>& rdata,
                          uint32_t ttl = 60);
  std::vector<uint8_t> Bytes() const;

 private:
  std::string qname_;
  uint16_t qtype_;
  uint8_t rcode_ = 0;
  bool ad_ = false;
  uint16_t count_ = 0;
  std::vector<uint8_t> answers_;
};

std::vector<uint8_t> EncodeName(const std::string& name);
target::Ip Ip(const std::string& text);
std::vector<target::Ip> Ips(const std::vector<std::string>& texts);

// Records every Change; Wait blocks until `pred` holds over them (or times out).
class RecordingSink : public Sink {
 public:
  void OnChange(const Change& change) override;
  bool Wait(const std::function<bool(const std::vector<Change>&)>& pred,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<Change> changes() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Change> changes_;
};

// Polls `pred` every 20 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A real dnsmasq on 127.0.0.1:port() serving the names of its hosts file
// (authoritative for tg.test: an unknown name there is NXDOMAIN), with TTL
// `ttl_s`, the given --cname=ALIAS,TARGET links and the lines of `conf`
// (a dnsmasq.conf, e.g. host-record=NAME,IP,TTL). Throws with a clear
// message when dnsmasq is missing (scripts/deps installs dnsmasq-base).
class Dnsmasq {
 public:
  Dnsmasq(const std::filesystem::path& dir, const std::string& hosts, uint32_t ttl_s = 1,
          const std::vector<std::string>& cnames = {}, const std::string& conf = "");
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;
  int port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  // Rewrites the hosts file and makes dnsmasq re-read it (SIGHUP).
  void SetHosts(const std::string& hosts);

 private:
  std::filesystem::path hosts_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A UDP "resolver" on 127.0.0.1:port() that the test turns into what it
// needs. kAnswer: every query gets `answer` (A or AAAA records for the asked
// name, AD set when `ad`); kJunk: random bytes; kGarbage: the right id and
// question, then a record cut short; kSilent: nothing.
class FakeResolver {
 public:
  enum class Mode { kAnswer, kJunk, kGarbage, kSilent };
  explicit FakeResolver(Mode mode);
  ~FakeResolver();
  void SetMode(Mode mode) { mode_ = mode; }
  void SetAnswer(std::vector<std::string> v4, bool ad);
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  uint64_t queries() const { return queries_; }

 private:
  void Run();
  std::vector<uint8_t> Respond(const uint8_t* q, size_t len);

  UniqueFd fd_;
  int port_ = 0;
  std::atomic<Mode> mode_;
  std::mutex mu_;
  std::vector<std::string> v4_;
  bool ad_ = false;
  std::atomic<uint64_t> queries_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A config for tests: the given servers, TTL floor 1 s, ceiling `ceiling_s`,
// retries after 1 s, no jitter, 300 ms per try, one try.
Config TestConfig(std::vector<std::string> servers, uint32_t ceiling_s = 2);

}  // namespace taogate::dns::testing
