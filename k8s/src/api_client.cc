#include "taogate/k8s/api_client.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "taogate/common/status.h"

namespace taogate::k8s {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long Millis(absl::Duration d) { return static_cast<long>(absl::ToInt64Milliseconds(d)); }

struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

// Runs one transfer, checking `cancel` at least every 100 ms (an idle watch
// would otherwise hold Stop() until the next byte or curl's 1 s progress tick).
CURLcode Run(CURL* c, const std::atomic<bool>* cancel) {
  MultiHandle m(curl_multi_init());
  if (!m || curl_multi_add_handle(m.get(), c) != CURLM_OK) return CURLE_FAILED_INIT;
  CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
  int running = 1;
  while (running > 0) {
    if (cancel != nullptr && cancel->load()) break;
    if (curl_multi_perform(m.get(), &running) != CURLM_OK) {
      rc = CURLE_FAILED_INIT;
      break;
    }
    if (running == 0) break;
    curl_multi_poll(m.get(), nullptr, 0, 100, nullptr);
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(m.get(), &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == c) rc = msg->data.result;
  }
  curl_multi_remove_handle(m.get(), c);
  return rc;
}

}  // namespace

struct ApiClient::Request {
  std::string url;
  const DataFn* on_data = nullptr;  // null: collect the body
  const std::function<void()>* on_open = nullptr;
  absl::Duration max_time;
  const std::atomic<bool>* cancel = nullptr;
  size_t max_body = 0;
  // Filled during the transfer.
  CURL* curl = nullptr;
  long status = 0;
  bool streaming = false;  // the 200 body goes to on_data
  bool aborted = false;    // on_data said stop
  bool too_big = false;
  std::string body;
};

ApiClient::ApiClient(ClusterConfig config, ApiClientOptions options)
    : config_(std::move(config)),
      options_(options),
      tokens_(config_.token_file, config_.token, options.token_reread) {
  GlobalInit();
}

ApiClient::~ApiClient() = default;

absl::StatusOr<HttpResult> ApiClient::Get(std::string_view target,
                                          const std::atomic<bool>* cancel) {
  Request req;
  req.url = config_.server + std::string(target);
  req.max_time = options_.request_timeout;
  req.cancel = cancel;
  req.max_body = options_.max_body_bytes;
  return Perform(req);
}

absl::StatusOr<HttpResult> ApiClient::Stream(std::string_view target, const DataFn& on_data,
                                             const std::function<void()>& on_open,
                                             absl::Duration max_time,
                                             const std::atomic<bool>* cancel) {
  Request req;
  req.url = config_.server + std::string(target);
  req.on_data = &on_data;
  req.on_open = &on_open;
  req.max_time = max_time;
  req.cancel = cancel;
  req.max_body = options_.max_body_bytes;
  return Perform(req);
}

namespace {

// The response code is known once the first body byte (or the header end)
// arrives: decide there whether the body streams to the caller.
void Decide(ApiClient::Request* r);

}  // namespace

absl::StatusOr<HttpResult> ApiClient::Perform(Request& req) {
  CurlHandle curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  req.curl = c;

  Slist headers;
  auto add_header = [&](const std::string& h) {
    curl_slist* l = curl_slist_append(headers.get(), h.c_str());
    if (l != nullptr) {
      (void)headers.release();
      headers.reset(l);
    }
  };
  add_header("Accept: application/json");
  TG_ASSIGN_OR_RETURN(std::string token, tokens_.Get());
  if (!token.empty()) add_header(absl::StrCat("Authorization: Bearer ", token));

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Millis(req.max_time));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  // TLS: the cluster CA and nothing else.
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_blob ca_blob{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(),
                    CURL_BLOB_NOCOPY};
  if (!config_.ca_pem.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca_blob);
  } else if (!config_.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
  } else {
    return absl::FailedPreconditionError("no cluster CA configured");
  }
  curl_blob cert_blob{const_cast<char*>(config_.client_cert_pem.data()),
                      config_.client_cert_pem.size(), CURL_BLOB_NOCOPY};
  curl_blob key_blob{const_cast<char*>(config_.client_key_pem.data()),
                     config_.client_key_pem.size(), CURL_BLOB_NOCOPY};
  if (!config_.client_cert_pem.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert_blob);
  if (!config_.client_cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  if (!config_.client_key_pem.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key_blob);
  if (!config_.client_key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, config_.client_key_file.c_str());

  curl_easy_setopt(
      c, CURLOPT_HEADERFUNCTION,
      +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto* r = static_cast<Request*>(user);
        std::string_view line(data, size * n);
        if (line == "\r\n" || line == "\n") Decide(r);
        return size * n;
      });
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &req);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto* r = static_cast<Request*>(user);
        size_t len = size * n;
        Decide(r);
        if (r->streaming) {
          if (!(*r->on_data)(std::string_view(data, len))) {
            r->aborted = true;
            return 0;  // CURLE_WRITE_ERROR
          }
          return len;
        }
        if (r->body.size() + len > r->max_body) {
          r->too_big = true;
          return 0;
        }
        r->body.append(data, len);
        return len;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &req);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = Run(c, req.cancel);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &req.status);
  if (req.aborted) return absl::AbortedError("stream consumer stopped the transfer");
  if (req.too_big) {
    return absl::ResourceExhaustedError(
        absl::StrCat("response body over ", req.max_body, " bytes from ", req.url));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError("request cancelled");
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", req.url, ": ", curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf));
  }
  HttpResult out;
  out.status = req.status;
  out.body = std::move(req.body);
  return out;
}

namespace {

void Decide(ApiClient::Request* r) {
  if (r->status != 0) return;
  long code = 0;
  curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code == 0 || code == 100) return;
  r->status = code;
  r->streaming = (code == 200 && r->on_data != nullptr);
  if (r->streaming && r->on_open != nullptr && *r->on_open) (*r->on_open)();
}

}  // namespace

}  // namespace taogate::k8s
