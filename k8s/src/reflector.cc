#include "taogate/k8s/reflector.h"

#include <curl/curl.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "taogate/common/log.h"
#include "taogate/k8s/watch_stream.h"

namespace taogate::k8s {
namespace {

std::string Escape(std::string_view s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

// The API server's error body is a meta/v1 Status; keep its message short.
std::string Message(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>().substr(0, 300);
  }
  return body.substr(0, 200);
}

}  // namespace

Reflector::Reflector(std::string name, ApiClient& client, std::string path, std::string selector,
                     Sink& sink, ReflectorOptions options)
    : name_(std::move(name)),
      client_(client),
      path_(std::move(path)),
      selector_(std::move(selector)),
      sink_(sink),
      options_(options) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Reflector::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_ = true;
  }
  sleep_cv_.notify_all();
}

void Reflector::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  status_.connected = false;
}

ReflectorStatus Reflector::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void Reflector::Sleep(absl::Duration d) {
  std::unique_lock<std::mutex> lock(sleep_mu_);
  sleep_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stop_.load(); });
}

absl::Duration Reflector::NextBackoff() {
  absl::Duration d = options_.initial_backoff;
  for (int i = 0; i < backoff_step_ && d < options_.max_backoff; ++i) d *= 2;
  ++backoff_step_;
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return std::min(d * (1.0 + options_.jitter * u), options_.max_backoff);
}

void Reflector::Fail(const absl::Status& status) {
  log::Warn("k8s watch error", {{"resource", name_}, {"error", status.ToString()}});
  std::lock_guard<std::mutex> lock(mu_);
  ++status_.errors;
  status_.connected = false;
  status_.last_error = status.ToString();
}

std::string Reflector::Target(bool watch) {
  std::string t = path_;
  char sep = '?';
  auto add = [&](std::string_view k, std::string_view v) {
    t += sep;
    t += k;
    t += "=";
    t += Escape(v);
    sep = '&';
  };
  if (!selector_.empty()) add("fieldSelector", selector_);
  if (watch) {
    // Spread the watches' ends so that agents do not reconnect in step.
    int64_t ms = absl::ToInt64Milliseconds(options_.min_watch_timeout);
    int64_t timeout = std::max<int64_t>(
        1, (ms + std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ms - 1, 0))(rng_)) /
               1000);
    add("watch", "1");
    add("resourceVersion", Status().resource_version);
    add("allowWatchBookmarks", "true");
    add("timeoutSeconds", std::to_string(timeout));
  }
  return t;
}

absl::Status Reflector::HttpError(long status, const std::string& body, bool listing) {
  std::string what = absl::StrCat(listing ? "list " : "watch ", path_, ": HTTP ", status, ": ",
                                  Message(body));
  if (status == 401) {
    client_.TokenRejected();
    return absl::UnauthenticatedError(what + " (re-reading the token)");
  }
  if (status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " (the ServiceAccount needs get/list/watch on ", path_, ")"));
  }
  return absl::UnavailableError(what);
}

absl::Status Reflector::List() {
  absl::StatusOr<HttpResult> r = client_.Get(Target(false), &stop_);
  if (!r.ok()) return r.status();
  if (r->status != 200) return HttpError(r->status, r->body, true);
  nlohmann::json list = nlohmann::json::parse(r->body, nullptr, false);
  if (!list.is_object()) return absl::DataLossError("list body is not a JSON object");
  std::string rv = ResourceVersionOf(list);
  if (rv.empty()) return absl::DataLossError("list has no metadata.resourceVersion");
  auto items = list.find("items");
  static const nlohmann::json kNone = nlohmann::json::array();
  absl::Status st = sink_.Replace(items == list.end() || items->is_null() ? kNone : *items);
  if (!st.ok()) return st;
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.lists++ > 0) ++status_.relists;
  status_.synced = true;
  status_.resource_version = rv;
  return absl::OkStatus();
}

