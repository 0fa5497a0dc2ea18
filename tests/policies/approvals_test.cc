// Approver keys from the bundle and the distinct-approver count, as attacks.
#include <gtest/gtest.h>

#include "policy_testing.h"

namespace taogate::policies {
namespace {

using namespace testing;

class ApprovalsTest : public ::testing::Test {
 protected:
  std::vector<uint8_t> Sign(int key, const std::string& msg) {
    auto sig = ApproverKey(key).Sign(crypto::AsBytes(msg));
    return {sig->begin(), sig->end()};
  }
  std::shared_ptr<const Policy> p_ = TestPolicy();
  ApprovalSpec spec_{{"dba"}, 2};
  const std::string msg_ = "decision-id|intent-hash|1700000000";
};

TEST_F(ApprovalsTest, SignatureVerifiesUnderListedKey) {
  EXPECT_TRUE(p_->VerifyApproverSignature(kAlice, crypto::AsBytes(msg_), Sign(1, msg_)).ok());
  EXPECT_TRUE(p_->VerifyApproverSignature(kBob, crypto::AsBytes(msg_), Sign(2, msg_)).ok());
}

TEST_F(ApprovalsTest, SignatureByAnotherApproversKeyRefused) {
  // bob's signature presented as alice's.
  EXPECT_EQ(p_->VerifyApproverSignature(kAlice, crypto::AsBytes(msg_), Sign(2, msg_)).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(ApprovalsTest, UnlistedKeyRefused) {
  EXPECT_EQ(p_->VerifyApproverSignature(kAlice, crypto::AsBytes(msg_), Sign(3, msg_)).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(ApprovalsTest, SignatureOverOtherMessageRefused) {
  EXPECT_FALSE(
      p_->VerifyApproverSignature(kAlice, crypto::AsBytes(msg_ + "x"), Sign(1, msg_)).ok());
}

TEST_F(ApprovalsTest, ActorWithoutKeysCannotApprove) {
  EXPECT_EQ(p_->VerifyApproverSignature(kCarol, crypto::AsBytes(msg_), Sign(3, msg_)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(p_->VerifyApproverSignature("spiffe://nobody", crypto::AsBytes(msg_), Sign(1, msg_))
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ApprovalsTest, TwoDistinctDbasSatisfy) {
  std::vector<std::string> who{kAlice, kBob};
  EXPECT_TRUE(p_->CheckApprovals(spec_, kWriter, who).ok());
}

TEST_F(ApprovalsTest, SameApproverTwiceCountsOnce) {
  std::vector<std::string> who{kAlice, kAlice};
  absl::Status s = p_->CheckApprovals(spec_, kWriter, who);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("1 of 2"), std::string::npos);
}

TEST_F(ApprovalsTest, SelfApprovalRefused) {
  ApprovalSpec one{{"dba"}, 1};
  std::vector<std::string> who{kBob, kAlice};
  EXPECT_EQ(p_->CheckApprovals(one, kBob, who).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ApprovalsTest, WrongRoleOrNoKeyDoesNotCount) {
  // carol is on call (not dba) and has no key; the reporter agent is no dba.
  std::vector<std::string> who{kAlice, kCarol, kReporter, "spiffe://unknown"};
  EXPECT_EQ(p_->CheckApprovals(spec_, kWriter, who).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace taogate::policies
