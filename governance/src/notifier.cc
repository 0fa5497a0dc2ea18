#include "taogate/governance/notifier.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "taogate/common/clock.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/strings.h"
#include "taogate/common/version.h"
#include "taogate/runtime/listen.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::governance {
namespace {

// libcurl's host part: a name, a numeric IPv4 or a bracketed IPv6 address.
// Only numeric loopback addresses, and "localhost" (which libcurl resolves
// to loopback itself), count: a name such as 127.example.com does not.
bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  return runtime::IsLoopback(bracketed ? std::string_view(host).substr(1, host.size() - 2) : host);
}

// Slack's mrkdwn needs only &, < and > escaped.
std::string SlackEscaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

std::string Hmac(const std::string& key, const std::string& msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), len));
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

struct Attempt {
  bool ok = false;
  bool retry = false;
  std::string error;
};

}  // namespace

absl::Status ValidateWebhook(const WebhookConfig& w) {
  if (w.name.empty() || w.name.size() > 64 ||
      !std::all_of(w.name.begin(), w.name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      }))
    return absl::InvalidArgumentError(
        StrCat("webhook name '", w.name, "': 1-64 characters of a-z, 0-9, '-' and '_'"));
  const std::string where = StrCat("webhook ", w.name, ": ");
  if (w.format != "json" && w.format != "slack")
    return absl::InvalidArgumentError(StrCat(where, "format '", w.format, "' is not json or slack"));
  CURLU* u = curl_url();
  if (u == nullptr) return absl::ResourceExhaustedError("curl_url");
  absl::Status st;
  char *scheme = nullptr, *host = nullptr, *user = nullptr;
  if (curl_url_set(u, CURLUPART_URL, w.url.c_str(), 0) != CURLUE_OK) {
    st = absl::InvalidArgumentError(StrCat(where, "url is not a URL"));
  } else {
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    const std::string s = scheme ? scheme : "", h = host ? host : "";
    if (user != nullptr)
      st = absl::InvalidArgumentError(StrCat(where, "url must not carry a user or password (use secret_file)"));
    else if (s != "https" && !(s == "http" && IsLoopbackHost(h)))
      st = absl::InvalidArgumentError(
          StrCat(where, "url must be https:// (http:// only to a loopback address, e.g. a local relay)"));
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_url_cleanup(u);
  return st;
}

std::string WebhookNotifier::JsonBody(const std::string& governor, const Notification& n) {
  nlohmann::ordered_json j;
  j["event"] = n.event;
  j["governor"] = governor;
  j["summary"] = n.summary;
  for (const auto& [k, v] : n.fields) j[k] = v;
  // Strings from requests are already sanitized; dump() escapes anything left
  // and replaces invalid UTF-8 rather than throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string WebhookNotifier::SlackBody(const std::string& governor, const Notification& n) {
  std::string text = StrCat("*taogate* (", SlackEscaped(governor), "): ", SlackEscaped(n.summary));
  for (const auto& [k, v] : n.fields) text += StrCat("\n• ", k, ": `", SlackEscaped(v), "`");
  nlohmann::ordered_json j;
  j["text"] = text;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct WebhookNotifier::Hook {
  WebhookConfig config;
  WebhookOptions options;
  std::string governor;
  struct Item {
    std::string event;
    std::string body;
    int attempts = 0;
    int64_t not_before_ms = 0;  // monotonic
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;  // guarded by mu
  bool stop = false;       // guarded by mu
  std::atomic<bool> stopping{false};  // ends a delivery in flight (libcurl progress callback)
  std::atomic<uint64_t> delivered{0}, retried{0}, failed{0}, dropped{0};
  std::thread thread;

  Attempt Post(const Item& item) {
    Attempt a;
    CURL* c = curl_easy_init();
    if (c == nullptr) {
      a.retry = true;
      a.error = "curl_easy_init failed";
      return a;
    }
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, StrCat("User-Agent: taogate-governor/", kVersion).c_str());
    headers = curl_slist_append(headers, StrCat("X-Taogate-Event: ", item.event).c_str());
    if (!config.secret.empty()) {
      const std::string ts = std::to_string(RealClock().WallMs());
      headers = curl_slist_append(headers, StrCat("X-Taogate-Timestamp: ", ts).c_str());
      headers = curl_slist_append(
          headers, StrCat("X-Taogate-Signature: sha256=", Hmac(config.secret, StrCat(ts, ".", item.body))).c_str());
    }
    curl_easy_setopt(c, CURLOPT_URL, config.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, item.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(item.body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
    // Shutdown does not wait out a stalled receiver's timeout.
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stopping);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, +[](void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
      return static_cast<std::atomic<bool>*>(p)->load() ? 1 : 0;
    });
    if (!config.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config.ca_file.c_str());
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
      a.retry = true;
      a.error = curl_easy_strerror(rc);
    } else if (code >= 200 && code < 300) {
      a.ok = true;
    } else {
      a.retry = code >= 500 || code == 408 || code == 429;
      a.error = StrCat("HTTP ", code);
    }
    return a;
  }

  void Run() {
    std::unique_lock l(mu);
    while (true) {
      if (stop) return;
      if (queue.empty()) {
        cv.wait(l);
        continue;
      }
      const int64_t now = RealClock().MonoMs();
      if (queue.front().not_before_ms > now) {
        cv.wait_for(l, std::chrono::milliseconds(queue.front().not_before_ms - now));
        continue;
      }
      Item item = std::move(queue.front());
      queue.pop_front();
      l.unlock();
      Attempt a = Post(item);
      ++item.attempts;
      l.lock();
      if (a.ok) {
        ++delivered;
        continue;
      }
      if (stop) {  // interrupted by shutdown: still undelivered
        queue.push_front(std::move(item));
        return;
      }
      if (a.retry && item.attempts < options.max_attempts && !stop) {
        ++retried;
        int64_t backoff = options.first_backoff_ms;
        for (int i = 1; i < item.attempts && backoff < options.max_backoff_ms; ++i) backoff *= 2;
        item.not_before_ms = RealClock().MonoMs() + std::min(backoff, options.max_backoff_ms);
        log::Warn("webhook delivery failed, will retry",
                  {{"webhook", config.name}, {"event", item.event}, {"error", a.error},
                   {"attempt", std::to_string(item.attempts)}});
        queue.push_front(std::move(item));  // in order: nothing overtakes it
        continue;
      }
      ++failed;
      log::Error("webhook delivery failed", {{"webhook", config.name}, {"event", item.event}, {"error", a.error},
                                             {"attempts", std::to_string(item.attempts)}});
    }
  }
};

