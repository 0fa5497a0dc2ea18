// Ledger open/recovery, reads and proofs. Appends live in ledger_append.cc.
#include "taogate/ledger/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "fileio.h"
#include "ledger_impl.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/segment.h"
#include "taogate/runtime/health.h"
#include "rollback.h"

namespace taogate::ledger {
namespace {

// The rollback guard (ledger.h). Runs before Open changes any file; with
// accept_loss it moves the damage aside instead of refusing.
absl::Status GuardRollback(const LedgerOptions& o, const ScanOutcome& scan, const MerkleTree& tree,
                           RecoveryInfo& recovery, std::optional<rollback::Mark>& mark) {
  auto read = rollback::ReadMark(o.dir);
  absl::Status guard = read.status();
  if (read.ok()) {
    mark = *read;
    if (mark) guard = rollback::Check(*mark, tree, o.dir, scan);
  }
  if (guard.ok()) return guard;
  if (!o.accept_loss) {
    log::Error("ledger: refusing to open", {{"dir", o.dir}, {"error", std::string(guard.message())}});
    return guard;
  }
  // Lost records start at the recovered size; a rewrite may start anywhere.
  bool short_ledger = mark && mark->size > tree.Size();
  TG_ASSIGN_OR_RETURN(std::string aside, rollback::MoveAside(o.dir, scan, short_ledger || !mark ? tree.Size() : 0));
  recovery.loss_accepted = true;
  recovery.checkpoint_size = mark ? mark->size : 0;
  recovery.recovered_size = tree.Size();
  recovery.moved_aside_to = aside;
  recovery.loss = std::string(guard.message());
  mark.reset();
  log::Warn("ledger: operator accepted the loss of signed records",
            {{"dir", o.dir}, {"moved_aside_to", aside}, {"error", recovery.loss}});
  return absl::OkStatus();
}

}  // namespace

Ledger::Ledger(const LedgerOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("ledger: empty directory");
  std::unique_ptr<Ledger> l(new Ledger(options));
  TG_RETURN_IF_ERROR(l->Load());
  if (!options.read_only) TG_RETURN_IF_ERROR(l->AppendOpenRecords());
  Impl* im = l->impl_.get();
  if (options.signer && !options.read_only) {
    Ledger* self = l.get();
    im->checkpointer.Start(
        options.checkpoint_every_records, options.checkpoint_every, &im->checkpoint_mu,
        [im]() -> uint64_t {
          std::lock_guard g(im->mu);
          return im->broken.ok() ? im->SinceCheckpoint() : 0;
        },
        [self] { return self->Checkpoint(); });
  }
  return l;
}

Ledger::~Ledger() {
  impl_->checkpointer.Close();
  // Segment fds and then the directory lock close with impl_.
}

absl::Status Ledger::Load() {
  Impl& im = *impl_;
  const std::string& dir = options_.dir;
  if (!options_.read_only) {
    std::error_code ec;
    bool created = std::filesystem::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(StrCat("create ", dir, ": ", ec.message()));
    if (created) {  // make the new directory's own entry durable
      std::string parent = std::filesystem::absolute(dir).parent_path().string();
      TG_RETURN_IF_ERROR(fileio::FsyncDir(parent));
    }
    std::string lock = StrCat(dir, "/LOCK");
    im.lock_fd.Reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!im.lock_fd) return ErrnoStatus(errno, StrCat("open ", lock));
    if (::flock(im.lock_fd.get(), LOCK_EX | LOCK_NB) != 0)
      return absl::FailedPreconditionError(StrCat(dir, ": ledger is open by another writer"));
  }
  std::optional<Record> last_checkpoint;
  auto scan = ScanLedger(dir, [&](const RecordHeader& r, std::string_view payload, const std::string&, uint64_t off) {
    im.offsets.push_back(off);
    im.tree.Append(r.hash);
    if (r.kind == RecordKind::kCheckpoint || r.kind == RecordKind::kKeyRotated) {
      auto rec = DecodePayload(payload, r.hash);
      if (!rec.ok()) return rec.status();
      if (r.kind == RecordKind::kCheckpoint) {
        last_checkpoint = std::move(*rec);
      } else if (auto scope = rec->Field("scope"), key = rec->Field("key_id"); scope && key) {
        im.key_by_scope[std::string(*scope)] = std::string(*key);
      }
    }
    return absl::OkStatus();
  });
  if (!scan.ok()) return scan.status();
  std::optional<rollback::Mark> mark;
  if (!options_.read_only) TG_RETURN_IF_ERROR(GuardRollback(options_, *scan, im.tree, recovery_, mark));
  std::vector<SegmentInfo> segs = scan->segments;
  if (scan->torn_tail) {
    const TornTail& t = *scan->torn_tail;
    recovery_.truncated_tail = true;
    recovery_.tail_seq = t.seq;
    recovery_.file = segs[t.segment].path;
    recovery_.offset = t.offset;
    recovery_.bytes_dropped = t.bytes;
    recovery_.why = t.why;
    if (!options_.read_only) {
      const std::string& path = segs[t.segment].path;
      if (t.offset == 0) {
        if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, StrCat("unlink ", path));
        segs.pop_back();
      } else {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(t.offset)) != 0 || ::fsync(fd.get()) != 0)
          return ErrnoStatus(errno, StrCat("truncate torn tail of ", path));
      }
      TG_RETURN_IF_ERROR(fileio::FsyncDir(dir));
      log::Warn("ledger: truncated torn tail",
                {{"dir", dir}, {"file", path}, {"offset", std::to_string(t.offset)},
                 {"bytes", std::to_string(t.bytes)}, {"seq", std::to_string(t.seq)}, {"why", t.why}});
    } else if (t.offset == 0) {
      segs.pop_back();
    }
  }
  for (const SegmentInfo& s : segs) {
    UniqueFd fd(::open(s.path.c_str(), (options_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) return ErrnoStatus(errno, StrCat("open ", s.path));
    im.segments.push_back({s.first_seq, s.path, std::move(fd)});
  }
  im.next_seq = scan->records;
  im.durable_size = scan->records;
  im.last_hash = scan->records > 0 ? im.tree.Leaf(scan->records - 1) : Hash{};
  if (last_checkpoint) {
    im.last_checkpoint_size = last_checkpoint->seq;  // a CHECKPOINT at seq N covers N records
    auto note = NoteFromCheckpointRecord(*last_checkpoint);
    if (note.ok()) im.latest_note = *note;
    // A crash between the CHECKPOINT record and DIR/checkpoint leaves the
    // file one checkpoint behind: catch the high-water mark up (only with a
    // note that matches the records; verify reports any other).
    auto root = Base64Decode(last_checkpoint->Field("root_hash").value_or(""));
    auto tree_root = im.tree.RootAt(last_checkpoint->seq);
    bool matches = root.ok() && tree_root.ok() && *root == std::string(tree_root->begin(), tree_root->end());
    if (note.ok() && matches && (!mark || last_checkpoint->seq > mark->size) && !options_.read_only)
      TG_RETURN_IF_ERROR(fileio::WriteFileAtomic(dir, "checkpoint", *note));
  }
  if (im.segments.empty()) {
    if (options_.read_only) return absl::OkStatus();
    TG_RETURN_IF_ERROR(im.StartSegment(scan->records));
  } else {
    im.write_offset = segs.back().valid_bytes;
    if (scan->torn_tail && scan->torn_tail->segment == segs.size() - 1) im.write_offset = scan->torn_tail->offset;
  }
  return absl::OkStatus();
}

uint64_t Ledger::Size() const { return impl_->durable_size.load(std::memory_order_acquire); }

size_t Ledger::Impl::SegmentIndex(uint64_t seq) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), seq,
                             [](uint64_t s, const SegmentFile& f) { return s < f.first_seq; });
  return static_cast<size_t>(it - segments.begin()) - 1;
}

