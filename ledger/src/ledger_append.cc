// Group commit and checkpoints.
//
// Appenders enqueue a framed record under `mu` (which fixes its seq and
// prev_hash) and then wait. Whoever finds no flush in progress becomes the
// leader: it takes the queue, writes it with one pwrite at the segment's end
// and one fdatasync without holding `mu`, then publishes the records to
// readers and wakes everyone. Records that arrive meanwhile form the next
// batch, so under load each fdatasync carries many records.
//
// The batch grows with the sync latency: a flush wakes its appenders, and the
// first of them back becomes the next leader before the others have queued
// again (on two cores, sixteen wake-ups take longer than a fast fdatasync).
// So a leader first gathers: it waits, for at most one recent flush time,
// until as many records are queued as appenders took part in the last cycle
// (its batch plus the records queued behind it). One appender never waits; on
// a slow disk (fdatasync ~250 us) every waiting appender joins each fsync.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "fileio.h"
#include "ledger_impl.h"
#include "taogate/common/clock.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/segment.h"

namespace taogate::ledger {

void Ledger::Impl::Enqueue(Pending& p, RecordKind kind, const Fields& fields, int64_t time_ns) {
  p.seq = next_seq++;
  std::string payload = EncodePayload(p.seq, time_ns, kind, last_hash, fields);
  p.hash = LeafHash(payload);
  p.frame = EncodeFrame(payload);
  last_hash = p.hash;
  pending.push_back(&p);
  if (gathering && pending.size() >= expected_batch) gather_cv.notify_one();
}

void Ledger::Impl::WaitDurable(std::unique_lock<std::mutex>& lk, Pending& p) {
  while (!p.done) {
    if (!flushing) {
      Flush(lk);
    } else {
      cv.wait(lk);
    }
  }
}

absl::Status Ledger::Impl::StartSegment(uint64_t first_seq) {
  const std::string& dir = options.dir;
  std::string name = SegmentFileName(first_seq);
  std::string path = StrCat(dir, "/", name);
  TG_RETURN_IF_ERROR(fileio::WriteFileAtomic(dir, name, EncodeSegmentHeader(first_seq)));
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, StrCat("open ", path));
  std::unique_lock s(state_mu);
  segments.push_back({first_seq, path, std::move(fd)});
  write_offset = format::kSegmentHeaderSize;
  return absl::OkStatus();
}

