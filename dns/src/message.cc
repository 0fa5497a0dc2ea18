#include "taogate/dns/message.h"

#include <algorithm>
#include <cstring>

#include "taogate/common/strings.h"

namespace taogate::dns {
namespace {

absl::Status Garbage(std::string_view why) {
  return absl::InvalidArgumentError(StrCat("garbage answer: ", why));
}

std::vector<std::string_view> Labels(std::string_view name) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t dot = name.find('.', start);
    out.push_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// Reads the (possibly compressed) name at `pos`; `pos` moves past it in the
// record. Lower-cased, no trailing dot; the root is "".
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> msg) : msg_(msg) {}
  size_t pos = 0;
  bool Need(size_t n) const { return pos + n <= msg_.size(); }
  uint8_t U8() { return msg_[pos++]; }
  uint16_t U16() {
    uint16_t v = uint16_t(msg_[pos] << 8 | msg_[pos + 1]);
    pos += 2;
    return v;
  }
  uint32_t U32() {
    uint32_t hi = U16();
    return hi << 16 | U16();
  }
  const uint8_t* At(size_t p) const { return msg_.data() + p; }

  absl::StatusOr<std::string> Name() {
    std::string out;
    size_t p = pos;
    bool jumped = false;
    for (int hops = 0;; ++hops) {
      if (hops > 128 || p >= msg_.size()) return Garbage("bad name");
      uint8_t len = msg_[p];
      if ((len & 0xc0) == 0xc0) {  // compression pointer, strictly backwards
        if (p + 1 >= msg_.size()) return Garbage("bad name pointer");
        size_t to = size_t(len & 0x3f) << 8 | msg_[p + 1];
        if (to >= p) return Garbage("forward name pointer");
        if (!jumped) pos = p + 2;
        jumped = true;
        p = to;
        continue;
      }
      if (len & 0xc0) return Garbage("bad label type");
      if (len == 0) {
        if (!jumped) pos = p + 1;
        return out;
      }
      if (p + 1 + len > msg_.size()) return Garbage("label past the end");
      if (!out.empty()) out += '.';
      for (size_t i = 0; i < len; ++i) {
        char c = char(msg_[p + 1 + i]);
        out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
      }
      if (out.size() > kMaxNameLength + 1) return Garbage("name too long");
      p += 1 + len;
    }
  }

 private:
  std::span<const uint8_t> msg_;
};

struct Record {
  std::string owner;
  uint16_t type;
  uint32_t ttl;
  std::string cname;  // kTypeCname
  target::Ip ip;      // kTypeA / kTypeAaaa
};

absl::StatusOr<Record> ReadRecord(Reader& r) {
  Record rec;
  auto owner = r.Name();
  if (!owner.ok()) return owner.status();
  rec.owner = *std::move(owner);
  if (!r.Need(10)) return Garbage("short record");
  rec.type = r.U16();
  uint16_t cls = r.U16();
  rec.ttl = r.U32();
  if (rec.ttl > 0x7fffffff) rec.ttl = 0;  // RFC 2181 section 8
  uint16_t rdlen = r.U16();
  if (!r.Need(rdlen)) return Garbage("record data past the end");
  size_t end = r.pos + rdlen;
  if (cls != kClassIn && (rec.type == kTypeA || rec.type == kTypeAaaa || rec.type == kTypeCname)) {
    return Garbage("record class is not IN");
  }
  if (rec.type == kTypeA || rec.type == kTypeAaaa) {
    size_t want = rec.type == kTypeA ? 4 : 16;
    if (rdlen != want) return Garbage(StrCat("address record of ", rdlen, " bytes"));
    rec.ip.family = rec.type == kTypeA ? 4 : 6;
    std::memcpy(rec.ip.bytes.data(), r.At(r.pos), want);
  } else if (rec.type == kTypeCname) {
    auto target = r.Name();
    if (!target.ok()) return target.status();
    if (r.pos != end) return Garbage("CNAME data length");
    rec.cname = *std::move(target);
  }
  r.pos = end;
  return rec;
}

