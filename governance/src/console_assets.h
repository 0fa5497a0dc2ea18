// The console's static files, compiled into the governor
// (governance/console/embed.cmake writes the definitions).
#pragma once

#include <cstddef>

namespace taogate::governance::console_assets {

struct Asset {
  const char* path;  // "/console/app.js"
  const char* type;  // Content-Type
  const unsigned char* data;
  size_t size;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

}  // namespace taogate::governance::console_assets
