// Segment files and the sequential scanner shared by Ledger::Open (recovery)
// and VerifyLedger (audit). Layout in ledger_format.h. Pure functions over
// bytes and files; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taogate/ledger/record.h"

namespace taogate::ledger {

std::string SegmentFileName(uint64_t first_seq);  // "seg-00000000000000000000.log"
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);
std::string EncodeSegmentHeader(uint64_t first_seq);
// first_seq, or DataLoss for a short header or wrong magic.
absl::StatusOr<uint64_t> DecodeSegmentHeader(std::string_view data);

enum class FrameStatus { kOk, kTruncatedHeader, kBadLength, kTruncatedPayload, kBadCrc };
struct FrameParse {
  FrameStatus status = FrameStatus::kOk;
  std::string_view payload;  // valid iff kOk
  size_t next = 0;           // offset after the frame iff kOk
};
// Parses the frame starting at data[offset] (offset < data.size()).
FrameParse ParseFrame(std::string_view data, size_t offset);
std::string_view FrameStatusName(FrameStatus s);

// A DataLoss status naming the record: "seq N (FILE offset X): why". The seq
// is also attached as a payload so callers can read it with BadSeq().
absl::Status CorruptionError(uint64_t seq, std::string_view file, uint64_t offset, std::string_view why);
std::optional<uint64_t> BadSeq(const absl::Status& status);

struct SegmentInfo {
  std::string path;
  uint64_t first_seq = 0;
  uint64_t valid_bytes = 0;  // header + whole valid frames
  uint64_t file_bytes = 0;
};

// Incomplete or corrupt bytes at the very end of the last segment, with no
// whole valid frame after them: what a crash during a write leaves. Bad bytes
// followed by any CRC-valid frame, or in an earlier segment, are corruption.
struct TornTail {
  uint64_t seq = 0;  // seq the first bad frame would have had
  size_t segment = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;  // bytes from offset to end of file
  std::string why;
};

struct ScanOutcome {
  std::vector<SegmentInfo> segments;
  uint64_t records = 0;
  uint64_t payload_bytes = 0;
  std::optional<TornTail> torn_tail;
};

// Called for each valid record in seq order with its header (already fully
// validated), payload bytes (DecodePayload them for the fields), segment
// file path and frame offset. A non-OK return stops the scan and is returned.
using RecordVisitor =
    std::function<absl::Status(const RecordHeader& r, std::string_view payload, const std::string& segment_path,
                               uint64_t offset)>;

// Largest tail (from the first bad frame to end of file) still treated as a
// torn write rather than corruption; a group-commit batch is capped below it.
inline constexpr uint64_t kMaxTornTailBytes = 8u << 20;
inline constexpr uint64_t kMaxBatchBytes = 4u << 20;

// Reads every segment in `dir` in order and checks segment headers, framing,
// CRCs, payload decoding, dense seqs and the hash chain. Corruption anywhere
// but a torn tail of the last segment is a CorruptionError.
absl::StatusOr<ScanOutcome> ScanLedger(const std::string& dir, const RecordVisitor& visit);

}  // namespace taogate::ledger
