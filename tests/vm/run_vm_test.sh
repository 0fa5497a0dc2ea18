#!/usr/bin/env bash
# Boots a Debian kernel with BPF LSM enabled in qemu (TCG) and runs the
# statically linked in-VM test binary as the only program besides busybox.
# Passes only if every expected scenario printed status=pass and the run
# ended with TAOGATE-VM-DONE. Exit 77 (CTest skip) only when qemu or the
# kernel package cannot be had.
#
#   run_vm_test.sh --kernel-regex RE --cache DIR --workdir DIR --binary PATH
#                  --expect a,b,c [--timeout SECONDS]
#
# The kernel .deb and its extracted vmlinuz are cached under --cache (one
# directory per package), so only the first run downloads.
set -uo pipefail

KERNEL_RE= CACHE= WORK= BINARY= EXPECT= TIMEOUT=600
while [ $# -gt 0 ]; do
  case $1 in
    --kernel-regex) KERNEL_RE=$2; shift 2 ;;
    --cache) CACHE=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --expect) EXPECT=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) echo "run_vm_test: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in KERNEL_RE CACHE WORK BINARY EXPECT; do
  [ -n "${!v}" ] || { echo "run_vm_test: missing --${v,,}" >&2; exit 2; }
done

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
  # Static means no PT_INTERP (readelf comes with the compiler's binutils).
  if [ -x "$b" ] && readelf -lW "$b" 2>/dev/null | grep -q 'LOAD' &&
     ! readelf -lW "$b" | grep -q 'INTERP'; then BUSYBOX=$b; break; fi
done
[ -n "$BUSYBOX" ] || fail "no statically linked busybox (Debian package busybox-static)"
[ -x "$BINARY" ] || fail "in-VM test binary $BINARY not built"
command -v cpio >/dev/null || fail "cpio is not installed"

# 1. Kernel: newest package whose name matches, cached.
mkdir -p "$CACHE" "$WORK"
PKG=$(apt-cache search --names-only "^${KERNEL_RE}\$" 2>/dev/null | awk '{print $1}' |
      grep -E "^${KERNEL_RE}\$" | sort -V | tail -1)
if [ -z "$PKG" ]; then
  # Offline: fall back to the newest cached package for this regex.
  PKG=$(ls "$CACHE" 2>/dev/null | grep -E "^${KERNEL_RE}\$" | sort -V | tail -1)
fi
[ -n "$PKG" ] || skip "no kernel package matching ${KERNEL_RE} (apt-cache search) and none cached"
KDIR="$CACHE/$PKG"
if [ ! -s "$KDIR/vmlinuz" ]; then
  rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
  (cd "$KDIR.tmp" && apt-get download "$PKG" >download.log 2>&1) ||
    skip "apt-get download $PKG failed: $(tail -1 "$KDIR.tmp/download.log")"
  dpkg-deb -x "$KDIR.tmp"/*.deb "$KDIR.tmp/x" || fail "dpkg-deb -x failed for $PKG"
  cp "$KDIR.tmp"/x/boot/vmlinuz-* "$KDIR.tmp/vmlinuz" || fail "no vmlinuz in $PKG"
  mv "$KDIR.tmp"/*.deb "$KDIR.tmp/vmlinuz" "$KDIR.tmp/" 2>/dev/null
  rm -rf "$KDIR.tmp/x"
  rm -rf "$KDIR" && mv "$KDIR.tmp" "$KDIR"
fi
echo "kernel: $PKG ($KDIR/vmlinuz)"

# 2. Initramfs: busybox + /init + the static test binary.
ROOT="$WORK/initramfs"
rm -rf "$ROOT" && mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp}
cp "$BUSYBOX" "$ROOT/bin/busybox"
cp "$BINARY" "$ROOT/taogate-vm-lsm-test"
cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
ip link set lo up
echo 0 > /proc/sys/kernel/yama/ptrace_scope 2>/dev/null
echo "TAOGATE-VM-BOOTED"
/taogate-vm-lsm-test
echo "TAOGATE-VM-EXIT rc=$?"
poweroff -f
INIT
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/initramfs.cpio.gz" ||
  fail "building the initramfs failed"

# 3. Boot. panic=-1 + -no-reboot: any kernel panic ends qemu at once.
LOG="$WORK/serial.log"
echo "booting qemu (TCG, timeout ${TIMEOUT}s), serial log: $LOG"
start=$(date +%s)
timeout --kill-after=10 "$TIMEOUT" "$QEMU" -accel tcg -m 512 -smp 2 -nographic -no-reboot \
  -kernel "$KDIR/vmlinuz" -initrd "$WORK/initramfs.cpio.gz" \
  -append "console=ttyS0 lsm=landlock,lockdown,yama,bpf panic=-1 quiet loglevel=3" \
  </dev/null >"$LOG" 2>&1
rc=$?
echo "qemu exited rc=$rc after $(( $(date +%s) - start ))s"
[ $rc -eq 124 ] && echo "qemu timed out"

# 4. Verdict from the serial console.
tr -d '\r' <"$LOG" | grep -a 'TAOGATE-VM-' | sed 's/^/  /'
clean=$(tr -d '\r' <"$LOG")
status=0
IFS=, read -ra names <<<"$EXPECT"
for n in "${names[@]}"; do
  if ! grep -aq "^TAOGATE-VM-RESULT name=$n status=pass" <<<"$clean"; then
    echo "FAIL: scenario $n did not pass (missing or failed)"
    status=1
  fi
done
if grep -aq 'status=fail' <<<"$clean"; then echo "FAIL: a scenario failed"; status=1; fi
grep -aq '^TAOGATE-VM-DONE passed=[0-9]* failed=0' <<<"$clean" ||
  { echo "FAIL: no clean TAOGATE-VM-DONE line"; status=1; }
if [ $status -ne 0 ]; then
  echo "---- last 40 lines of the serial console ----"
  tail -40 <<<"$clean"
fi
exit $status
