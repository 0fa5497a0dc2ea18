#include "taogate/policies/reason.h"

#include <algorithm>
#include <cctype>

#include "taogate/common/strings.h"

namespace taogate::policies {
namespace {

// Decodes one UTF-8 code point at s[i]; returns its length or 0 if invalid
// (overlong, surrogate, > U+10FFFF, truncated).
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 0x2) return 0;
    v = (v << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

bool Refused(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||    // C0, DEL, C1
         (cp >= 0x200b && cp <= 0x200f) ||              // zero-width, LRM/RLM
         (cp >= 0x2028 && cp <= 0x202e) ||              // separators, bidi embeddings
         (cp >= 0x2060 && cp <= 0x2069) ||              // word joiner, bidi isolates
         cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||  // BOM, annotations
         (cp >= 0xe0000 && cp <= 0xe007f);              // tag characters
}

bool LooksSecret(std::string_view w) {
  size_t digits = std::count_if(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  size_t alpha = std::count_if(w.begin(), w.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  return w.size() >= 20 && digits > 0 && alpha > 0;
}

std::string Redact(std::string_view w) {
  auto lower = [](std::string_view s) {
    std::string o(s);
    for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  std::string lw = lower(w);
  if (lw.rfind("http://", 0) == 0 || lw.rfind("https://", 0) == 0) return "[url]";
  size_t at = w.find('@');
  if (at != std::string_view::npos && at > 0 && w.find('.', at) != std::string_view::npos) {
    return "[email]";
  }
  size_t eq = w.find_first_of("=:");
  if (eq != std::string_view::npos && eq + 1 < w.size()) {
    std::string key = lw.substr(0, eq);
    for (const char* k : {"pass", "secret", "token", "key", "auth", "cred", "bearer"}) {
      if (key.find(k) != std::string::npos) return StrCat(w.substr(0, eq + 1), "[secret]");
    }
  }
  size_t digits = std::count_if(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (LooksSecret(w)) return "[secret]";
  if (digits >= 6) return "[number]";
  return std::string(w);
}

}  // namespace

absl::StatusOr<ReasonRecord> SanitizeReason(std::string_view reason) {
  if (reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(StrCat("reason longer than ", kMaxReasonBytes, " bytes"));
  }
  bool blank = true;
  for (size_t i = 0; i < reason.size();) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(reason, i, &cp);
    if (len == 0) return absl::InvalidArgumentError(StrCat("reason is not valid UTF-8 at byte ", i));
    if (Refused(cp)) {
      return absl::InvalidArgumentError(
          StrCat("reason has a control or invisible formatting character at byte ", i));
    }
    blank = blank && cp == ' ';
    i += len;
  }
  if (blank) return absl::InvalidArgumentError("reason is empty");

  ReasonRecord rec;
  rec.sha256 = crypto::Sha256(reason);
  std::string summary;
  for (size_t i = 0; i < reason.size();) {
    size_t j = reason.find(' ', i);
    if (j == std::string_view::npos) j = reason.size();
    if (j > i) {
      if (!summary.empty()) summary += ' ';
      summary += Redact(reason.substr(i, j - i));
    }
    i = j + 1;
  }
  if (summary.size() > kReasonSummaryBytes) {
    size_t cut = kReasonSummaryBytes;
    // Back up to a code point boundary.
    while (cut > 0 && (static_cast<unsigned char>(summary[cut]) & 0xc0) == 0x80) --cut;
    summary.resize(cut);
    summary += "...";
  }
  rec.summary = std::move(summary);
  return rec;
}

}  // namespace taogate::policies
