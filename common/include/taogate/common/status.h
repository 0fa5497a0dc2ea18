// One error vocabulary: absl::Status / absl::StatusOr<T>. Debian's abseil
// (20220623) has no RETURN_IF_ERROR, so taogate keeps its own two macros here.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TG_CONCAT_INNER_(a, b) a##b
#define TG_CONCAT_(a, b) TG_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define TG_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status tg_status_ = (expr);           \
    if (!tg_status_.ok()) return tg_status_;      \
  } while (0)

// `lhs` = value of StatusOr `rexpr`, or returns its status.
#define TG_ASSIGN_OR_RETURN(lhs, rexpr) \
  TG_ASSIGN_OR_RETURN_IMPL_(TG_CONCAT_(tg_statusor_, __LINE__), lhs, rexpr)
#define TG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

namespace taogate {

// The one place errno becomes a Status: "what: strerror" with the canonical code.
absl::Status ErrnoStatus(int err, std::string_view what);

}  // namespace taogate
