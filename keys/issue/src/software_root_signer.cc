#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "taogate/common/fd.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/root_signer.h"

namespace taogate::keys {
namespace {

absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> Wrap(
    absl::StatusOr<crypto::Ed25519PrivateKey> key,
    std::unique_ptr<SoftwareRootSigner> (*make)(crypto::Ed25519PrivateKey, PublicKey)) {
  if (!key.ok()) return key.status();
  std::string pem = crypto::Ed25519PublicKeyToPem(key->PublicKey());
  TG_ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromPem(pem));
  return make(*std::move(key), std::move(pub));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> SoftwareRootSigner::Generate() {
  return Wrap(crypto::Ed25519PrivateKey::Generate(), [](crypto::Ed25519PrivateKey k, PublicKey p) {
    return std::unique_ptr<SoftwareRootSigner>(new SoftwareRootSigner(std::move(k), std::move(p)));
  });
}

absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> SoftwareRootSigner::FromPem(
    std::string_view private_pem) {
  return Wrap(crypto::Ed25519PrivateKey::FromPem(private_pem),
              [](crypto::Ed25519PrivateKey k, PublicKey p) {
                return std::unique_ptr<SoftwareRootSigner>(
                    new SoftwareRootSigner(std::move(k), std::move(p)));
              });
}

absl::StatusOr<std::unique_ptr<SoftwareRootSigner>> SoftwareRootSigner::LoadOrCreate(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto signer = FromPem(ss.str());
    if (!signer.ok()) return absl::InvalidArgumentError(StrCat(path, ": ", signer.status().message()));
    return signer;
  }
  TG_ASSIGN_OR_RETURN(auto signer, Generate());
  TG_ASSIGN_OR_RETURN(std::string pem, signer->key_.ToPem());
  // O_EXCL: never clobber a key another process just wrote.
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus(errno, StrCat("create ", path));
  if (write(fd.get(), pem.data(), pem.size()) != static_cast<ssize_t>(pem.size()) ||
      fsync(fd.get()) != 0)
    return ErrnoStatus(errno, StrCat("write ", path));
  log::Warn("created a SOFTWARE root key (development mode, refused by strict verifiers)",
            {{"path", path}});
  return signer;
}

absl::StatusOr<std::string> SoftwareRootSigner::Sign(std::string_view message) {
  TG_ASSIGN_OR_RETURN(auto sig, key_.Sign(crypto::AsBytes(message)));
  return std::string(reinterpret_cast<const char*>(sig.data()), sig.size());
}

}  // namespace taogate::keys
