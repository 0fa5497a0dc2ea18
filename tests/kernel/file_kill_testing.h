// Fixture for the kill-on-open / kill-on-exec fallback tests: a gate on this
// test's governed subtree plus a directory of files the test protects by
// inode (keys built with bpflsm::MakeInodeKey, the LSM's key builder).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "kernel/kernel_testing.h"
#include "taogate/bpflsm/lsm_keys.h"

namespace taogate::bpf::testing {

inline constexpr int kKilled = 128 + SIGKILL;

class FileKillTest : public OpenGateTest {
 protected:
  void SetUp() override {
    OpenGateTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = (tmp_.path() / "files").string();
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }

  std::string MakeFile(const std::string& name, const std::string& content = "original\n") {
    std::string p = dir_ + "/" + name;
    taogate::testing::WriteFile(p, content);
    return p;
  }

  bpf::tg_inode_key KeyOf(const std::string& path) {
    auto k = bpflsm::MakeInodeKey(path);
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() ? *k : bpf::tg_inode_key{};
  }

  void ProtectPath(const std::string& path, uint32_t deny, bool subtree = false) {
    bpf::tg_inode_key k = KeyOf(path);
    absl::Status s = gate_->ProtectInode(k.dev, k.ino, deny, subtree);
    ASSERT_TRUE(s.ok()) << s;
  }

  void UnprotectPath(const std::string& path) {
    bpf::tg_inode_key k = KeyOf(path);
    absl::Status s = gate_->UnprotectInode(k.dev, k.ino);
    ASSERT_TRUE(s.ok()) << s;
  }

  const HookStatus* Find(const ProbeReport& r, const std::string& name) {
    for (const HookStatus& h : r.hooks) {
      if (h.name == name) return &h;
    }
    return nullptr;
  }

  std::string dir_;
};

// Child bodies. Each returns 0 on success or errno, so a parent sees
// 0 / errno / kKilled.

// open(path, flags); if it returns, write "PWNED" (if writable) and close.
inline int OpenAndWrite(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  if ((flags & O_ACCMODE) != O_RDONLY && write(fd, "PWNED", 5) != 5) return errno;
  close(fd);
  return 0;
}

// open(path, O_RDONLY), copy what it reads into `leak`.
inline int ReadInto(const std::string& path, const std::string& leak) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n < 0) return errno;
  int out = open(leak.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return errno;
  if (write(out, buf, n) != n) return errno;
  close(out);
  return 0;
}

inline bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

}  // namespace taogate::bpf::testing
