// libFuzzer target: every ledger decoder must reject or accept any input
// without crashing: record payloads, frames, whole segment files, checkpoint
// notes, verifier keys and base64. Anything a decoder accepts must re-encode
// to the same bytes (payloads) or verify its own invariants (frames).
// The (void)-discarded results are the point: any verdict is fine, a crash is not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "taogate/ledger/base64.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/ledger_format.h"
#include "taogate/ledger/note.h"
#include "taogate/ledger/record.h"
#include "taogate/ledger/segment.h"
#include "taogate/ledger/signer.h"

using namespace taogate::ledger;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto rec = DecodePayload(in);
  if (rec.ok()) {
    std::string again = EncodePayload(rec->seq, rec->time_ns, rec->kind, rec->prev_hash, rec->fields);
    if (again != in) std::abort();  // the decoder accepted a non-canonical payload
    (void)NoteFromCheckpointRecord(*rec);
  }

  // As a segment file: header, then frames until the first bad one.
  if (DecodeSegmentHeader(in).ok()) {
    size_t off = format::kSegmentHeaderSize;
    while (off < in.size()) {
      FrameParse f = ParseFrame(in, off);
      if (f.status != FrameStatus::kOk) break;
      if (f.next <= off || f.next > in.size()) std::abort();
      (void)DecodePayload(f.payload);
      off = f.next;
    }
  } else if (!in.empty()) {
    (void)ParseFrame(in, 0);
  }

  auto note = ParseSignedNote(in);
  if (note.ok()) (void)ParseCheckpointBody(note->body);
  (void)ParseCheckpointBody(in);
  (void)ParseNoteVerifier(in);
  auto b = Base64Decode(in);
  if (b.ok() && Base64Encode(*b) != in) std::abort();
  return 0;
}