absl::StatusOr<Record> Ledger::Impl::ReadLocked(uint64_t seq) const {
  if (seq >= offsets.size()) return absl::OutOfRangeError(StrCat("seq ", seq, " >= ledger size ", offsets.size()));
  const SegmentFile& seg = segments[SegmentIndex(seq)];
  uint64_t off = offsets[seq];
  TG_ASSIGN_OR_RETURN(std::string hdr, fileio::PReadExact(seg.fd.get(), off, format::kFrameHeaderSize, seg.path));
  uint32_t len = 0;
  for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(hdr[static_cast<size_t>(i)]);
  if (len == 0 || len > format::kMaxPayloadSize) return CorruptionError(seq, seg.path, off, "invalid frame length");
  TG_ASSIGN_OR_RETURN(std::string frame, fileio::PReadExact(seg.fd.get(), off, format::kFrameHeaderSize + len, seg.path));
  FrameParse f = ParseFrame(frame, 0);
  if (f.status != FrameStatus::kOk) return CorruptionError(seq, seg.path, off, FrameStatusName(f.status));
  auto rec = DecodePayload(f.payload);
  if (!rec.ok()) return CorruptionError(seq, seg.path, off, std::string(rec.status().message()));
  if (rec->seq != seq || rec->hash != tree.Leaf(seq))
    return CorruptionError(seq, seg.path, off, "record changed on disk since it was appended");
  return rec;
}

absl::StatusOr<Record> Ledger::Read(uint64_t seq) const {
  std::shared_lock s(impl_->state_mu);
  return impl_->ReadLocked(seq);
}

