// keys init against a real swtpm: idempotent, non-exportable, refuses to
// clobber what it did not make, fails closed without a TPM.
#include <gtest/gtest.h>

#include "keys/keys_testing.h"
#include "src/esys.h"
#include "taogate/common/hex.h"
#include "taogate/keys/keys_init.h"
#include "taogate/keys/root_signer.h"

namespace taogate::keys {
namespace {

using taogate::testing::RunCommand;

class KeysInitTest : public testing::SwtpmTest {
 protected:
  absl::StatusOr<KeysInitResult> Init(bool force = false, uint32_t handle = kDefaultPersistentHandle) {
    KeysInitOptions o;
    o.tcti = tcti();
    o.force = force;
    o.persistent_handle = handle;
    return KeysInit(o);
  }
  // Number of transient objects loaded in the TPM right now.
  int TransientObjects() {
    auto ctx = internal::EsysContext::Open(tcti());
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    TPMI_YES_NO more;
    TPMS_CAPABILITY_DATA* data = nullptr;
    EXPECT_EQ(Esys_GetCapability(ctx->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                 TPM2_CAP_HANDLES, TPM2_TRANSIENT_FIRST, 16, &more, &data),
              TSS2_RC_SUCCESS);
    int n = data ? static_cast<int>(data->data.handles.count) : -1;
    Esys_Free(data);
    return n;
  }
};

TEST_F(KeysInitTest, CreatesOnceThenAdoptsTheSameKey) {
  auto first = Init();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->public_key.algorithm(), KeyAlgorithm::kEcdsaP256);
  auto second = Init();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->public_key.key_id(), first->public_key.key_id());
  auto read = ReadRootKey(tcti());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->der(), first->public_key.der());
}

TEST_F(KeysInitTest, KeyIsFixedToThisTpmAndCannotBeDuplicated) {
  ASSERT_TRUE(Init().ok());
  auto ctx = internal::EsysContext::Open(tcti());
  ASSERT_TRUE(ctx.ok());
  auto key = internal::OpenPersistent(ctx->get(), kDefaultPersistentHandle);
  ASSERT_TRUE(key.ok());
  auto pub = internal::ReadPublic(ctx->get(), key->get());
  ASSERT_TRUE(pub.ok());
  const TPMA_OBJECT a = (*pub)->publicArea.objectAttributes;
  EXPECT_TRUE(a & TPMA_OBJECT_FIXEDTPM);
  EXPECT_TRUE(a & TPMA_OBJECT_FIXEDPARENT);
  EXPECT_TRUE(a & TPMA_OBJECT_SENSITIVEDATAORIGIN);
  EXPECT_EQ((*pub)->publicArea.authPolicy.size, 0) << "a policy could authorise duplication";

  // The attack: export the private key wrapped for another parent
  // (TPM2_Duplicate, the only way a private key leaves a TPM).
  ESYS_TR session = ESYS_TR_NONE;
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_NULL;
  ASSERT_EQ(Esys_StartAuthSession(ctx->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session),
            TSS2_RC_SUCCESS);
  ASSERT_EQ(Esys_PolicyCommandCode(ctx->get(), session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   TPM2_CC_Duplicate),
            TSS2_RC_SUCCESS);
  TPMT_SYM_DEF_OBJECT no_wrap{};
  no_wrap.algorithm = TPM2_ALG_NULL;
  TPM2B_DATA* key_out = nullptr;
  TPM2B_PRIVATE* dup = nullptr;
  TPM2B_ENCRYPTED_SECRET* seed = nullptr;
  TSS2_RC rc = Esys_Duplicate(ctx->get(), key->get(), ESYS_TR_RH_NULL, session, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, &no_wrap, &key_out, &dup, &seed);
  EXPECT_NE(rc, TSS2_RC_SUCCESS) << "the TPM exported the root private key";
  EXPECT_EQ(dup, nullptr);
  Esys_Free(key_out);
  Esys_Free(dup);
  Esys_Free(seed);
  Esys_FlushContext(ctx->get(), session);
}

