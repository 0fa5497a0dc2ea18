#include "taogate/rpc/tls_check.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <memory>
#include <vector>

#include "taogate/common/strings.h"

namespace taogate::rpc {
namespace {

struct Free {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(char* p) const { OPENSSL_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;
using Certs = std::vector<Ptr<X509>>;

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Every certificate of a PEM text, in order; InvalidArgument if a block does
// not parse or there is none.
absl::StatusOr<Certs> ParseCerts(std::string_view pem, std::string_view what) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Certs out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  unsigned long e = ERR_peek_last_error();
  // The loop always ends on "no start line" at the end of the text; anything
  // else is a broken block.
  if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
    return absl::InvalidArgumentError(StrCat(what, ": bad certificate: ", OpensslError()));
  ERR_clear_error();
  if (out.empty()) return absl::InvalidArgumentError(StrCat(what, ": no certificate"));
  return out;
}

std::string Rfc3339(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The chain against `cas`, if one of them is the top certificate's issuer.
absl::Status VerifyIfIssuerKnown(const Certs& chain, const Certs& cas) {
  X509_NAME* issuer = X509_get_issuer_name(chain.back().get());
  bool known = false;
  for (const auto& c : cas) known = known || X509_NAME_cmp(X509_get_subject_name(c.get()), issuer) == 0;
  if (!known) return absl::OkStatus();
  Ptr<X509_STORE> store(X509_STORE_new());
  for (const auto& c : cas) X509_STORE_add_cert(store.get(), c.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  Ptr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), untrusted);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(untrusted);  // the certificates stay owned by `chain`
  ERR_clear_error();
  if (ok != 1)
    return absl::InvalidArgumentError(
        StrCat("certificate does not chain to the CA bundle: ", X509_verify_cert_error_string(err)));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<int> CheckCaBundle(std::string_view ca_pem) {
  auto certs = ParseCerts(ca_pem, "CA bundle");
  if (!certs.ok()) return certs.status();
  return static_cast<int>(certs->size());
}

absl::StatusOr<CertInfo> CheckKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                      std::string_view ca_pem) {
  auto chain = ParseCerts(cert_pem, "certificate");
  if (!chain.ok()) return chain.status();
  X509* leaf = (*chain)[0].get();
  Ptr<BIO> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  Ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError(StrCat("private key: does not parse: ", OpensslError()));
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("private key does not match the certificate");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
    return absl::InvalidArgumentError(
        StrCat("certificate expired at ", Rfc3339(X509_get0_notAfter(leaf))));
  if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
    return absl::InvalidArgumentError(
        StrCat("certificate not valid before ", Rfc3339(X509_get0_notBefore(leaf))));
  if (!ca_pem.empty()) {
    auto cas = ParseCerts(ca_pem, "CA bundle");
    if (!cas.ok()) return cas.status();
    if (auto st = VerifyIfIssuerKnown(*chain, *cas); !st.ok()) return st;
  }
  CertInfo info;
  Ptr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr));
  Ptr<char> hex(bn ? BN_bn2hex(bn.get()) : nullptr);
  info.serial_hex = hex ? hex.get() : "?";
  info.not_after = Rfc3339(X509_get0_notAfter(leaf));
  return info;
}

}  // namespace taogate::rpc