absl::Status Reflector::HandleLine(std::string_view line, bool& gone) {
  absl::StatusOr<WatchEvent> ev = ParseWatchEvent(line);
  if (!ev.ok()) return ev.status();
  if (ev->type == EventType::kError) {
    if (StatusCodeOf(ev->object) == 410) {
      gone = true;
      return absl::AbortedError("410 Gone");
    }
    return absl::UnavailableError(absl::StrCat(
        "watch ERROR event: ", ev->object.dump().substr(0, 300)));
  }
  std::string rv = ResourceVersionOf(ev->object);
  if (rv.empty()) return absl::DataLossError("watch event without metadata.resourceVersion");
  if (ev->type != EventType::kBookmark) {
    absl::Status st = sink_.Apply(ev->type, ev->object);
    if (!st.ok()) return absl::DataLossError(absl::StrCat("watch event refused: ", st.message()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  status_.resource_version = rv;
  ++(ev->type == EventType::kBookmark ? status_.bookmarks : status_.events);
  backoff_step_ = 0;
  gone_in_row_ = 0;
  return absl::OkStatus();
}

Reflector::Next Reflector::Watch() {
  LineSplitter lines(options_.max_event_bytes);
  absl::Status stream_error;
  bool gone = false;
  auto on_data = [&](std::string_view chunk) {
    stream_error = lines.Feed(chunk, [&](std::string_view l) { return HandleLine(l, gone); });
    return stream_error.ok();
  };
  auto on_open = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    status_.connected = true;
    ++status_.watches;
  };
  absl::Duration max_time = options_.min_watch_timeout * 2 + absl::Seconds(30);
  absl::Time started = absl::Now();
  uint64_t seen_before = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return status_.events + status_.bookmarks;
  }();
  absl::StatusOr<HttpResult> r = client_.Stream(Target(true), on_data, on_open, max_time, &stop_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.connected = false;
  }
  if (stop_) return Next::kWatch;
  if (gone) return Next::kRelist;
  if (!stream_error.ok()) {  // malformed, oversized or refused event
    Fail(stream_error);
    return Next::kBackoffRelist;
  }
  if (!r.ok()) {  // connection refused, dropped, TLS failure
    Fail(r.status());
    return Next::kBackoffWatch;
  }
  if (r->status == 410) return Next::kRelist;  // the resourceVersion is too old
  if (r->status != 200) {
    Fail(HttpError(r->status, r->body, false));
    return Next::kBackoffWatch;
  }
  if (lines.pending() > 0) {
    Fail(absl::DataLossError("watch stream ended inside an event"));
    return Next::kBackoffRelist;
  }
  // A watch the server ends at once, empty, again and again (a proxy, an
  // overloaded server) must not become a busy loop: as client-go does.
  bool empty = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return status_.events + status_.bookmarks == seen_before;
  }();
  if (empty && absl::Now() - started < std::min(absl::Seconds(1), options_.min_watch_timeout / 2)) {
    Fail(absl::UnavailableError("very short watch: the server ended it at once with no event"));
    return Next::kBackoffWatch;
  }
  return Next::kWatch;  // the server closed the watch at timeoutSeconds
}

void Reflector::Run() {
  bool need_list = true;
  while (!stop_) {
    if (need_list) {
      absl::Status st = List();
      if (stop_) break;
      if (!st.ok()) {
        Fail(st);
        Sleep(NextBackoff());
        continue;
      }
      backoff_step_ = 0;
      need_list = false;
    }
    switch (Watch()) {
      case Next::kWatch: break;
      case Next::kRelist:  // 410 Gone; back off only if it repeats without progress
        need_list = true;
        if (++gone_in_row_ > 1) Sleep(NextBackoff());
        break;
      case Next::kBackoffWatch: Sleep(NextBackoff()); break;
      case Next::kBackoffRelist: need_list = true; Sleep(NextBackoff()); break;
    }
  }
}

}  // namespace taogate::k8s
