// Scenario earlier_denial_unchanged: another BPF LSM program on file_open
// denies with -EACCES; taogate's program must return that denial unchanged,
// for a file it does not protect (no override to 0) and for one it does
// (no override to -EPERM).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm_prior_deny.skel.h"
#include "vm_util.h"

namespace taogate::vmtest {

void RunPriorDenyScenario(Env& env) {
  const std::string plain = env.tmp + "/plain.txt";
  const std::string db = env.tmp + "/records.sqlite";
  vm_prior_deny* skel = vm_prior_deny__open_and_load();
  if (!skel || vm_prior_deny__attach(skel) != 0) {
    if (skel) vm_prior_deny__destroy(skel);
    return Report("earlier_denial_unchanged", false, "cannot load the test program");
  }
  struct stat st;
  int r_plain = -1, r_db = -1;
  if (stat(plain.c_str(), &st) == 0) {
    skel->bss->deny_ino = st.st_ino;
    r_plain = RunIn(env.gov_a, [&] { return OpenErr(plain, O_RDONLY); });
  }
  if (stat(db.c_str(), &st) == 0) {
    skel->bss->deny_ino = st.st_ino;
    r_db = RunIn(env.gov_a, [&] { return OpenErr(db, O_WRONLY); });
  }
  skel->bss->deny_ino = 0;
  vm_prior_deny__destroy(skel);
  // Link release is asynchronous on newer kernels: wait for it, bounded.
  int after = EACCES;
  for (int waited_ms = 0; waited_ms <= 10000 && after == EACCES; waited_ms += 100) {
    after = RunIn(env.gov_a, [&] { return OpenErr(plain, O_RDONLY); });
    if (after == EACCES) usleep(100000);
  }
  // The later-attached program runs first on the trampoline, so taogate's
  // program sees ret == -EACCES in both cases.
  Report("earlier_denial_unchanged", r_plain == EACCES && r_db == EACCES && after == 0,
         "unprotected_file=" + ErrName(r_plain) + ",protected_file=" + ErrName(r_db) +
             ",after_detach=" + ErrName(after));
}

}  // namespace taogate::vmtest
