// HTTPS requests to the API server over libcurl: bounded GETs (lists) and
// streaming GETs (watches). TLS is verified against the cluster CA only (never
// the system store, never insecure). A request is cancelled within about 100 ms
// once `*cancel` becomes true.
//
// Errors: a transport failure (connect, TLS, reset, timeout) is kUnavailable
// with curl's message; an HTTP status is not an error here, the caller reads
// it from HttpResult. Thread-safe: each call uses its own curl handle.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "taogate/k8s/config.h"
#include "taogate/k8s/token.h"

namespace taogate::k8s {

struct ApiClientOptions {
  absl::Duration token_reread = absl::Minutes(1);
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration request_timeout = absl::Seconds(60);  // a list, not a watch
  size_t max_body_bytes = 64u << 20;                  // list bodies, error bodies
};

struct HttpResult {
  long status = 0;
  std::string body;  // the whole body, or (for a 200 stream) empty
};

class ApiClient {
 public:
  ApiClient(ClusterConfig config, ApiClientOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GET `target` ("/api/v1/pods?..."): the status and the whole body
  // (kResourceExhausted past max_body_bytes).
  absl::StatusOr<HttpResult> Get(std::string_view target, const std::atomic<bool>* cancel);

  // GET `target` and hand the body of a 200 response to `on_data` as it
  // arrives; `on_data` returning false ends the transfer (kAborted). Any other
  // status collects the body into the result. `on_open` runs once the 200
  // headers are in. `max_time` bounds the whole transfer.
  using DataFn = std::function<bool(std::string_view)>;
  absl::StatusOr<HttpResult> Stream(std::string_view target, const DataFn& on_data,
                                    const std::function<void()>& on_open,
                                    absl::Duration max_time, const std::atomic<bool>* cancel);

  // Called after a 401: the next request re-reads the token file.
  void TokenRejected() { tokens_.Invalidate(); }
  TokenSource& tokens() { return tokens_; }

  struct Request;  // one transfer's state (api_client.cc)

 private:
  absl::StatusOr<HttpResult> Perform(Request& req);

  const ClusterConfig config_;
  const ApiClientOptions options_;
  TokenSource tokens_;
};

}  // namespace taogate::k8s
