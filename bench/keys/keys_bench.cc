// TAO issuance with delegated Ed25519 issuing keys vs signing every TAO with
// the TPM directly, in one run on one swtpm (started here in a temp dir).
//   tao_issuance      TAOs/s: encode + Ed25519 sign + attach certificate
//                     (IssuingKeyManager::SignTao), 1 thread; baseline =
//                     tpm_direct_sign from the same run
//   tao_issuance_2t   the same with 2 threads sharing the manager
//   tpm_direct_sign   TAOs/s signed by the TPM itself: encode + SHA-256 +
//                     ESYS TPM2_Sign (ECDSA P-256) on one ESYS context
//   tpm_root_sign     TpmRootSigner::Sign (worker thread + pinned-key check)
//   ed25519_sign      bare Ed25519 signs/s: the ceiling for tao_issuance
//   *_per_cpu_s       the same per CPU-second consumed (issuing thread; bench
//                     thread + swtpm process): a ratio that does not depend on
//                     how busy the shared VM is
// Rounds are interleaved and the best of 3 is reported (noise on this
// shared 2-core VM is several percent).
#include <time.h>
#include <unistd.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "report.h"
#include "src/esys.h"
#include "tao/tao_testing.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/keys_init.h"
#include "taogate/keys/root_signer.h"
#include "taogate/keys/swtpm.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/signing.h"

using namespace taogate;
using Stopwatch = std::chrono::steady_clock;

