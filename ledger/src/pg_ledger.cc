// PgLedger (pg_ledger.h): the ledger in PostgreSQL through libpq.
//
// Two connections per process: the writer, used only by the appender that
// leads a group commit (or by Checkpoint, which takes the same role), and
// the reader, used under reader_mu by catch-up, reads and health checks.
//
// Locks, in this order: checkpoint_mu -> mu -> reader_mu -> state_mu.
//   mu        the append queue: pending, flushing, since_checkpoint.
//   reader_mu the reader connection; serialises catch-ups.
//   state_mu  what readers see: tree, size, latest note.
#include "taogate/ledger/pg_ledger.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "taogate/common/clock.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/note.h"
#include "taogate/pgstore/pg.h"
#include "checkpoint_loop.h"

namespace taogate::ledger {
namespace {

using pgstore::Binary;
using pgstore::Bytes;
using pgstore::Conn;
using pgstore::Exec;
using pgstore::ExecParams;
using pgstore::Int8;
using pgstore::Param;
using pgstore::Result;
using pgstore::Text;

Param HashParam(const Hash& h) { return Binary({reinterpret_cast<const char*>(h.data()), h.size()}); }

}  // namespace

// One record waiting for its transaction; lives on its appender's stack.
struct PgPending {
  RecordKind kind = RecordKind::kIssued;
  const Fields* fields = nullptr;
  int64_t time_ns = 0;
  uint64_t seq = 0;
  Hash hash{};
  bool done = false;
  absl::Status status;
};

struct PgLedger::Impl {
  PgLedgerOptions options;
  std::string where;

  mutable std::mutex reader_mu;
  mutable Conn reader;

  mutable std::shared_mutex state_mu;
  mutable MerkleTree tree;
  mutable std::atomic<uint64_t> size{0};
  mutable std::optional<std::string> latest_note;
  mutable uint64_t latest_note_size = 0;
  // key_id of the last KEY_ROTATED record per scope.
  mutable std::map<std::string, std::string> key_by_scope;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<PgPending*> pending;
  bool flushing = false;
  uint64_t since_checkpoint = 0;
  Conn writer;  // only while flushing

  std::mutex checkpoint_mu;
  internal::CheckpointLoop checkpointer;

