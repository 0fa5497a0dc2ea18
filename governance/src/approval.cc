#include "taogate/governance/approval.h"

#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/governance/governor_format.h"

namespace taogate::governance {

absl::StatusOr<std::string> ApprovalMessage(std::string_view decision_id,
                                            std::string_view intent_sha256, uint8_t verdict,
                                            std::string_view nonce, int64_t issued_at_ms) {
  if (intent_sha256.size() != 32) return absl::InvalidArgumentError("intent_sha256 must be 32 bytes");
  if (nonce.size() != kApprovalNonceBytes) return absl::InvalidArgumentError("nonce must be 16 bytes");
  if (decision_id.empty() || decision_id.find('\0') != std::string_view::npos)
    return absl::InvalidArgumentError("bad decision_id");
  if (verdict != kVerdictApprove && verdict != kVerdictReject)
    return absl::InvalidArgumentError("bad verdict");
  std::string m(kApprovalDomain);
  m.append(decision_id);
  m.push_back('\0');
  m.append(intent_sha256);
  m.push_back(static_cast<char>(verdict));
  m.append(nonce);
  uint64_t t = static_cast<uint64_t>(issued_at_ms);
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((t >> (8 * i)) & 0xff));
  return m;
}

std::string ApproverKeyId(std::span<const uint8_t> public_key) {
  return ToHex(crypto::Sha256(public_key));
}

absl::StatusOr<v1::ApprovalRequest> SignApproval(const v1::Decision& decision, bool approve,
                                                 const crypto::Ed25519PrivateKey& key,
                                                 int64_t now_ms) {
  std::string nonce(kApprovalNonceBytes, '\0');
  TG_RETURN_IF_ERROR(crypto::RandomBytes(
      {reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()}));
  TG_ASSIGN_OR_RETURN(std::string msg,
                      ApprovalMessage(decision.decision_id(), decision.intent_sha256(),
                                      approve ? kVerdictApprove : kVerdictReject, nonce, now_ms));
  TG_ASSIGN_OR_RETURN(auto sig, key.Sign(crypto::AsBytes(msg)));
  v1::ApprovalRequest r;
  r.set_decision_id(decision.decision_id());
  r.set_intent_sha256(decision.intent_sha256());
  r.set_nonce(nonce);
  r.set_issued_at_ms(now_ms);
  r.set_approver_key_id(ApproverKeyId(key.PublicKey()));
  r.set_signature(sig.data(), sig.size());
  return r;
}

}  // namespace taogate::governance
