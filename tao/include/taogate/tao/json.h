#pragma once

#include <string>

#include "tao.pb.h"

namespace taogate::tao {

// A TAO's fields as pretty JSON (bytes as hex, times as ms and RFC 3339),
// for `taogatectl tao inspect` and logs.
std::string BodyToJson(const v1::TaoBody& body);
std::string TaoToJson(const v1::Tao& tao, const v1::TaoBody& body);

}  // namespace taogate::tao