  // Reads rows [size, ...) until none is left; reader_mu held.
  absl::Status CatchUpLocked() const;
  // Adds our own committed records [first, first + hashes.size()) to the
  // tree, reading whatever other writers committed before them.
  absl::Status Publish(uint64_t first, const std::vector<Hash>& hashes) const;
  // One transaction for `batch`; fills seq and hash. Requires flushing.
  absl::Status Commit(std::vector<PgPending*>& batch);
  void Flush(std::unique_lock<std::mutex>& lk);
  absl::StatusOr<std::vector<Record>> ReadRows(uint64_t from, uint64_t to) const;
};

absl::Status PgLedger::Impl::CatchUpLocked() const {
  constexpr int kRows = 4096;
  for (;;) {
    uint64_t from = size.load(std::memory_order_acquire);
    TG_ASSIGN_OR_RETURN(
        Result r, pgstore::ExecRetry(reader, options.conninfo,
                             StrCat("SELECT seq, payload, leaf_hash FROM taogate_ledger WHERE seq >= $1 "
                                    "ORDER BY seq LIMIT ",
                                    kRows),
                             {Text(std::to_string(from))}, "read the ledger"));
    const int n = PQntuples(r.get());
    if (n == 0) return absl::OkStatus();
    std::unique_lock s(state_mu);
    for (int i = 0; i < n; ++i) {
      const uint64_t seq = Int8(r.get(), i, 0), want = tree.Size();
      std::string_view payload = Bytes(r.get(), i, 1), stored = Bytes(r.get(), i, 2);
      auto bad = [&](std::string_view why) {
        return absl::DataLossError(StrCat("postgresql ledger seq ", seq, ": ", why));
      };
      if (seq != want) return absl::DataLossError(StrCat("postgresql ledger: seq ", want, " missing (next row is ", seq, ")"));
      const Hash leaf = LeafHash(payload);
      auto hdr = CheckPayload(payload, leaf);
      if (!hdr.ok()) return bad(std::string(hdr.status().message()));
      if (hdr->seq != seq) return bad(StrCat("payload says seq ", hdr->seq));
      if (hdr->prev_hash != (seq == 0 ? Hash{} : tree.Leaf(seq - 1)))
        return bad("prev_hash does not match the previous record (chain broken)");
      if (stored != std::string_view(reinterpret_cast<const char*>(leaf.data()), leaf.size()))
        return bad("stored leaf_hash does not match the payload");
      if (hdr->kind == RecordKind::kCheckpoint || hdr->kind == RecordKind::kKeyRotated) {
        auto rec = DecodePayload(payload, leaf);
        if (!rec.ok()) return bad(std::string(rec.status().message()));
        if (hdr->kind == RecordKind::kCheckpoint) {
          // Its root must be the tree's at its size (= its seq).
          auto root = Base64Decode(rec->Field("root_hash").value_or(""));
          auto tree_root = tree.RootAt(seq);
          if (rec->Field("tree_size") != std::to_string(seq) || !root.ok() || !tree_root.ok() ||
              *root != std::string(tree_root->begin(), tree_root->end()))
            return bad("CHECKPOINT does not match the records before it");
          if (auto note = NoteFromCheckpointRecord(*rec); note.ok() && seq >= latest_note_size) {
            latest_note = *note;
            latest_note_size = seq;
          }
        } else if (auto scope = rec->Field("scope"), key = rec->Field("key_id"); scope && key) {
          key_by_scope[std::string(*scope)] = std::string(*key);
        }
      }
      tree.Append(leaf);
      size.store(tree.Size(), std::memory_order_release);
    }
    if (n < kRows) return absl::OkStatus();
  }
}

absl::Status PgLedger::Impl::Publish(uint64_t first, const std::vector<Hash>& hashes) const {
  std::lock_guard r(reader_mu);
  if (size.load() < first) TG_RETURN_IF_ERROR(CatchUpLocked());
  std::unique_lock s(state_mu);
  if (tree.Size() != first) return absl::OkStatus();  // the catch-up read them
  for (const Hash& h : hashes) tree.Append(h);
  size.store(tree.Size(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status PgLedger::Impl::Commit(std::vector<PgPending*>& batch) {
  return pgstore::Transaction(writer, options.conninfo, "ledger append", [&](PGconn* c) -> absl::Status {
    TG_ASSIGN_OR_RETURN(Result head, Exec(c, "SELECT next_seq, last_hash FROM taogate_ledger_head WHERE id = 1 FOR UPDATE",
                                          "lock the ledger head"));
    if (PQntuples(head.get()) != 1) return absl::DataLossError("postgresql ledger: the head row is missing");
    uint64_t seq = std::strtoull(PQgetvalue(head.get(), 0, 0), nullptr, 10);
    std::string last = PQgetvalue(head.get(), 0, 1);  // text bytea: \x...
    Hash prev{};
    if (last.size() != 2 + 64 || last.rfind("\\x", 0) != 0)
      return absl::DataLossError("postgresql ledger: malformed head hash");
    for (size_t i = 0; i < 32; ++i) prev[i] = static_cast<uint8_t>(std::stoul(last.substr(2 + 2 * i, 2), nullptr, 16));
    std::string sql = "WITH ins AS (INSERT INTO taogate_ledger (seq, payload, leaf_hash) VALUES ";
    std::vector<Param> params;
    params.reserve(3 * batch.size() + 2);
    for (size_t i = 0; i < batch.size(); ++i) {
      PgPending& p = *batch[i];
      p.seq = seq++;
      std::string payload = EncodePayload(p.seq, p.time_ns, p.kind, prev, *p.fields);
      p.hash = prev = LeafHash(payload);
      const size_t k = params.size();
      sql += StrCat(i ? "," : "", "($", k + 1, ",$", k + 2, ",$", k + 3, ")");
      params.push_back(Text(std::to_string(p.seq)));
      params.push_back(Binary(payload));
      params.push_back(HashParam(p.hash));
    }
    sql += StrCat(") UPDATE taogate_ledger_head SET next_seq = $", params.size() + 1, ", last_hash = $",
                  params.size() + 2, " WHERE id = 1");
    params.push_back(Text(std::to_string(seq)));
    params.push_back(HashParam(prev));
    TG_RETURN_IF_ERROR(ExecParams(c, sql, params, "append").status());
    return absl::OkStatus();
  });
}

void PgLedger::Impl::Flush(std::unique_lock<std::mutex>& lk) {
  flushing = true;
  const size_t n = std::min(pending.size(), options.max_batch);
  std::vector<PgPending*> batch(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
  pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
  lk.unlock();
  absl::Status st = Commit(batch);
  if (st.ok()) {
    std::vector<Hash> hashes;
    for (const PgPending* p : batch) hashes.push_back(p->hash);
    // Committed: the records are durable whatever the catch-up says; a
    // failed read is retried by the next one.
    absl::Status pub = Publish(batch.front()->seq, hashes);
    if (!pub.ok()) log::Warn("ledger: postgresql catch-up failed", {{"error", std::string(pub.message())}});
  } else {
    log::Error("ledger: postgresql append failed; records not written", {{"error", std::string(st.message())}});
  }
  lk.lock();
  for (PgPending* p : batch) p->status = st, p->done = true;
  if (st.ok()) since_checkpoint += batch.size();
  flushing = false;
  cv.notify_all();
}

absl::StatusOr<std::vector<Record>> PgLedger::Impl::ReadRows(uint64_t from, uint64_t to) const {
  std::vector<Record> out;
  std::lock_guard r(reader_mu);
  TG_ASSIGN_OR_RETURN(Result res,
                      pgstore::ExecRetry(reader, options.conninfo, "SELECT seq, payload FROM taogate_ledger WHERE seq >= $1 AND seq < $2 ORDER BY seq",
                                 {Text(std::to_string(from)), Text(std::to_string(to))}, "read the ledger"));
  std::shared_lock s(state_mu);
  const int n = PQntuples(res.get());
  for (int i = 0; i < n; ++i) {
    const uint64_t seq = Int8(res.get(), i, 0);
    if (seq != from + out.size()) return absl::DataLossError(StrCat("postgresql ledger: seq ", from + out.size(), " missing"));
    auto rec = DecodePayload(Bytes(res.get(), i, 1));
    if (!rec.ok()) return absl::DataLossError(StrCat("postgresql ledger seq ", seq, ": ", rec.status().message()));
    if (rec->seq != seq || rec->hash != tree.Leaf(seq))
      return absl::DataLossError(StrCat("postgresql ledger seq ", seq, ": record changed since it was appended"));
    out.push_back(std::move(*rec));
  }
  if (out.size() != to - from) return absl::DataLossError(StrCat("postgresql ledger: seq ", from + out.size(), " missing"));
  return out;
}

PgLedger::PgLedger(const PgLedgerOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}

absl::StatusOr<std::unique_ptr<PgLedger>> PgLedger::Open(const PgLedgerOptions& options) {
  if (options.conninfo.empty()) return absl::InvalidArgumentError("ledger: empty postgresql connection string");
  if (options.max_batch == 0) return absl::InvalidArgumentError("ledger: max_batch must be > 0");
  std::unique_ptr<PgLedger> l(new PgLedger(options));
  Impl& im = *l->impl_;
  TG_ASSIGN_OR_RETURN(im.reader, pgstore::Connect(options.conninfo));
  im.where = pgstore::Where(im.reader.get());
  TG_RETURN_IF_ERROR(pgstore::RequireSchema(im.reader.get(), im.where));
  {
    std::lock_guard r(im.reader_mu);
    TG_RETURN_IF_ERROR(im.CatchUpLocked());
  }
  log::Info("ledger: opened", {{"where", im.where}, {"records", std::to_string(im.size.load())}});
  if (options.read_only) return l;
  TG_RETURN_IF_ERROR(l->AppendOpenRecords());
  if (options.signer) {
    PgLedger* self = l.get();
    im.checkpointer.Start(
        options.checkpoint_every_records, options.checkpoint_every, &im.checkpoint_mu,
        [&im]() -> uint64_t {
          std::lock_guard g(im.mu);
          return im.since_checkpoint;
        },
        [self] { return self->Checkpoint(); });
  }
  return l;
}

PgLedger::~PgLedger() { impl_->checkpointer.Close(); }

absl::StatusOr<uint64_t> PgLedger::AppendDurable(RecordKind kind, const Fields& fields) {
  if (kind == RecordKind::kCheckpoint)
    return absl::InvalidArgumentError("CHECKPOINT records are written by Checkpoint only");
  if (static_cast<uint16_t>(kind) == 0 || static_cast<uint16_t>(kind) > kMaxRecordKind)
    return absl::InvalidArgumentError("unknown record kind");
  TG_RETURN_IF_ERROR(ValidateFields(fields));
  if (options_.read_only) return absl::FailedPreconditionError("ledger opened read-only");
  Impl& im = *impl_;
  PgPending p;
  p.kind = kind;
  p.fields = &fields;
  p.time_ns = RealClock().WallNs();
  std::unique_lock lk(im.mu);
  im.pending.push_back(&p);
  while (!p.done) {
    if (!im.flushing) {
      im.Flush(lk);
    } else {
      im.cv.wait(lk);
    }
  }
  if (!p.status.ok()) return p.status;
  return p.seq;
}

absl::StatusOr<uint64_t> PgLedger::Append(RecordKind kind, Fields fields) {
  TG_ASSIGN_OR_RETURN(uint64_t seq, AppendDurable(kind, fields));
  impl_->checkpointer.AfterAppend();
  return seq;
}

absl::Status PgLedger::AppendOpenRecords() {
  std::optional<internal::KeyRecord> key;
  {
    std::shared_lock s(impl_->state_mu);
    key = internal::KeyRecordOwed(options_.signer, impl_->key_by_scope);
  }
  if (!key) return absl::OkStatus();
  return AppendDurable(RecordKind::kKeyRotated, key->fields).status();
}

absl::StatusOr<std::string> PgLedger::Checkpoint() {
  if (!options_.signer) return absl::FailedPreconditionError("ledger has no checkpoint signer");
  if (options_.read_only) return absl::FailedPreconditionError("ledger opened read-only");
  Impl& im = *impl_;
  std::lock_guard cp(im.checkpoint_mu);
  // Take the writer's role: queued appends wait for the next flush.
  std::unique_lock lk(im.mu);
  im.cv.wait(lk, [&] { return !im.flushing; });
  im.flushing = true;
  lk.unlock();

  std::string note;
  uint64_t size = 0;
  Hash hash{};
  absl::Status st = pgstore::Transaction(im.writer, options_.conninfo, "ledger checkpoint", [&](PGconn* c) -> absl::Status {
    TG_ASSIGN_OR_RETURN(Result head, Exec(c, "SELECT next_seq FROM taogate_ledger_head WHERE id = 1 FOR UPDATE",
                                          "lock the ledger head"));
    if (PQntuples(head.get()) != 1) return absl::DataLossError("postgresql ledger: the head row is missing");
    size = std::strtoull(PQgetvalue(head.get(), 0, 0), nullptr, 10);
    // With the head locked nobody appends: read every record before it.
    {
      std::lock_guard r(im.reader_mu);
      TG_RETURN_IF_ERROR(im.CatchUpLocked());
    }
    Hash root{}, prev{};
    {
      std::shared_lock s(im.state_mu);
      if (im.tree.Size() != size)
        return absl::DataLossError(StrCat("postgresql ledger: head says ", size, " records, read ", im.tree.Size()));
      TG_ASSIGN_OR_RETURN(root, im.tree.RootAt(size));
      if (size > 0) prev = im.tree.Leaf(size - 1);
    }
    CheckpointBody body{options_.origin, size, root, RealClock().WallNs()};
    std::string text = FormatCheckpointBody(body);
    TG_ASSIGN_OR_RETURN(std::string sig, options_.signer->Sign(text));
    Fields f = {{"origin", body.origin},
                {"tree_size", std::to_string(size)},
                {"root_hash", Base64Encode(body.root)},
                {"time_ns", std::to_string(body.time_ns)},
                {"key_name", options_.signer->KeyName()},
                {"signature", EncodeNoteSignature(options_.signer->KeyHash(), sig)}};
    TG_RETURN_IF_ERROR(ValidateFields(f, /*allow_checkpoint_fields=*/true));
    note = StrCat(text, "\n", FormatSignatureLine(options_.signer->KeyName(), options_.signer->KeyHash(), sig));
    std::string payload = EncodePayload(size, body.time_ns, RecordKind::kCheckpoint, prev, f);
    hash = LeafHash(payload);
    TG_RETURN_IF_ERROR(ExecParams(c,
                                  "WITH ins AS (INSERT INTO taogate_ledger (seq, payload, leaf_hash) VALUES ($1, $2, $3)) "
                                  "UPDATE taogate_ledger_head SET next_seq = $4, last_hash = $3 WHERE id = 1",
                                  {Text(std::to_string(size)), Binary(payload), HashParam(hash), Text(std::to_string(size + 1))},
                                  "append the checkpoint")
                           .status());
    return absl::OkStatus();
  });
  if (st.ok()) {
    absl::Status pub = im.Publish(size, {hash});
    if (!pub.ok()) log::Warn("ledger: postgresql catch-up failed", {{"error", std::string(pub.message())}});
    std::unique_lock s(im.state_mu);
    if (size >= im.latest_note_size) {
      im.latest_note = note;
      im.latest_note_size = size;
    }
  }
  lk.lock();
  if (st.ok()) im.since_checkpoint = 0;
  im.flushing = false;
  im.cv.notify_all();
  lk.unlock();
  if (!st.ok()) return st;
  return note;
}

uint64_t PgLedger::Size() const { return impl_->size.load(std::memory_order_acquire); }

absl::StatusOr<uint64_t> PgLedger::CatchUp() const {
  std::lock_guard r(impl_->reader_mu);
  TG_RETURN_IF_ERROR(impl_->CatchUpLocked());
  return impl_->size.load();
}

absl::StatusOr<Record> PgLedger::Read(uint64_t seq) const {
  if (seq >= Size()) TG_RETURN_IF_ERROR(CatchUp().status());
  if (seq >= Size()) return absl::OutOfRangeError(StrCat("seq ", seq, " >= ledger size ", Size()));
  TG_ASSIGN_OR_RETURN(std::vector<Record> rows, impl_->ReadRows(seq, seq + 1));
  return std::move(rows.front());
}

absl::Status PgLedger::Scan(uint64_t from, const std::function<bool(const Record&)>& fn) const {
  TG_ASSIGN_OR_RETURN(const uint64_t n, CatchUp());
  constexpr uint64_t kChunk = 1000;
  for (uint64_t seq = from; seq < n; seq += kChunk) {
    TG_ASSIGN_OR_RETURN(std::vector<Record> rows, impl_->ReadRows(seq, std::min(n, seq + kChunk)));
    for (const Record& r : rows)
      if (!fn(r)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<Hash> PgLedger::RootAt(uint64_t tree_size) const {
  if (tree_size > Size()) TG_RETURN_IF_ERROR(CatchUp().status());
  std::shared_lock s(impl_->state_mu);
  return impl_->tree.RootAt(tree_size);
}

absl::StatusOr<InclusionProof> PgLedger::ProveInclusion(uint64_t seq, uint64_t tree_size) const {
  if (tree_size > Size()) TG_RETURN_IF_ERROR(CatchUp().status());
  std::shared_lock s(impl_->state_mu);
  InclusionProof p;
  TG_ASSIGN_OR_RETURN(p.path, impl_->tree.InclusionProof(seq, tree_size));
  TG_ASSIGN_OR_RETURN(p.root, impl_->tree.RootAt(tree_size));
  p.seq = seq;
  p.tree_size = tree_size;
  p.leaf_hash = impl_->tree.Leaf(seq);
  return p;
}

absl::StatusOr<std::vector<Hash>> PgLedger::ProveConsistency(uint64_t from_size, uint64_t to_size) const {
  if (to_size > Size()) TG_RETURN_IF_ERROR(CatchUp().status());
  std::shared_lock s(impl_->state_mu);
  return impl_->tree.ConsistencyProof(from_size, to_size);
}

std::optional<std::string> PgLedger::LatestCheckpoint() const {
  std::shared_lock s(impl_->state_mu);
  return impl_->latest_note;
}

absl::Status PgLedger::Writable() const {
  std::lock_guard r(impl_->reader_mu);
  return pgstore::ExecRetry(impl_->reader, options_.conninfo, "SELECT 1", {}, "health check").status();
}

std::string PgLedger::Where() const { return impl_->where; }

}  // namespace taogate::ledger