absl::Status Ledger::Impl::ReadBatch(uint64_t seq, uint64_t n, std::vector<Record>& out) const {
  constexpr uint64_t kChunkBytes = 1 << 20;
  std::shared_lock s(state_mu);
  size_t si = SegmentIndex(seq);
  const SegmentFile& seg = segments[si];
  uint64_t seg_end = si + 1 < segments.size() ? std::min(n, segments[si + 1].first_seq) : n;
  uint64_t end = seq + 1;
  while (end < seg_end && offsets[end] - offsets[seq] < kChunkBytes) ++end;
  uint64_t start = offsets[seq], stop;
  if (end < seg_end) {
    stop = offsets[end];
  } else {  // the segment's last wanted frame: its length is in its header
    TG_ASSIGN_OR_RETURN(std::string hdr, fileio::PReadExact(seg.fd.get(), offsets[end - 1], format::kFrameHeaderSize, seg.path));
    uint32_t len = 0;
    for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(hdr[static_cast<size_t>(i)]);
    if (len == 0 || len > format::kMaxPayloadSize) return CorruptionError(end - 1, seg.path, offsets[end - 1], "invalid frame length");
    stop = offsets[end - 1] + format::kFrameHeaderSize + len;
  }
  TG_ASSIGN_OR_RETURN(std::string buf, fileio::PReadExact(seg.fd.get(), start, stop - start, seg.path));
  for (uint64_t k = seq; k < end; ++k) {
    FrameParse f = ParseFrame(buf, offsets[k] - start);
    if (f.status != FrameStatus::kOk) return CorruptionError(k, seg.path, offsets[k], FrameStatusName(f.status));
    auto rec = DecodePayload(f.payload);
    if (!rec.ok()) return CorruptionError(k, seg.path, offsets[k], std::string(rec.status().message()));
    if (rec->seq != k || rec->hash != tree.Leaf(k))
      return CorruptionError(k, seg.path, offsets[k], "record changed on disk since it was appended");
    out.push_back(std::move(*rec));
  }
  return absl::OkStatus();
}

absl::Status Ledger::Scan(uint64_t from, const std::function<bool(const Record&)>& fn) const {
  // Reads up to 1 MiB of frames per pread; fn runs without any ledger lock.
  const uint64_t n = Size();
  std::vector<Record> batch;
  for (uint64_t seq = from; seq < n; seq += batch.size()) {
    batch.clear();
    TG_RETURN_IF_ERROR(impl_->ReadBatch(seq, n, batch));
    for (const Record& r : batch)
      if (!fn(r)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<Hash> Ledger::RootAt(uint64_t tree_size) const {
  std::shared_lock s(impl_->state_mu);
  return impl_->tree.RootAt(tree_size);
}

absl::StatusOr<InclusionProof> Ledger::ProveInclusion(uint64_t seq, uint64_t tree_size) const {
  std::shared_lock s(impl_->state_mu);
  InclusionProof p;
  TG_ASSIGN_OR_RETURN(p.path, impl_->tree.InclusionProof(seq, tree_size));
  TG_ASSIGN_OR_RETURN(p.root, impl_->tree.RootAt(tree_size));
  p.seq = seq;
  p.tree_size = tree_size;
  p.leaf_hash = impl_->tree.Leaf(seq);
  return p;
}

absl::StatusOr<std::vector<Hash>> Ledger::ProveConsistency(uint64_t from_size, uint64_t to_size) const {
  std::shared_lock s(impl_->state_mu);
  return impl_->tree.ConsistencyProof(from_size, to_size);
}

absl::Status Ledger::Writable() const {
  constexpr uint64_t kMinFreeBytes = 8ull << 20;
  return runtime::CheckDirAppendable(options_.dir, kMinFreeBytes);
}

std::optional<std::string> Ledger::LatestCheckpoint() const {
  std::lock_guard g(impl_->mu);
  return impl_->latest_note;
}

absl::StatusOr<std::string> NoteFromCheckpointRecord(const Record& r) {
  if (r.kind != RecordKind::kCheckpoint) return absl::InvalidArgumentError("not a CHECKPOINT record");
  auto origin = r.Field("origin"), size = r.Field("tree_size"), root = r.Field("root_hash"),
       time = r.Field("time_ns"), key = r.Field("key_name"), sig = r.Field("signature");
  if (!origin || !size || !root || !time || !key || !sig)
    return absl::DataLossError("CHECKPOINT record lacks a required field");
  std::string body = StrCat(*origin, "\n", *size, "\n", *root, "\ntime ", *time, "\n");
  TG_RETURN_IF_ERROR(ParseCheckpointBody(body).status());
  return StrCat(body, "\n\xE2\x80\x94 ", *key, " ", *sig, "\n");
}

}  // namespace taogate::ledger
