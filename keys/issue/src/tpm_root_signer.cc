#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "src/esys.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/root_signer.h"

namespace taogate::keys {

// Everything ESYS lives on `thread`; the other members are guarded by `mu`.
struct TpmRootSigner::Worker {
  struct Job {
    bool sign = false;  // false: health check only
    crypto::Sha256Digest digest{};
    std::promise<absl::StatusOr<std::string>> done;
  };

  explicit Worker(TpmRootSignerOptions o) : options(std::move(o)) {
    thread = std::thread([this] { Run(); });
  }
  ~Worker() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    thread.join();
    // Members destroyed after join: no job can still be running.
  }

  std::future<absl::StatusOr<std::string>> Submit(bool sign, const crypto::Sha256Digest& digest) {
    Job job;
    job.sign = sign;
    job.digest = digest;
    auto f = job.done.get_future();
    {
      std::lock_guard lock(mu);
      if (stopping) {
        job.done.set_value(absl::CancelledError("TPM signer is shutting down"));
        return f;
      }
      // A worker stuck on a hung TPM must not collect one probe per period.
      for (const Job& queued : queue) {
        if (!sign && !queued.sign) {
          job.done.set_value(absl::DeadlineExceededError(
              "previous TPM probe still waiting for the TPM worker (TPM hung?)"));
          return f;
        }
      }
      queue.push_back(std::move(job));
    }
    cv.notify_one();
    return f;
  }

  void Run() {
    internal::ScopedSigpipeBlock no_sigpipe;  // this thread owns the TPM socket
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) break;
        job = std::move(queue.front());
        queue.pop_front();
      }
      job.done.set_value(Execute(job));
    }
    std::lock_guard lock(mu);
    for (auto& j : queue) j.done.set_value(absl::CancelledError("TPM signer is shutting down"));
    queue.clear();
    Disconnect();
  }

  absl::StatusOr<std::string> Execute(const Job& job) {
    if (!ctx) {
      absl::Status st = Connect();
      if (!st.ok()) {
        Disconnect();
        return st;
      }
    }
    if (!job.sign) {
      // A real round trip (the connection may have died since Connect()),
      // bounded in time, on the same key the signatures come from.
      absl::Status st = Probe();
      if (!st.ok()) {
        Disconnect();
        return st;
      }
      return std::string();
    }
    absl::StatusOr<std::string> sig =
        internal::SignDigest(ctx->get(), key.get(), job.digest, options.sign_timeout_ms);
    // Any error may leave the connection mid-command: start afresh next time.
    if (!sig.ok()) {
      Disconnect();
      return sig;
    }
    // ESYS does not bind a persistent handle to the key it first found there
    // (password sessions carry no name), and the swtpm TCTI reconnects per
    // command: if the key at the handle was replaced, the TPM signs with the
    // new one. Check every signature against the pinned key (~0.1 ms,
    // against ~0.7 ms for the TPM sign); this also catches TPM faults.
    if (!public_key->VerifyDigest(job.digest, *sig).ok()) {
      Disconnect();
      return absl::FailedPreconditionError(
          "TPM signature does not verify under the pinned root key (key at the handle replaced?); "
          "refusing it");
    }
    return sig;
  }

  absl::Status Connect() {
    TG_ASSIGN_OR_RETURN(internal::EsysContext c, internal::EsysContext::Open(options.tcti));
    ctx = std::make_unique<internal::EsysContext>(std::move(c));
    TG_ASSIGN_OR_RETURN(bool exists, internal::PersistentExists(ctx->get(), options.persistent_handle));
    if (!exists) return absl::NotFoundError("no taogate root key in the TPM (run `taogatectl keys init`)");
    TG_ASSIGN_OR_RETURN(key, internal::OpenPersistent(ctx->get(), options.persistent_handle));
    TG_ASSIGN_OR_RETURN(auto pub, internal::ReadPublic(ctx->get(), key.get()));
    TG_RETURN_IF_ERROR(internal::CheckRootKeyPublic(pub->publicArea));
    TG_ASSIGN_OR_RETURN(PublicKey k, internal::PublicKeyOf(pub->publicArea));
    std::lock_guard lock(mu);
    const std::optional<KeyId>& want = public_key ? std::optional<KeyId>(public_key->key_id())
                                                  : options.expected_key_id;
    if (want && *want != k.key_id())
      return absl::FailedPreconditionError(
          StrCat("TPM root key changed: expected ", ToHex(*want), ", found ", ToHex(k.key_id()),
                 " (refusing to sign)"));
    if (!public_key) public_key.emplace(std::move(k));
    return absl::OkStatus();
  }

  absl::Status Probe() {
    TG_ASSIGN_OR_RETURN(auto pub,
                        internal::ReadPublicWithin(ctx->get(), key.get(), options.sign_timeout_ms));
    TG_ASSIGN_OR_RETURN(PublicKey k, internal::PublicKeyOf(pub->publicArea));
    std::lock_guard lock(mu);
    if (public_key && public_key->key_id() != k.key_id())
      return absl::FailedPreconditionError(
          StrCat("TPM root key changed: expected ", ToHex(public_key->key_id()), ", found ",
                 ToHex(k.key_id())));
    return absl::OkStatus();
  }

  void Disconnect() {
    key = internal::EsysHandle();  // before the context it belongs to
    ctx.reset();
  }

  const TpmRootSignerOptions options;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool stopping = false;
  // Set once by the first successful Connect(); never changes afterwards.
  std::optional<PublicKey> public_key;
  // Worker-thread only.
  std::unique_ptr<internal::EsysContext> ctx;
  internal::EsysHandle key;
};

namespace {

absl::StatusOr<std::string> Await(std::future<absl::StatusOr<std::string>> f, int timeout_ms) {
  // The worker enforces sign_timeout_ms on the TPM itself; this bound only
  // covers a worker stuck elsewhere (e.g. a TCTI connect that hangs).
  if (f.wait_for(std::chrono::milliseconds(timeout_ms) * 2 + std::chrono::seconds(1)) !=
      std::future_status::ready)
    return absl::DeadlineExceededError("TPM worker did not answer (TPM hung?)");
  return f.get();
}

}  // namespace

TpmRootSigner::TpmRootSigner(std::unique_ptr<Worker> worker) : worker_(std::move(worker)) {}
TpmRootSigner::~TpmRootSigner() = default;

absl::StatusOr<std::unique_ptr<TpmRootSigner>> TpmRootSigner::Open(const TpmRootSignerOptions& options) {
  if (options.sign_timeout_ms <= 0) return absl::InvalidArgumentError("sign_timeout_ms must be > 0");
  auto worker = std::make_unique<Worker>(options);
  TG_ASSIGN_OR_RETURN(std::string ignored,
                      Await(worker->Submit(false, {}), options.sign_timeout_ms));
  (void)ignored;  // the probe signature itself: only its success matters
  return std::unique_ptr<TpmRootSigner>(new TpmRootSigner(std::move(worker)));
}

const PublicKey& TpmRootSigner::public_key() const { return *worker_->public_key; }

absl::StatusOr<std::string> TpmRootSigner::Sign(std::string_view message) {
  return Await(worker_->Submit(true, crypto::Sha256(message)), worker_->options.sign_timeout_ms);
}

absl::Status TpmRootSigner::CheckHealth() {
  return Await(worker_->Submit(false, {}), worker_->options.sign_timeout_ms).status();
}

}  // namespace taogate::keys
