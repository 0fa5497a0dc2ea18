// The one mapping between absl::Status and grpc::Status, used by every
// server (agent, governor) and every client (agent, CLI, tests). The codes
// are the same canonical set in both libraries, so the mapping keeps the
// code and the message unchanged in both directions.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace taogate::rpc {

// absl::Status -> grpc::Status with the same code and message.
grpc::Status ToGrpc(const absl::Status& s);

// grpc::Status -> absl::Status with the same code and message.
absl::Status FromGrpc(const grpc::Status& s);

}  // namespace taogate::rpc
