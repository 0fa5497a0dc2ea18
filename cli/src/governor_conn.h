// The governor connection flags every governor command takes (--governor
// --ca --cert --key --server-name, defaults from TAOGATE_GOVERNOR, TAOGATE_CA,
// TAOGATE_CERT, TAOGATE_KEY), for commands outside governor_cmd.cc.
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

#include "governor.grpc.pb.h"

namespace taogate::cli {

void AddGovernorConn(CLI::App* a);
// A stub over mTLS, or nullptr after printing why (no address, bad PEM files).
std::unique_ptr<v1::Governor::Stub> GovernorStub();

}  // namespace taogate::cli
