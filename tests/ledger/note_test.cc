#include "taogate/ledger/note.h"

#include <gtest/gtest.h>

#include "taogate/common/crypto.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger {
namespace {

std::unique_ptr<Ed25519Signer> MakeSigner(std::string name = "taogate.example/ledger") {
  std::vector<uint8_t> seed(32, 7);
  auto key = crypto::Ed25519PrivateKey::FromSeed(seed);
  return *Ed25519Signer::Create(std::move(name), std::move(*key));
}

TEST(NoteTest, KeyHashIsFirstFourBytesOfSha256OfNameNewlineTypeKey) {
  auto s = MakeSigner("example.com/log");
  auto pub = s->PublicKey();
  std::string msg = "example.com/log\n\x01" + std::string(pub.begin(), pub.end());
  auto d = crypto::Sha256(msg);
  uint32_t want = uint32_t{d[0]} << 24 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 8 | d[3];
  EXPECT_EQ(s->KeyHash(), want);
  auto v = ParseNoteVerifier(s->VerifierKey());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "example.com/log");
  EXPECT_EQ(v->public_key, pub);
}

TEST(NoteTest, SignParseVerifyRoundTrip) {
  auto s = MakeSigner();
  CheckpointBody cp{"taogate/node/n1", 12345, LeafHash("x"), 1732233000000000000};
  std::string body = FormatCheckpointBody(cp);
  EXPECT_EQ(body, "taogate/node/n1\n12345\n" + Base64Encode(cp.root) + "\ntime 1732233000000000000\n");
  auto text = SignNote(body, *s);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\n\n\xE2\x80\x94 taogate.example/ledger "), std::string::npos);
  auto note = ParseSignedNote(*text);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->body, body);
  auto v = *ParseNoteVerifier(s->VerifierKey());
  EXPECT_TRUE(VerifyNote(*note, v).ok());
  auto parsed = ParseCheckpointBody(note->body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->tree_size, 12345u);
  EXPECT_EQ(parsed->root, cp.root);
  // PEM public keys work too (name taken from the signature line).
  auto pem_v = ParseNoteVerifier(crypto::Ed25519PublicKeyToPem(s->PublicKey()));
  ASSERT_TRUE(pem_v.ok()) << pem_v.status();
  EXPECT_TRUE(VerifyNote(*note, *pem_v).ok());
}

TEST(NoteTest, AlteredNoteOrOtherKeyIsUnauthenticated) {
  auto s = MakeSigner();
  std::string body = FormatCheckpointBody({"o", 10, LeafHash("x"), 1});
  std::string text = *SignNote(body, *s);
  auto v = *ParseNoteVerifier(s->VerifierKey());
  std::string altered = text;
  altered[2] = '1' == altered[2] ? '2' : '1';  // "o\n10" -> tree size changes
  auto note = ParseSignedNote(altered);
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(VerifyNote(*note, v).code(), absl::StatusCode::kUnauthenticated);
  auto other = *crypto::Ed25519PrivateKey::Generate();
  auto ov = *ParseNoteVerifier(Ed25519VerifierKey("taogate.example/ledger", other.PublicKey()));
  EXPECT_EQ(VerifyNote(*ParseSignedNote(text), ov).code(), absl::StatusCode::kUnauthenticated);
}

TEST(NoteTest, MalformedInputsRefused) {
  EXPECT_FALSE(ParseCheckpointBody("o\n01\nAAAA\ntime 1\n").ok());
  EXPECT_FALSE(ParseCheckpointBody("o\n1\n" + Base64Encode(LeafHash("x")) + "\ntime 1").ok());
  EXPECT_FALSE(ParseSignedNote("no signatures\n").ok());
  EXPECT_FALSE(ParseNoteVerifier("name+00000000+AAAA").ok());
  auto s = MakeSigner();
  std::string vk = s->VerifierKey();
  vk[vk.find('+') + 1] = vk[vk.find('+') + 1] == '0' ? '1' : '0';
  EXPECT_FALSE(ParseNoteVerifier(vk).ok());
  EXPECT_FALSE(Ed25519Signer::Create("has space", *crypto::Ed25519PrivateKey::Generate()).ok());
}

}  // namespace
}  // namespace taogate::ledger
