#include "taogate/governance/x509.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "taogate/common/strings.h"

namespace taogate::governance {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

absl::Status SslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return absl::InternalError(StrCat(what, ": ", buf));
}

absl::StatusOr<Ptr<EVP_PKEY>> NewP256Key() {
  Ptr<EVP_PKEY> k(EVP_EC_gen("P-256"));
  if (!k) return SslError("EC key generation");
  return k;
}

std::string KeyPem(EVP_PKEY* k) {
  Ptr<BIO> b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, n > 0 ? n : 0);
}

std::string CertPem(X509* c) {
  Ptr<BIO> b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, n > 0 ? n : 0);
}

absl::Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return SslError(StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return SslError("X509_add_ext");
  return absl::OkStatus();
}

// A certificate skeleton: serial, validity, subject CN, public key.
absl::StatusOr<Ptr<X509>> NewCert(std::string_view cn, EVP_PKEY* key, int days, int offset_s) {
  Ptr<X509> c(X509_new());
  if (!c) return SslError("X509_new");
  X509_set_version(c.get(), 2);
  Ptr<BIGNUM> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(c.get())))
    return SslError("serial");
  X509_gmtime_adj(X509_getm_notBefore(c.get()), offset_s);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(c.get());
  std::string cn_s(cn);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("taogate-dev"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn_s.c_str()), -1, -1, 0);
  if (X509_set_pubkey(c.get(), key) != 1) return SslError("X509_set_pubkey");
  return c;
}

}  // namespace

CertSpec ServerSpec(std::string common_name, std::vector<std::string> dns,
                    std::vector<std::string> ips) {
  CertSpec s;
  s.common_name = std::move(common_name);
  s.dns = std::move(dns);
  s.ips = std::move(ips);
  s.server = true;
  return s;
}

CertSpec ClientSpec(std::string common_name, std::string uri) {
  CertSpec s;
  s.common_name = std::move(common_name);
  if (!uri.empty()) s.uris.push_back(std::move(uri));
  return s;
}

absl::StatusOr<CertAndKey> CreateCa(std::string_view common_name, int days) {
  auto key = NewP256Key();
  if (!key.ok()) return key.status();
  auto c = NewCert(common_name, key->get(), days, -60);
  if (!c.ok()) return c.status();
  X509* cert = c->get();
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  for (auto [nid, v] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                        std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                        std::pair{NID_subject_key_identifier, "hash"}}) {
    auto s = AddExt(cert, cert, nid, v);
    if (!s.ok()) return s;
  }
  if (X509_sign(cert, key->get(), EVP_sha256()) == 0) return SslError("X509_sign");
  return CertAndKey{CertPem(cert), KeyPem(key->get())};
}

absl::StatusOr<CertAndKey> IssueCert(const CertAndKey& ca, const CertSpec& spec) {
  Ptr<BIO> cb(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  Ptr<X509> ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Ptr<BIO> kb(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  Ptr<EVP_PKEY> ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return absl::InvalidArgumentError("CA certificate or key does not parse");
  auto key = NewP256Key();
  if (!key.ok()) return key.status();
  auto c = NewCert(spec.common_name, key->get(), spec.days, spec.not_before_offset_s);
  if (!c.ok()) return c.status();
  X509* cert = c->get();
  X509_set_issuer_name(cert, X509_get_subject_name(ca_cert.get()));
  std::string san;
  auto add = [&](std::string_view kind, const std::string& v) {
    if (!san.empty()) san += ",";
    san += StrCat(kind, ":", v);
  };
  for (const auto& u : spec.uris) add("URI", u);
  for (const auto& d : spec.dns) add("DNS", d);
  for (const auto& i : spec.ips) add("IP", i);
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, spec.server ? "serverAuth" : "clientAuth"},
      {NID_authority_key_identifier, "keyid"}};
  if (!san.empty()) exts.emplace_back(NID_subject_alt_name, san);
  for (const auto& [nid, v] : exts) {
    auto s = AddExt(cert, ca_cert.get(), nid, v);
    if (!s.ok()) return s;
  }
  if (X509_sign(cert, ca_key.get(), EVP_sha256()) == 0) return SslError("X509_sign");
  return CertAndKey{CertPem(cert), KeyPem(key->get())};
}

absl::StatusOr<std::vector<std::string>> UriSansFromPem(std::string_view cert_pem) {
  Ptr<BIO> b(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  Ptr<X509> cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError("peer certificate does not parse");
  }
  std::vector<std::string> out;
  Ptr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = n->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

}  // namespace taogate::governance