void Ledger::Impl::Flush(std::unique_lock<std::mutex>& lk) {
  flushing = true;
  if (pending.size() < expected_batch && !barrier) {
    gathering = true;
    auto budget = std::chrono::nanoseconds(std::min(flush_ns, kMaxGatherNs));
    gather_cv.wait_for(lk, budget, [&] { return pending.size() >= expected_batch || barrier; });
    gathering = false;
  }
  std::vector<Pending*> batch;
  size_t bytes = 0, n = 0;
  while (n < pending.size() && (n == 0 || bytes + pending[n]->frame.size() <= kMaxBatchBytes))
    bytes += pending[n++]->frame.size();
  batch.assign(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
  pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
  lk.unlock();

  absl::Status st;
  bool fatal = false;
  if (write_offset >= options.segment_max_bytes) st = StartSegment(batch.front()->seq);
  int fd = -1;
  std::string path;
  {
    std::shared_lock s(state_mu);
    fd = segments.back().fd.get();
    path = segments.back().path;
  }
  std::string buf;
  int64_t t0 = RealClock().MonoNs();
  if (st.ok()) {
    buf.reserve(bytes);
    for (Pending* p : batch) buf.append(p->frame);
    st = fileio::PWriteAll(fd, buf, write_offset, path);
    if (st.ok() && options.fsync && (options.datasync ? options.datasync(fd) : ::fdatasync(fd)) != 0) {
      st = ErrnoStatus(errno, StrCat("fdatasync ", path));
      fatal = true;  // page cache state unknown: never trust this file handle again
    }
    if (!st.ok() && ::ftruncate(fd, static_cast<off_t>(write_offset)) != 0) fatal = true;
  }
  int64_t took = RealClock().MonoNs() - t0;

  lk.lock();
  flush_ns = (7 * flush_ns + took) / 8;
  expected_batch = batch.size() + pending.size();
  if (st.ok()) {
    {
      std::unique_lock s(state_mu);
      uint64_t off = write_offset;
      for (Pending* p : batch) {
        offsets.push_back(off);
        off += p->frame.size();
        tree.Append(p->hash);
      }
      durable_size.store(batch.back()->seq + 1, std::memory_order_release);
    }
    write_offset += buf.size();
    for (Pending* p : batch) p->done = true;
  } else {
    log::Error("ledger: append failed; records not written", {{"dir", options.dir}, {"error", std::string(st.message())}});
    // Later queued records chain onto the failed ones: fail them too and
    // rewind to the last durable record.
    for (Pending* p : batch) p->status = st, p->done = true;
    for (Pending* p : pending) p->status = st, p->done = true;
    pending.clear();
    next_seq = durable_size.load();
    {
      std::shared_lock s(state_mu);
      last_hash = next_seq > 0 ? tree.Leaf(next_seq - 1) : Hash{};
    }
    if (fatal) broken = st;
  }
  flushing = false;
  cv.notify_all();
}

absl::StatusOr<uint64_t> Ledger::AppendDurable(RecordKind kind, const Fields& fields) {
  if (kind == RecordKind::kCheckpoint)
    return absl::InvalidArgumentError("CHECKPOINT records are written by Ledger::Checkpoint only");
  if (static_cast<uint16_t>(kind) == 0 || static_cast<uint16_t>(kind) > kMaxRecordKind)
    return absl::InvalidArgumentError("unknown record kind");
  TG_RETURN_IF_ERROR(ValidateFields(fields));
  if (options_.read_only) return absl::FailedPreconditionError("ledger opened read-only");
  Impl& im = *impl_;
  Pending p;
  std::unique_lock lk(im.mu);
  im.cv.wait(lk, [&] { return !im.barrier; });
  if (!im.broken.ok()) return im.broken;
  im.Enqueue(p, kind, fields, RealClock().WallNs());
  im.WaitDurable(lk, p);
  if (!p.status.ok()) return p.status;
  return p.seq;
}

absl::StatusOr<uint64_t> Ledger::Append(RecordKind kind, Fields fields) {
  TG_ASSIGN_OR_RETURN(uint64_t seq, AppendDurable(kind, fields));
  impl_->checkpointer.AfterAppend();
  return seq;
}

absl::Status Ledger::AppendOpenRecords() {
  if (recovery_.loss_accepted) {
    std::string why = recovery_.loss.substr(0, format::kMaxFieldValueSize);
    for (char& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    Fields f = {{"event", "signed-records-lost"},
                {"count", std::to_string(recovery_.checkpoint_size > recovery_.recovered_size
                                             ? recovery_.checkpoint_size - recovery_.recovered_size
                                             : 0)},
                {"path", recovery_.moved_aside_to},
                {"reason", "operator: taogatectl ledger recover --accept-loss"},
                {"error", why}};
    TG_RETURN_IF_ERROR(AppendDurable(RecordKind::kLossAccepted, f).status());
  }
  std::optional<internal::KeyRecord> key = internal::KeyRecordOwed(options_.signer, impl_->key_by_scope);
  if (!key) return absl::OkStatus();
  TG_RETURN_IF_ERROR(AppendDurable(RecordKind::kKeyRotated, key->fields).status());
  impl_->key_by_scope[key->scope] = key->key_id;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ledger::Checkpoint() {
  if (!options_.signer) return absl::FailedPreconditionError("ledger has no checkpoint signer");
  if (options_.read_only) return absl::FailedPreconditionError("ledger opened read-only");
  Impl& im = *impl_;
  std::lock_guard cp(im.checkpoint_mu);
  Pending p;
  std::string note;
  uint64_t size = 0;
  {
    std::unique_lock lk(im.mu);
    if (!im.broken.ok()) return im.broken;
    // Drain the queue so that every record before the checkpoint is durable
    // and in the tree; appenders wait at the barrier meanwhile.
    im.barrier = true;
    im.gather_cv.notify_one();
    im.cv.wait(lk, [&] { return im.pending.empty() && !im.flushing; });
    size = im.next_seq;
    absl::StatusOr<Hash> root;
    {
      std::shared_lock s(im.state_mu);
      root = im.tree.RootAt(size);
    }
    CheckpointBody body{options_.origin, size, root.ok() ? *root : Hash{}, RealClock().WallNs()};
    std::string text = FormatCheckpointBody(body);
    absl::StatusOr<std::string> sig = root.ok() ? options_.signer->Sign(text) : root.status();
    if (!sig.ok()) {
      im.barrier = false;
      im.cv.notify_all();
      return sig.status();
    }
    Fields f = {{"origin", body.origin},
                {"tree_size", std::to_string(size)},
                {"root_hash", Base64Encode(body.root)},
                {"time_ns", std::to_string(body.time_ns)},
                {"key_name", options_.signer->KeyName()},
                {"signature", EncodeNoteSignature(options_.signer->KeyHash(), *sig)}};
    absl::Status valid = ValidateFields(f, /*allow_checkpoint_fields=*/true);
    if (!valid.ok()) {
      im.barrier = false;
      im.cv.notify_all();
      return valid;
    }
    note = StrCat(text, "\n", FormatSignatureLine(options_.signer->KeyName(), options_.signer->KeyHash(), *sig));
    im.Enqueue(p, RecordKind::kCheckpoint, f, body.time_ns);
    im.barrier = false;
    im.cv.notify_all();
    im.WaitDurable(lk, p);
    if (p.status.ok()) {
      im.last_checkpoint_size = size;
      im.latest_note = note;
    }
  }
  if (!p.status.ok()) return p.status;
  TG_RETURN_IF_ERROR(fileio::WriteFileAtomic(options_.dir, "checkpoint", note));
  return note;
}

}  // namespace taogate::ledger
