// taogatectl ledger follow: the node or governor ledger as a stream of JSON
// lines (docs/evidence.md). Registered under `ledger` by ledger_cmd.cc.
#pragma once

#include <CLI/CLI.hpp>

namespace taogate::cli {

void RegisterLedgerFollow(CLI::App* ledger);

}  // namespace taogate::cli
