// The agent of an AgentTest talking to a real taogate-governor process
// (governance/governor_testing.h): the governor's software roots as the
// agent's trust bundle, a node client certificate for
// spiffe://test.example/node/NODE, and the config lines that connect them.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "governance/governor_testing.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/trust_bundle.h"
#include "testing/testing.h"

namespace taogate::agent::testing {

// Writes DIR/trust.json (the agent harness's trust_bundle), DIR/node.crt and
// DIR/node.key; returns the agent config lines (governor address, CA, client
// certificate, targets cache in DIR, a short retry).
inline absl::StatusOr<std::string> ConnectToGovernor(governance::testing::GovernorProcess& gov,
                                                     const std::string& dir, const std::string& node_id) {
  TG_ASSIGN_OR_RETURN(auto bundle, gov.SoftwareTrustBundle());
  taogate::testing::WriteFile(dir + "/trust.json", keys::TrustBundle::ToJson(bundle.roots()));
  rpc::ClientTls tls = gov.TlsFor(StrCat("spiffe://test.example/node/", node_id));
  taogate::testing::WriteFile(dir + "/node.crt", tls.cert_pem);
  taogate::testing::WriteFile(dir + "/node.key", tls.key_pem);
  return StrCat("governor_address: ", gov.address(), "\ngovernor_ca: ", gov.dir().string(),
                "/ca.crt\ngovernor_cert: ", dir, "/node.crt\ngovernor_key: ", dir,
                "/node.key\ngovernor_server_name: localhost\ntargets_cache: ", dir,
                "/targets.pb\ngovernor_retry_max_ms: 400\n");
}

}  // namespace taogate::agent::testing
