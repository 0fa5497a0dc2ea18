#include "ledger/ledger_testing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "taogate/common/crypto.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/segment.h"

namespace taogate::ledger::testing {

Fields SampleFields(uint64_t i) {
  return {{"tao_id", StrCat("tao-", i)},
          {"cgroup_id", std::to_string(1000 + i % 7)},
          {"actor", "agent:billing"},
          {"target", "tcp/10.0.0.5:5432"},
          {"reason_code", "OK"}};
}

std::unique_ptr<Ed25519Signer> TestSigner() {
  std::vector<uint8_t> seed(32, 42);
  return *Ed25519Signer::Create("taogate.test/ledger", *crypto::Ed25519PrivateKey::FromSeed(seed));
}

LedgerOptions Options(const std::string& dir, Signer* signer) {
  LedgerOptions o;
  o.dir = dir;
  o.signer = signer;
  o.origin = "taogate.test/ledger";
  return o;
}

std::unique_ptr<Ledger> OpenOrDie(const LedgerOptions& o) {
  auto l = Ledger::Open(o);
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return nullptr;
  return std::move(*l);
}

void AppendSamples(Ledger& l, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    auto s = l.Append(RecordKind::kConsumed, SampleFields(l.Size()));
    ASSERT_TRUE(s.ok()) << s.status();
  }
}

std::string SegmentPath(const std::string& dir, uint64_t first_seq) {
  return dir + "/" + SegmentFileName(first_seq);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteBytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<uint64_t> FrameOffsets(const std::string& segment_path) {
  std::string d = ReadBytes(segment_path);
  std::vector<uint64_t> out;
  size_t off = format::kSegmentHeaderSize;
  while (off < d.size()) {
    FrameParse f = ParseFrame(d, off);
    if (f.status != FrameStatus::kOk) break;
    out.push_back(off);
    off = f.next;
  }
  return out;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::string d = ReadBytes(path);
  d.at(offset) ^= 0x20;
  WriteBytes(path, d);
}

void TruncateFile(const std::string& path, uint64_t size) {
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0);
}

std::string FrameAt(const std::string& data, uint64_t offset) {
  FrameParse f = ParseFrame(data, offset);
  EXPECT_EQ(f.status, FrameStatus::kOk);
  return data.substr(offset, f.next - offset);
}

}  // namespace taogate::ledger::testing