namespace {

// CPU seconds of the calling thread.
double ThreadCpuS() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// CPU seconds (user + system) of process `pid`, from /proc/<pid>/stat.
double ProcessCpuS(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14, 15: utime, stime
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

[[noreturn]] void Die(const absl::Status& st, const char* what) {
  std::fprintf(stderr, "taogate-bench-keys: %s: %s\n", what, std::string(st.message()).c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  char tmpl[] = "/tmp/taogate-bench-keys-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  int rc = 0;
  {
    auto tpm = keys::Swtpm::Start(dir + "/tpm");
    if (!tpm.ok()) Die(tpm.status(), "swtpm");
    keys::KeysInitOptions io;
    io.tcti = (*tpm)->tcti();
    auto init = keys::KeysInit(io);
    if (!init.ok()) Die(init.status(), "keys init");

    double direct = 0, root_sign = 0, issue = 0, issue2 = 0, raw = 0;
    double direct_cpu = 0, issue_cpu = 0;  // per CPU-second: independent of load
    auto raw_key = keys::LockedEd25519Key::Generate();
    if (!raw_key.ok()) Die(raw_key.status(), "locked key");
    constexpr int kTpmN = 600, kIssueN = 20000;
    v1::TaoBody body = testing::ValidTaoBody();
    for (int round = 0; round < 3; ++round) {
      {  // Direct: one ESYS context, the TPM signs each TAO digest.
        keys::internal::ScopedSigpipeBlock no_sigpipe;
        auto ctx = keys::internal::EsysContext::Open(io.tcti);
        if (!ctx.ok()) Die(ctx.status(), "esys");
        auto key = keys::internal::OpenPersistent(ctx->get(), keys::kDefaultPersistentHandle);
        if (!key.ok()) Die(key.status(), "open key");
        const double cpu0 = ThreadCpuS() + ProcessCpuS((*tpm)->pid());
        direct = std::max(direct, bench::OpsPerSecond(kTpmN, [&](int i) {
          body.set_decision_ledger_index(static_cast<uint64_t>(i));
          std::string msg(tao::kTaoSignatureDomain);
          msg.append(*tao::EncodeBody(body));
          auto sig = keys::internal::SignDigest(ctx->get(), key->get(), crypto::Sha256(msg), 5000);
          if (!sig.ok()) Die(sig.status(), "direct sign");
        }));
        const double cpu = ThreadCpuS() + ProcessCpuS((*tpm)->pid()) - cpu0;
        if (cpu > 0) direct_cpu = std::max(direct_cpu, kTpmN / cpu);
      }
      keys::TpmRootSignerOptions so;
      so.tcti = io.tcti;
      auto root = keys::TpmRootSigner::Open(so);
      if (!root.ok()) Die(root.status(), "root signer");
      root_sign = std::max(root_sign, bench::OpsPerSecond(kTpmN / 2, [&](int i) {
        if (!(*root)->Sign(std::to_string(i)).ok()) Die(absl::InternalError("sign"), "root sign");
      }));
      keys::IssuingKeyOptions ko;
      ko.instance = "bench";
      auto m = keys::IssuingKeyManager::Create(root->get(), ko);
      if (!m.ok()) Die(m.status(), "issuing key manager");
      const double cpu0 = ThreadCpuS();
      issue = std::max(issue, bench::OpsPerSecond(kIssueN, [&](int i) {
        body.set_decision_ledger_index(static_cast<uint64_t>(i));
        if (!(*m)->SignTao(body).ok()) Die(absl::InternalError("issue"), "issue");
      }));
      issue_cpu = std::max(issue_cpu, kIssueN / (ThreadCpuS() - cpu0));
      // The ceiling: one bare Ed25519 signature over a TAO-sized message.
      const std::string raw_msg(tao::kTaoSignatureDomain.size() + tao::EncodeBody(body)->size(), 'm');
      raw = std::max(raw, bench::OpsPerSecond(kIssueN, [&](int) {
        if (!raw_key->Sign(crypto::AsBytes(raw_msg)).ok()) Die(absl::InternalError("sign"), "raw");
      }));
      auto t0 = Stopwatch::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < 2; ++t)
        threads.emplace_back([&, t] {
          v1::TaoBody b = testing::ValidTaoBody();
          for (int i = 0; i < kIssueN / 2; ++i) {
            b.set_decision_ledger_index(static_cast<uint64_t>(t * kIssueN + i));
            if (!(*m)->SignTao(b).ok()) Die(absl::InternalError("issue"), "issue 2t");
          }
        });
      for (auto& th : threads) th.join();
      issue2 = std::max(issue2, kIssueN / std::chrono::duration<double>(Stopwatch::now() - t0).count());
    }
    double load[1] = {0};
    getloadavg(load, 1);  // this VM is shared: say how busy it was
    bench::Report r;
    r.Add({"tao_issuance", issue, "TAOs/s", direct, {{"threads", 1}, {"tpm", "swtpm"}, {"best_of", 3}, {"loadavg_1m", load[0]}}});
    r.Add({"tao_issuance_2t", issue2, "TAOs/s", direct, {{"threads", 2}, {"tpm", "swtpm"}, {"best_of", 3}}});
    r.Add({"tpm_direct_sign", direct, "TAOs/s", std::nullopt,
           {{"alg", "ECDSA P-256 via ESYS TPM2_Sign"}, {"tpm", "swtpm"}, {"best_of", 3}}});
    r.Add({"tao_issuance_per_cpu_s", issue_cpu, "TAOs/CPU-s", direct_cpu,
           {{"what", "TAOs per CPU-second of the issuing thread; baseline per CPU-second of "
                     "bench thread + swtpm process (load-independent)"}, {"best_of", 3}}});
    r.Add({"tpm_direct_sign_per_cpu_s", direct_cpu, "TAOs/CPU-s", std::nullopt,
           {{"what", "bench thread + swtpm CPU"}, {"best_of", 3}}});
    r.Add({"ed25519_sign", raw, "signs/s", std::nullopt,
           {{"what", "bare Ed25519 sign of a TAO-sized message (issuance ceiling)"}, {"best_of", 3}}});
    r.Add({"tpm_root_sign", root_sign, "signs/s", direct,
           {{"path", "TpmRootSigner worker + pinned-key verify"}, {"tpm", "swtpm"}, {"best_of", 3}}});
    rc = r.Emit(bench::JsonPathFromArgs(argc, argv)) ? 0 : 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
