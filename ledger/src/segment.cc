#include "taogate/ledger/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/cord.h"
#include "taogate/common/fd.h"
#include "taogate/common/hex.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/ledger_format.h"

namespace taogate::ledger {
namespace {

constexpr std::string_view kBadSeqPayload = "type.taogate.dev/ledger.bad_seq";

uint32_t GetU32(const char* p) {
  return uint32_t{static_cast<uint8_t>(p[0])} | uint32_t{static_cast<uint8_t>(p[1])} << 8 |
         uint32_t{static_cast<uint8_t>(p[2])} << 16 | uint32_t{static_cast<uint8_t>(p[3])} << 24;
}

// A read-only private mapping of a whole file (no copy into the heap).
class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus(errno, StrCat("open ", path));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, StrCat("stat ", path));
    MappedFile m;
    m.size_ = static_cast<size_t>(st.st_size);
    if (m.size_ == 0) return m;
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (p == MAP_FAILED) return ErrnoStatus(errno, StrCat("mmap ", path));
    ::madvise(p, m.size_, MADV_SEQUENTIAL);
    m.data_ = static_cast<const char*>(p);
    return m;
  }
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  std::string_view view() const { return {data_ ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// True if any CRC-valid frame starts after `from`: then the bad bytes before
// it are not a torn final write but damage in the middle of the ledger.
bool AnyValidFrameAfter(std::string_view d, size_t from) {
  for (size_t pos = from; pos + format::kFrameHeaderSize + format::kPayloadFixedSize <= d.size(); ++pos) {
    uint32_t len = GetU32(d.data() + pos);
    if (len < format::kPayloadFixedSize || len > format::kMaxPayloadSize) continue;
    if (ParseFrame(d, pos).status == FrameStatus::kOk) return true;
  }
  return false;
}

// Leaf hashes of all payloads, split across the machine's cores.
std::vector<Hash> LeafHashes(const std::vector<std::pair<size_t, std::string_view>>& frames) {
  std::vector<Hash> out(frames.size());
  auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = LeafHash(frames[i].second);
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  if (frames.size() < 4096 || threads == 1) {
    work(0, frames.size());
    return out;
  }
  std::vector<std::thread> ts;
  size_t chunk = (frames.size() + threads - 1) / threads;
  for (size_t t = 1; t < threads; ++t)
    ts.emplace_back(work, std::min(frames.size(), t * chunk), std::min(frames.size(), (t + 1) * chunk));
  work(0, std::min(frames.size(), chunk));
  for (auto& t : ts) t.join();
  return out;
}

}  // namespace

std::string SegmentFileName(uint64_t first_seq) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "seg-%020llu.log", static_cast<unsigned long long>(first_seq));
  return buf;
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view n) {
  if (n.size() != 28 || !n.starts_with("seg-") || !n.ends_with(".log")) return std::nullopt;
  std::string_view digits = n.substr(4, 20);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return v;
}

std::string EncodeSegmentHeader(uint64_t first_seq) {
  std::string h(format::kSegmentMagic, sizeof(format::kSegmentMagic));
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((first_seq >> (8 * i)) & 0xff));
  return h;
}

absl::StatusOr<uint64_t> DecodeSegmentHeader(std::string_view d) {
  if (d.size() < format::kSegmentHeaderSize) return absl::DataLossError("segment header truncated");
  if (std::memcmp(d.data(), format::kSegmentMagic, sizeof(format::kSegmentMagic)) != 0)
    return absl::DataLossError("bad segment magic");
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(d[8 + static_cast<size_t>(i)]);
  return v;
}

FrameParse ParseFrame(std::string_view d, size_t off) {
  FrameParse r;
  if (d.size() - off < format::kFrameHeaderSize) {
    r.status = FrameStatus::kTruncatedHeader;
    return r;
  }
  uint32_t len = GetU32(d.data() + off);
  uint32_t crc = GetU32(d.data() + off + 4);
  if (len == 0 || len > format::kMaxPayloadSize) {
    r.status = FrameStatus::kBadLength;
    return r;
  }
  if (d.size() - off - format::kFrameHeaderSize < len) {
    r.status = FrameStatus::kTruncatedPayload;
    return r;
  }
  std::string_view payload = d.substr(off + format::kFrameHeaderSize, len);
  if (FrameCrc(payload) != crc) {
    r.status = FrameStatus::kBadCrc;
    return r;
  }
  r.payload = payload;
  r.next = off + format::kFrameHeaderSize + len;
  return r;
}

std::string_view FrameStatusName(FrameStatus s) {
  switch (s) {
    case FrameStatus::kOk: return "ok";
    case FrameStatus::kTruncatedHeader: return "truncated frame header";
    case FrameStatus::kBadLength: return "invalid frame length";
    case FrameStatus::kTruncatedPayload: return "frame extends past end of file";
    case FrameStatus::kBadCrc: return "CRC32C mismatch";
  }
  return "?";
}