bool IsMapped(const target::Ip& ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.family == 6 && std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0;
}

}  // namespace

std::vector<uint8_t> BuildQuery(std::string_view name, uint16_t qtype) {
  // id 0 | QR=0 opcode=0 RD=1 | AD=1 | QDCOUNT=1, no other records.
  std::vector<uint8_t> q = {0, 0, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0};
  for (std::string_view label : Labels(name)) {
    q.push_back(uint8_t(label.size()));
    q.insert(q.end(), label.begin(), label.end());
  }
  q.insert(q.end(), {0, uint8_t(qtype >> 8), uint8_t(qtype), 0, kClassIn});
  return q;
}

absl::StatusOr<Response> ParseResponse(std::span<const uint8_t> msg, std::string_view qname,
                                       uint16_t qtype) {
  Reader r(msg);
  if (!r.Need(12)) return Garbage("shorter than a header");
  r.pos = 2;
  uint8_t flags1 = r.U8(), flags2 = r.U8();
  if (!(flags1 & 0x80)) return Garbage("not a response");
  if ((flags1 >> 3) & 0x0f) return Garbage("not a QUERY response");
  Response out;
  out.tc = flags1 & 0x02;
  out.ad = flags2 & 0x20;
  out.rcode = flags2 & 0x0f;
  uint16_t qd = r.U16(), an = r.U16();
  r.pos = 12;
  if (qd != 1) return Garbage("not exactly one question");
  auto q = r.Name();
  if (!q.ok()) return q.status();
  if (!r.Need(4)) return Garbage("short question");
  uint16_t type = r.U16(), cls = r.U16();
  if (*q != qname || type != qtype || cls != kClassIn) return Garbage("answers another question");

  std::vector<Record> records;
  for (uint16_t i = 0; i < an; ++i) {
    auto rec = ReadRecord(r);
    if (!rec.ok()) return rec.status();
    records.push_back(*std::move(rec));
  }
  // Follow the chain from the question name.
  std::string cur(qname);
  uint32_t ttl = UINT32_MAX;
  std::vector<bool> used(records.size());
  for (bool more = true; more;) {
    more = false;
    for (size_t i = 0; i < records.size(); ++i) {
      if (used[i] || records[i].type != kTypeCname || records[i].owner != cur) continue;
      if (out.chain.size() == kMaxChain) return Garbage("CNAME chain too long");
      if (records[i].cname == qname) return Garbage("CNAME loop");
      for (const auto& link : out.chain) {
        if (link == records[i].cname) return Garbage("CNAME loop");
      }
      used[i] = true;
      out.chain.push_back(records[i].cname);
      cur = records[i].cname;
      ttl = std::min(ttl, records[i].ttl);
      more = true;
      break;
    }
  }
  uint16_t other = qtype == kTypeA ? kTypeAaaa : kTypeA;
  uint32_t addr_ttl = UINT32_MAX;
  for (size_t i = 0; i < records.size(); ++i) {
    if (used[i]) continue;
    const Record& rec = records[i];
    if (rec.owner == cur && rec.type == other) {
      ++out.wrong_family;
    } else if (rec.owner != cur || rec.type != qtype) {
      ++out.ignored;
    } else {
      target::Ip ip = rec.ip;
      if (IsMapped(ip)) {
        ++out.wrong_family;
        ip.family = 4;
        std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
        std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
      }
      out.addrs.push_back(ip);
      addr_ttl = std::min(addr_ttl, rec.ttl);
    }
  }
  std::sort(out.addrs.begin(), out.addrs.end(), IpLess);
  out.addrs.erase(std::unique(out.addrs.begin(), out.addrs.end()), out.addrs.end());
  if (!out.addrs.empty()) ttl = std::min(ttl, addr_ttl);
  out.ttl_s = ttl == UINT32_MAX ? 0 : ttl;
  return out;
}

bool IpLess(const target::Ip& a, const target::Ip& b) {
  if (a.family != b.family) return a.family < b.family;
  return a.bytes < b.bytes;
}

}  // namespace taogate::dns