TEST_F(KeysInitTest, RefusesToOverwriteAnObjectItDidNotMake) {
  // Someone else's key (tpm2-tools' default RSA storage primary) at our handle.
  auto dir = dir_.path().string();
  auto created = RunCommand({"/usr/bin/tpm2_createprimary", "-T", tcti(), "-C", "o", "-c", dir + "/p.ctx"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto evicted = RunCommand({"/usr/bin/tpm2_evictcontrol", "-T", tcti(), "-C", "o", "-c", dir + "/p.ctx",
                             "0x81000010"});
  ASSERT_EQ(evicted.exit_code, 0) << evicted.err;
  // tpm2-tools without a resource manager leave the primary loaded.
  auto flushed = RunCommand({"/usr/bin/tpm2_flushcontext", "-T", tcti(), "-t"});
  ASSERT_EQ(flushed.exit_code, 0) << flushed.err;
  auto r = Init();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not a taogate root key"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("--force"), std::string::npos) << r.status();
  auto forced = Init(/*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_TRUE(forced->created);
}

TEST_F(KeysInitTest, RefusesADifferentKeyThanExpected) {
  auto first = Init();
  ASSERT_TRUE(first.ok());
  KeysInitOptions o;
  o.tcti = tcti();
  o.expected_key_id = KeyId{};  // some other key's id
  auto r = KeysInit(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find(ToHex(first->public_key.key_id())), std::string::npos);
  o.expected_key_id = first->public_key.key_id();
  EXPECT_TRUE(KeysInit(o).ok());
}

TEST_F(KeysInitTest, ForceRotatesToANewKey) {
  auto first = Init();
  ASSERT_TRUE(first.ok());
  auto second = Init(/*force=*/true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->created);
  EXPECT_NE(second->public_key.key_id(), first->public_key.key_id());
}

TEST_F(KeysInitTest, LeavesNoTransientObjectsBehind) {
  // swtpm has 3 object slots: a leak per init would fail the third round.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Init(/*force=*/true).ok()) << i;
  EXPECT_EQ(TransientObjects(), 0);
}

// Interop: the key id and the certificate signatures are what a third party
// computes with the openssl CLI from the published PEM.
TEST_F(KeysInitTest, KeyIdAndSignaturesCheckOutWithOpenSslCli) {
  auto init = Init();
  ASSERT_TRUE(init.ok());
  auto dir = dir_.path();
  taogate::testing::WriteFile(dir / "root.pem", init->public_key.ToPem());
  auto der = RunCommand({"/usr/bin/openssl", "pkey", "-pubin", "-in", (dir / "root.pem").string(),
                         "-outform", "DER", "-out", (dir / "root.der").string()});
  ASSERT_EQ(der.exit_code, 0) << der.err;
  EXPECT_EQ(ToHex(crypto::Sha256(taogate::testing::ReadFile(dir / "root.der"))),
            ToHex(init->public_key.key_id()));

  TpmRootSignerOptions so;
  so.tcti = tcti();
  auto root = TpmRootSigner::Open(so);
  ASSERT_TRUE(root.ok()) << root.status();
  std::string msg = std::string(kIssuerCertDomain) + "certificate body bytes";
  auto sig = (*root)->Sign(msg);
  ASSERT_TRUE(sig.ok()) << sig.status();
  taogate::testing::WriteFile(dir / "msg.bin", msg);
  taogate::testing::WriteFile(dir / "sig.der", *sig);
  auto verify = RunCommand({"/usr/bin/openssl", "dgst", "-sha256", "-verify", (dir / "root.pem").string(),
                            "-signature", (dir / "sig.der").string(), (dir / "msg.bin").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("Verified OK"), std::string::npos) << verify.out;
}

TEST_F(KeysInitTest, OwnerAuthorizationIsUsedWhenThePlatformSetOne) {
  auto set = RunCommand({"/usr/bin/tpm2_changeauth", "-T", tcti(), "-c", "owner", "owner-secret"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  auto without = Init();
  EXPECT_EQ(without.status().code(), absl::StatusCode::kPermissionDenied) << without.status();
  EXPECT_NE(without.status().message().find("authorization"), std::string::npos) << without.status();
  KeysInitOptions o;
  o.tcti = tcti();
  o.owner_auth = "wrong";
  EXPECT_EQ(KeysInit(o).status().code(), absl::StatusCode::kPermissionDenied);
  o.owner_auth = "owner-secret";
  auto with = KeysInit(o);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_TRUE(with->created);
  EXPECT_EQ(TransientObjects(), 0);
}

TEST_F(KeysInitTest, HandleOutsideOwnerRangeRefused) {
  EXPECT_EQ(Init(false, 0x01000000).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeysInitTest, MissingTpmFailsWithAClearError) {
  KeysInitOptions o;
  o.tcti = "swtpm:path=" + (dir_.path() / "no-such.sock").string();
  auto r = KeysInit(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("TPM"), std::string::npos) << r.status();
  EXPECT_EQ(ReadRootKey(tcti()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KeysInitTest, CliInitIsIdempotentAndPrintsTheKey) {
  auto bin = taogate::testing::BinPath("taogatectl");
  auto a = RunCommand({bin, "keys", "init", "--tcti", tcti()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = RunCommand({bin, "keys", "init", "--tcti", tcti()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto key = ReadRootKey(tcti());
  ASSERT_TRUE(key.ok());
  EXPECT_NE(a.out.find(ToHex(key->key_id())), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("created"), std::string::npos) << a.out;
  EXPECT_NE(b.out.find("adopted"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("-----BEGIN PUBLIC KEY-----"), std::string::npos) << b.out;
}

}  // namespace
}  // namespace taogate::keys