absl::Status CorruptionError(uint64_t seq, std::string_view file, uint64_t offset, std::string_view why) {
  absl::Status s = absl::DataLossError(StrCat("seq ", seq, " (", file, " offset ", offset, "): ", why));
  s.SetPayload(absl::string_view(kBadSeqPayload.data(), kBadSeqPayload.size()),
               absl::Cord(absl::string_view(std::to_string(seq))));
  return s;
}

std::optional<uint64_t> BadSeq(const absl::Status& status) {
  auto p = status.GetPayload(absl::string_view(kBadSeqPayload.data(), kBadSeqPayload.size()));
  if (!p) return std::nullopt;
  std::string s(*p);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

absl::StatusOr<ScanOutcome> ScanLedger(const std::string& dir, const RecordVisitor& visit) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(StrCat(dir, ": not a ledger directory"));
  ScanOutcome out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto first = ParseSegmentFileName(e.path().filename().string());
    if (first) out.segments.push_back({e.path().string(), *first, 0, 0});
  }
  if (ec) return absl::UnavailableError(StrCat(dir, ": ", ec.message()));
  std::sort(out.segments.begin(), out.segments.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.first_seq < b.first_seq; });
  uint64_t seq = 0;
  Hash prev{};
  for (size_t si = 0; si < out.segments.size(); ++si) {
    SegmentInfo& seg = out.segments[si];
    bool last = si + 1 == out.segments.size();
    auto mapped = MappedFile::Open(seg.path);
    if (!mapped.ok()) return mapped.status();
    std::optional<std::string_view> data = mapped->view();
    seg.file_bytes = data->size();
    auto hdr = DecodeSegmentHeader(*data);
    if (!hdr.ok()) {
      if (last && data->size() < format::kSegmentHeaderSize && seg.first_seq == seq) {
        out.torn_tail = TornTail{seq, si, 0, data->size(), "segment header truncated"};
        break;
      }
      return CorruptionError(seq, seg.path, 0, std::string(hdr.status().message()));
    }
    if (*hdr != seg.first_seq || seg.first_seq != seq)
      return CorruptionError(seq, seg.path, 0,
                             StrCat("segment starts at seq ", *hdr, " (file name says ", seg.first_seq,
                                    "), want ", seq, ": records missing or out of order"));
    // Pass 1 (sequential, cheap): frame boundaries and CRCs, up to the first
    // bad frame. Pass 2 (parallel): leaf hashes, the dominant cost. Pass 3
    // (sequential): decode, seq and chain checks in seq order, so the first
    // bad seq is reported even when a later frame is also bad.
    std::vector<std::pair<size_t, std::string_view>> frames;
    size_t off = format::kSegmentHeaderSize;
    std::optional<FrameParse> bad;
    while (off < data->size()) {
      FrameParse f = ParseFrame(*data, off);
      if (f.status != FrameStatus::kOk) {
        bad = f;
        break;
      }
      frames.emplace_back(off, f.payload);
      off = f.next;
    }
    std::vector<Hash> hashes = LeafHashes(frames);
    for (size_t i = 0; i < frames.size(); ++i) {
      auto [foff, payload] = frames[i];
      auto rec = CheckPayload(payload, hashes[i]);
      if (!rec.ok()) return CorruptionError(seq, seg.path, foff, std::string(rec.status().message()));
      if (rec->seq != seq)
        return CorruptionError(seq, seg.path, foff,
                               StrCat("found seq ", rec->seq, " where seq ", seq,
                                      " belongs: records missing, reordered or inserted"));
      if (rec->prev_hash != prev)
        return CorruptionError(seq, seg.path, foff,
                               seq == 0 ? std::string("first record's prev_hash is not zero")
                                        : StrCat("prev_hash does not match the hash of seq ", seq - 1,
                                                 ": seq ", seq - 1, " altered or seq ", seq, " forged"));
      if (visit) {
        absl::Status s = visit(*rec, payload, seg.path, foff);
        if (!s.ok()) return s;
      }
      prev = rec->hash;
      out.payload_bytes += payload.size();
      ++seq;
    }
    if (bad) {
      uint64_t rest = data->size() - off;
      if (last && rest <= kMaxTornTailBytes && !AnyValidFrameAfter(*data, off + 1)) {
        out.torn_tail = TornTail{seq, si, off, rest, std::string(FrameStatusName(bad->status))};
      } else {
        return CorruptionError(seq, seg.path, off, FrameStatusName(bad->status));
      }
    }
    seg.valid_bytes = out.torn_tail ? out.torn_tail->offset : data->size();
    if (out.torn_tail) break;
  }
  out.records = seq;
  return out;
}

}  // namespace taogate::ledger
