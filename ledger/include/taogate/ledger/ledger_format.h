// The ledger's disk format, byte by byte. All integers are little-endian.
//
// A ledger is a directory:
//   DIR/LOCK                      empty; flock(LOCK_EX) by the one writer
//   DIR/seg-<first seq, 20 digits>.log   segment files, seq-ordered, dense
//   DIR/checkpoint                latest signed checkpoint note (C2SP text),
//                                 replaced atomically (write tmp, fsync, rename)
//                                 after its CHECKPOINT record is durable; the
//                                 high-water mark a writer's Open checks
//                                 (ledger.h, "Rollback guard")
//   DIR/damaged-<unix ns>/        what `ledger recover --accept-loss` set aside:
//                                 segment copies and the old DIR/checkpoint
//
// Segment file:
//   [0..8)    magic "TGLEDG01"
//   [8..16)   u64 first_seq: seq of the first record in this segment
//   [16..)    frames, back to back, until end of file
//
// Frame (one record):
//   [0..4)    u32 payload_len (1 .. kMaxPayloadSize)
//   [4..8)    u32 crc: CRC32C (Castagnoli) over bytes [0..4) || payload, i.e.
//             the length is covered too, so a corrupted length is caught
//   [8..8+payload_len) payload
//
// Payload (version 1):
//   [0]       u8  version = 1
//   [1..9)    u64 seq (0-based, dense, equals the Merkle leaf index)
//   [9..17)   i64 time_ns (CLOCK_REALTIME, nanoseconds since the Unix epoch)
//   [17..19)  u16 kind (RecordKind, see record.h)
//   [19..51)  32 bytes prev_hash: leaf hash of record seq-1 (all zero for seq 0)
//   [51]      u8  field_count (<= kMaxFields)
//   then field_count times:
//     u8  name_len (1..kMaxFieldNameSize), name bytes [a-z0-9_], allowlisted
//     u16 value_len (0..kMaxFieldValueSize), value bytes (no control chars)
//   nothing after the last field.
//
// Hashes (RFC 6962 / RFC 9162 Merkle tree over the payloads in seq order):
//   leaf hash(record) = SHA-256(0x00 || payload)
//   node hash         = SHA-256(0x01 || left || right)
//   empty tree root   = SHA-256("")
// The hash chain uses the same leaf hash: payload(seq).prev_hash =
// leaf hash(payload(seq-1)).
//
// CHECKPOINT records (kind 11) are written only by the ledger itself. A
// CHECKPOINT at seq N carries the signed note for tree size N (all records
// before it) in fields: origin, tree_size, root_hash (base64), time_ns,
// key_name, signature (base64 of 4-byte key hash || 64-byte Ed25519 sig).
// The note body they sign is (C2SP tlog-checkpoint, one extension line):
//   "<origin>\n<tree_size>\n<base64 root>\ntime <time_ns>\n"
//
// KEY_ROTATED records (kind 10) with scope "ledger-checkpoint" introduce a
// checkpoint key: key_id (hex SHA-256 of the Ed25519 public key), cert_sha256
// (hex SHA-256 of the certificate), scope, certificate (base64 of the
// serialized keys IssuerCertificate). The ledger writes the signer's record
// (Signer::KeyRecordFields) at open, before that key signs any checkpoint;
// every CHECKPOINT is signed by the key of the last such record before it.
//
// LOSS_ACCEPTED records (kind 15) are written only by the ledger, after an
// operator's accept_loss open: event, count (signed records lost), path
// (the DIR/damaged-<ns> directory), reason, error.
#pragma once

#include <cstddef>
#include <cstdint>

namespace taogate::ledger::format {

inline constexpr char kSegmentMagic[8] = {'T', 'G', 'L', 'E', 'D', 'G', '0', '1'};
inline constexpr size_t kSegmentHeaderSize = 16;
inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr uint8_t kPayloadVersion = 1;
inline constexpr size_t kPayloadFixedSize = 52;  // through field_count
inline constexpr size_t kMaxFields = 32;
inline constexpr size_t kMaxFieldNameSize = 32;
inline constexpr size_t kMaxFieldValueSize = 1024;
inline constexpr size_t kMaxPayloadSize =
    kPayloadFixedSize + kMaxFields * (1 + kMaxFieldNameSize + 2 + kMaxFieldValueSize);
inline constexpr size_t kHashSize = 32;
inline constexpr uint8_t kLeafPrefix = 0x00;
inline constexpr uint8_t kNodePrefix = 0x01;

}  // namespace taogate::ledger::format
