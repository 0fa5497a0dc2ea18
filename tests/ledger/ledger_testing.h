// Helpers for ledger tests: sample records, a deterministic signer, and
// verbs that edit segment files the way an attacker or a crash would.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "taogate/ledger/ledger.h"
#include "taogate/ledger/signer.h"

namespace taogate::ledger::testing {

Fields SampleFields(uint64_t i);
std::unique_ptr<Ed25519Signer> TestSigner();
LedgerOptions Options(const std::string& dir, Signer* signer = nullptr);
// Opens (or dies in the test), appends n sample records, returns the ledger.
std::unique_ptr<Ledger> OpenOrDie(const LedgerOptions& o);
void AppendSamples(Ledger& l, uint64_t n);

std::string SegmentPath(const std::string& dir, uint64_t first_seq = 0);
// Frame offsets of every whole frame in a segment file.
std::vector<uint64_t> FrameOffsets(const std::string& segment_path);
std::string ReadBytes(const std::string& path);
void WriteBytes(const std::string& path, const std::string& data);
void FlipByte(const std::string& path, uint64_t offset);
void TruncateFile(const std::string& path, uint64_t size);
// The whole frame (header + payload) starting at `offset`.
std::string FrameAt(const std::string& data, uint64_t offset);

}  // namespace taogate::ledger::testing
