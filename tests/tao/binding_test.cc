// The workload binding's fields are canonical or the TAO is malformed: a pod
// uid is a whole UUID, never a fragment that any cgroup name could contain; a
// workload path is absolute and canonical.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tao/tao_testing.h"
#include "taogate/tao/codec.h"

namespace taogate::tao {
namespace {

using ::testing::HasSubstr;
using testing::TestIssuer;

class BindingCodecTest : public ::testing::Test {
 protected:
  void ExpectRejected(std::string_view why) {
    auto r = DecodeBody(body_.SerializeAsString());
    ASSERT_FALSE(r.ok()) << "accepted a binding that should fail: " << why;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(why));
    EXPECT_FALSE(EncodeBody(body_).ok()) << "an issuer must not sign it either";
  }
  void PodOnly(const std::string& uid) {
    body_.mutable_binding()->set_cgroup_id(0);
    body_.mutable_binding()->set_pod_uid(uid);
  }
  void Path(const std::string& p) { body_.mutable_binding()->set_workload_path(p); }
  TestIssuer issuer_;
  v1::TaoBody body_ = issuer_.ValidBody();
};

TEST_F(BindingCodecTest, ShortPodUidRefused) { PodOnly("1"); ExpectRejected("canonical pod UID"); }
TEST_F(BindingCodecTest, UppercasePodUidRefused) {
  PodOnly("7D1E1F3A-5B6C-4D7E-8F90-A1B2C3D4E5F6");
  ExpectRejected("canonical pod UID");
}
TEST_F(BindingCodecTest, PodUidWithoutDashesRefused) {
  PodOnly("7d1e1f3a5b6c4d7e8f90a1b2c3d4e5f6");
  ExpectRejected("canonical pod UID");
}
TEST_F(BindingCodecTest, PodUidWithUnderscoresRefused) {
  PodOnly("7d1e1f3a_5b6c_4d7e_8f90_a1b2c3d4e5f6");
  ExpectRejected("canonical pod UID");
}
TEST_F(BindingCodecTest, PodUidWithSlashRefused) {
  PodOnly("7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f/");
  ExpectRejected("canonical pod UID");
}
TEST_F(BindingCodecTest, PodUidWithTrailingTextRefused) {
  PodOnly("7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6x");
  ExpectRejected("canonical pod UID");
}
TEST_F(BindingCodecTest, CanonicalPodUidAccepted) {
  PodOnly("7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6");
  EXPECT_TRUE(DecodeBody(body_.SerializeAsString()).ok());
}

TEST_F(BindingCodecTest, RelativeWorkloadPathRefused) { Path("taogate/w1"); ExpectRejected("workload_path"); }
TEST_F(BindingCodecTest, DotDotWorkloadPathRefused) { Path("/taogate/w1/../w2"); ExpectRejected("workload_path"); }
TEST_F(BindingCodecTest, DotWorkloadPathRefused) { Path("/taogate/./w1"); ExpectRejected("workload_path"); }
TEST_F(BindingCodecTest, EmptyComponentWorkloadPathRefused) { Path("/taogate//w1"); ExpectRejected("workload_path"); }
TEST_F(BindingCodecTest, TrailingSlashWorkloadPathRefused) { Path("/taogate/w1/"); ExpectRejected("workload_path"); }
TEST_F(BindingCodecTest, ControlCharacterWorkloadPathRefused) {
  Path("/taogate/w1\n");
  ExpectRejected("workload_path");
}
TEST_F(BindingCodecTest, OverlongWorkloadPathRefused) {
  Path("/" + std::string(kMaxPathBytes, 'a'));
  ExpectRejected("workload_path");
}
TEST_F(BindingCodecTest, RootWorkloadPathAccepted) {
  Path("/");
  EXPECT_TRUE(DecodeBody(body_.SerializeAsString()).ok());
}

// Every field at its limit still makes a body that the issuer encodes and
// every verifier decodes (the body limit is above the sum of the field limits).
TEST_F(BindingCodecTest, LargestValidBodyRoundTrips) {
  body_.set_actor(std::string(kMaxActorBytes, 'a'));
  body_.mutable_binding()->set_node_id(std::string(kMaxNodeIdBytes, 'n'));
  body_.mutable_binding()->set_pod_uid("7d1e1f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6");
  Path("/" + std::string(kMaxPathBytes - 1, 'p'));
  body_.set_action_class(std::string(kMaxActionClassBytes, 'c'));
  body_.mutable_target()->set_proto(v1::TARGET_PROTO_FILE);
  body_.mutable_target()->clear_address();
  body_.mutable_target()->set_port(0);
  body_.mutable_target()->set_path("/" + std::string(kMaxPathBytes - 1, 'f'));
  auto bytes = EncodeBody(body_);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(DecodeBody(*bytes).ok());
}

}  // namespace
}  // namespace taogate::tao