absl::StatusOr<std::unique_ptr<WebhookNotifier>> WebhookNotifier::Create(std::string governor,
                                                                        std::vector<WebhookConfig> hooks,
                                                                        WebhookOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<WebhookNotifier> n(new WebhookNotifier());
  for (size_t i = 0; i < hooks.size(); ++i) {
    if (absl::Status st = ValidateWebhook(hooks[i]); !st.ok()) return st;
    for (size_t j = 0; j < i; ++j)
      if (hooks[j].name == hooks[i].name)
        return absl::InvalidArgumentError(StrCat("webhook name '", hooks[i].name, "' is used twice"));
  }
  for (auto& w : hooks) {
    auto h = std::make_unique<Hook>();
    h->config = std::move(w);
    h->options = options;
    h->governor = governor;
    n->hooks_.push_back(std::move(h));
  }
  for (auto& h : n->hooks_) h->thread = std::thread([p = h.get()] { p->Run(); });
  return n;
}

WebhookNotifier::~WebhookNotifier() {
  for (auto& h : hooks_) {
    std::lock_guard l(h->mu);
    h->stop = true;
    h->stopping = true;
    h->cv.notify_all();
  }
  for (auto& h : hooks_) {
    if (h->thread.joinable()) h->thread.join();
    if (!h->queue.empty()) {
      h->dropped += h->queue.size();
      log::Warn("webhook notifications not delivered at shutdown",
                {{"webhook", h->config.name}, {"count", std::to_string(h->queue.size())}});
    }
  }
}

void WebhookNotifier::Notify(const Notification& n) {
  for (auto& h : hooks_) {
    std::string body = h->config.format == "slack" ? SlackBody(h->governor, n) : JsonBody(h->governor, n);
    std::lock_guard l(h->mu);
    if (h->queue.size() >= h->options.queue_max) {
      ++h->dropped;
      log::Error("webhook queue full: notification dropped", {{"webhook", h->config.name}, {"event", n.event}});
      continue;
    }
    h->queue.push_back({.event = n.event, .body = std::move(body)});
    h->cv.notify_all();
  }
}

std::string WebhookNotifier::MetricsText() const {
  std::string o = runtime::Family("taogate_governor_webhook_deliveries_total", "counter",
                                  "Webhook notification outcomes (delivered, retried, failed, dropped), by webhook.");
  for (const auto& h : hooks_) {
    const std::pair<const char*, uint64_t> outcomes[] = {{"delivered", h->delivered.load()},
                                                         {"retried", h->retried.load()},
                                                         {"failed", h->failed.load()},
                                                         {"dropped", h->dropped.load()}};
    for (const auto& [name, v] : outcomes)
      o += StrCat("taogate_governor_webhook_deliveries_total{webhook=\"", h->config.name, "\",outcome=\"", name,
                  "\"} ", v, "\n");
  }
  return o;
}

}  // namespace taogate::governance
