// DNS name targets (issue 16, docs/names.md): the grammar, the canonical
// form, both text forms and both proto forms.
#include <gtest/gtest.h>

#include "taogate/target/target.h"
#include "taogate/target/target_proto.h"

namespace taogate::target {
namespace {

absl::StatusOr<Target> Dest(std::string_view s) { return Parse(s, Form::kDestination); }
absl::StatusOr<Target> Prot(std::string_view s) { return Parse(s, Form::kProtected); }
std::string Error(const absl::StatusOr<Target>& t) { return t.ok() ? "ok" : std::string(t.status().message()); }
std::string NameError(std::string_view s) {
  auto n = ParseHostName(s);
  return n.ok() ? "ok" : std::string(n.status().message());
}
bool Has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(TargetNamesTest, DestinationNameRoundTrips) {
  for (const char* s : {"tcp:db.prod.internal:5432", "udp:ns1.example.org:53", "tcp:a.b:1",
                        "tcp:10.0.0.x:80", "tcp:xn--bcher-kva.example:443", "tcp:0a-1.x9:8"}) {
    auto t = Dest(s);
    ASSERT_TRUE(t.ok()) << s << ": " << t.status();
    EXPECT_EQ(t->host, Host::kName) << s;
    EXPECT_EQ(Format(*t), s);
    EXPECT_TRUE(t->one_destination()) << s;
    EXPECT_FALSE(t->single_destination()) << s;  // what the kernel grants: IPs only
    EXPECT_EQ(*Dest(Format(*t)), *t);
  }
}

TEST(TargetNamesTest, CaseFoldsAndStripsTheTrailingDot) {
  auto t = Dest("tcp:DB.Prod.INTERNAL.:5432");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "db.prod.internal");
  EXPECT_EQ(Format(*t), "tcp:db.prod.internal:5432");
  EXPECT_EQ(*Dest("tcp:db.prod.internal:5432"), *t);
  EXPECT_EQ(Format(*Prot("udp:Ns1.Example.Org.:*")), "udp:ns1.example.org:*");
}

TEST(TargetNamesTest, ProtectedNamesTakePortsRangesAndEveryPort) {
  for (const char* s : {"tcp:db.prod.internal:5432", "tcp:db.prod.internal:5000-5010", "udp:dns.corp.example:*"}) {
    auto t = Prot(s);
    ASSERT_TRUE(t.ok()) << s << ": " << t.status();
    EXPECT_EQ(t->host, Host::kName);
    EXPECT_EQ(Format(*t), s);
    EXPECT_EQ(*Prot(Format(*t)), *t);
  }
  EXPECT_EQ(Prot("tcp:db.prod.internal:5000-5010")->port_hi, 5010);
  EXPECT_FALSE(Dest("tcp:db.prod.internal:5000-5010").ok());
  EXPECT_FALSE(Dest("tcp:db.prod.internal:*").ok());
}

TEST(TargetNamesTest, RefusesBadLabels) {
  EXPECT_TRUE(Has(NameError("a..b"), "empty label"));
  EXPECT_TRUE(Has(NameError(".a.b"), "empty label"));
  EXPECT_TRUE(Has(NameError("a.b.."), "empty label"));
  EXPECT_TRUE(Has(NameError(std::string(64, 'a') + ".b"), "longer than 63"));
  EXPECT_EQ(NameError(std::string(63, 'a') + ".b"), "ok");
  EXPECT_TRUE(Has(NameError("-a.b"), "starts or ends with '-'"));
  EXPECT_TRUE(Has(NameError("a-.b"), "starts or ends with '-'"));
  EXPECT_TRUE(Has(NameError("a_b.c"), "bad character"));
  EXPECT_TRUE(Has(NameError("caf\xc3\xa9.fr"), "bad character"));
  EXPECT_TRUE(Has(NameError(std::string_view("a\0b.c", 5)), "bad character"));
  EXPECT_TRUE(Has(NameError(""), "empty DNS name"));
  EXPECT_TRUE(Has(NameError("."), "empty DNS name"));
}

TEST(TargetNamesTest, RefusesOverlongNames) {
  std::string n;
  while (n.size() < 253) n += "abcdefg.";  // 8 per label
  n.resize(253);
  if (n.back() == '.') n.back() = 'x';
  EXPECT_EQ(NameError(n), "ok");
  EXPECT_EQ(NameError(n + "."), "ok");  // the root dot does not count
  EXPECT_TRUE(Has(NameError(n + "x"), "longer than 253"));
}

TEST(TargetNamesTest, RefusesSingleLabelNames) {
  for (const char* s : {"tcp:localhost:80", "tcp:db:5432", "tcp:Node:1", "tcp:db.:5432"})
    EXPECT_TRUE(Has(Error(Dest(s)), "single-label")) << s;
  EXPECT_TRUE(Has(Error(Prot("tcp:nod:5432")), "single-label"));
  EXPECT_EQ(Prot("tcp:node:5432")->host, Host::kNode);  // the keyword, never a name
}

TEST(TargetNamesTest, RefusesWildcards) {
  EXPECT_TRUE(Has(Error(Prot("tcp:*.prod.internal:5432")), "wildcard"));
  EXPECT_TRUE(Has(Error(Dest("tcp:*.prod.internal:5432")), "wildcard"));
  EXPECT_TRUE(Has(NameError("db.*"), "wildcard"));
}

TEST(TargetNamesTest, IpLookingHostsAreNeverNames) {
  // inet_aton forms and bad addresses: an address error or a refusal, never a name.
  for (const char* s : {"tcp:10.0.0.300:1", "tcp:127.1:80", "tcp:1.2.3:80", "tcp:10.0.0.1.5:1"}) {
    auto t = Dest(s);
    EXPECT_FALSE(t.ok()) << s;
  }
  EXPECT_TRUE(Has(Error(Dest("tcp:10.0.0.300:1")), "bad IP address"));
  EXPECT_TRUE(Has(NameError("0x7f.0.0.1"), "last label is not all digits"));
  EXPECT_TRUE(Has(Error(Dest("tcp:db.internal.5:1")), "last label is not all digits"));
  // An IP in a name's place is the IP, a name in an IP's place is the name.
  EXPECT_EQ(Dest("tcp:10.0.0.5:1")->host, Host::kPrefix);
  EXPECT_TRUE(Has(Error(Dest("tcp:h10.0.0.5:1")), "last label is not all digits"));
}

TEST(TargetNamesTest, NamesAreTcpOrUdpOnly) {
  EXPECT_TRUE(Has(Error(Prot("any:db.prod.internal:5432")), "tcp or udp"));
  EXPECT_FALSE(Prot("tcp:[db.prod.internal]:5432").ok());
  EXPECT_FALSE(Prot("tcp:db.prod.internal/24:5432").ok());
  EXPECT_FALSE(Dest("tcp:db.prod.internal").ok());
  // unix/file: the rest is a path, never a host.
  EXPECT_FALSE(Dest("unix:db.prod.internal:5432").ok());
  EXPECT_FALSE(Dest("file:db.prod.internal").ok());
  EXPECT_EQ(Prot("unix:db.prod.internal:5432")->proto, Proto::kUnix);  // a relative path, as before
  EXPECT_FALSE(Prot("file:db.prod.internal:1").ok());
}

TEST(TargetNamesTest, TargetProtoCarriesTheNameInAddress) {
  Target t = *Dest("tcp:db.prod.internal:5432");
  v1::Target p = ToProto(t);
  EXPECT_EQ(p.address(), "db.prod.internal");
  EXPECT_EQ(p.port(), 5432u);
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, t);
  p.set_address("DB.prod.internal");  // not what was signed/matched: refused
  EXPECT_TRUE(Has(std::string(FromProto(p).status().message()), "canonical"));
  p.set_address("db.prod.internal.");
  EXPECT_FALSE(FromProto(p).ok());
  p.set_address("db_prod.internal");
  EXPECT_FALSE(FromProto(p).ok());
  p.set_address("10.0.0.300");
  EXPECT_TRUE(Has(std::string(FromProto(p).status().message()), "bad IP address"));
  p.set_address("fd00::5");
  EXPECT_EQ(FromProto(p)->host, Host::kPrefix);
}

TEST(TargetNamesTest, ProtectedTargetProtoCarriesHostName) {
  v1::ProtectedTarget p;
  p.set_proto(v1::TARGET_PROTO_TCP);
  p.set_host_name("db.prod.internal");
  p.set_port_from(5000);
  p.set_port_to(5010);
  auto t = FromProto(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Format(*t), "tcp:db.prod.internal:5000-5010");
  p.set_cidr("10.0.0.0/8");
  EXPECT_TRUE(Has(std::string(FromProto(p).status().message()), "no cidr"));
  p.clear_cidr();
  p.set_host_name("Db.prod.internal");
  EXPECT_TRUE(Has(std::string(FromProto(p).status().message()), "canonical"));
  p.set_host_name("db");
  EXPECT_FALSE(FromProto(p).ok());
}

}  // namespace
}  // namespace taogate::target
