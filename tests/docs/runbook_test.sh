#!/usr/bin/env bash
# runbook_test.sh SOURCE_DIR BIN_DIR [RUNBOOK...]: runs every runbook of
# docs/operations.md and docs/audit.md, block by block, in a sandbox local
# deployment built the way scripts/demo.d/run builds its own: a swtpm, a
# governed cgroup, a private bpffs, a loopback TCP service standing for the
# protected system, and taogate-governor and taogate-agent started from their
# real unit files' ExecStart= lines by shim/systemctl (this machine has no
# systemd as PID 1). Each runbook's blocks run in order as one bash script
# (`set -euxo pipefail`), after the doc's `env` block, with the sandbox's paths
# in the variables the doc defines; a hook before a runbook makes the situation
# it is about (a refused workload, a damaged ledger), a hook after checks its
# outcome. Everything made is removed on every exit path; nothing else is
# touched. Root, like kernel.demo. Blocks tagged host-only are not run here:
# tests/docs/docs_lint.sh checks that each names what tests it instead.
set -euo pipefail
SRC=$(realpath "$1") BIN=$(realpath "$2"); shift 2
# In this order, on one deployment: each runbook starts from the state the
# ones before it left (installed first, uninstalled last); audit reads the
# copies ledger-backup made. docs_lint.sh reads this list.
RUNBOOKS=(install-kubernetes install-systemd denied ledger-backup audit
          certificates tpm-root governor-outage crash-loop upgrade uninstall)
[ $# -eq 0 ] || RUNBOOKS=("$@")
HERE=$SRC/tests/docs
DOCS=("$SRC/docs/operations.md" "$SRC/docs/audit.md")

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (BPF, cgroups, bpffs mount)"
for b in taogatectl taogate-agent taogate-governor; do [ -x "$BIN/$b" ] || fail "missing $BIN/$b"; done
for b in swtpm swtpm_setup openssl curl python3 jq; do
  command -v "$b" >/dev/null || fail "missing $b (scripts/deps)"
done
# kubectl is not a Debian 12 package (scripts/deps cannot install it): without
# it the Kubernetes install runbook is skipped, and said so; the others run.
if ! command -v kubectl >/dev/null; then
  echo "SKIPPED runbook install-kubernetes: kubectl is not installed" >&2
  KEEP=(); for rb in "${RUNBOOKS[@]}"; do [ "$rb" = install-kubernetes ] || KEEP+=("$rb"); done
  RUNBOOKS=("${KEEP[@]}")
fi

# ------------------------------------------------------------- cleanup
W='' BPFFS_MOUNTED='' GOV_ABS='' SWTPM_PID='' LISTENER_PID=''
stop_unit() {  # the shim's pid files: our own daemons only
  local pid
  pid=$(cat "$W/units/$1.pid" 2>/dev/null) || return 0
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${1:0:15}" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$W" ]; then
    stop_unit taogate-agent
    stop_unit taogate-governor
  fi
  [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
  if [ -n "$SWTPM_PID" ] && [ "$(cat "/proc/$SWTPM_PID/comm" 2>/dev/null)" = swtpm ]; then
    kill -TERM "$SWTPM_PID"
  fi
  [ -n "${PIN_ROOT:-}" ] && [ -d "$PIN_ROOT" ] && "$BIN/taogatectl" gate detach --pin-root "$PIN_ROOT" >/dev/null 2>&1
  [ -n "$BPFFS_MOUNTED" ] && { umount "$W/bpffs" 2>/dev/null || umount -l "$W/bpffs"; }
  if [ -n "$GOV_ABS" ] && [ -d "$GOV_ABS" ]; then
    [ -e "$GOV_ABS/cgroup.kill" ] && echo 1 >"$GOV_ABS/cgroup.kill" 2>/dev/null
    for _ in $(seq 1 50); do
      find "$GOV_ABS" -depth -type d -exec rmdir {} + 2>/dev/null
      [ -d "$GOV_ABS" ] || break
      sleep 0.1
    done
    [ -d "$GOV_ABS" ] && echo "cleanup: could not remove $GOV_ABS" >&2
  fi
  if [ "$rc" -ne 0 ] && [ -n "$W" ]; then
    for f in "$W"/units/*.log; do [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  # RB_KEEP_LOGS=DIR keeps each runbook's trace and the daemons' logs
  [ -n "${RB_KEEP_LOGS:-}" ] && [ -n "$W" ] && mkdir -p "$RB_KEEP_LOGS" && cp "$W"/rb/*.log "$W"/units/*.log "$RB_KEEP_LOGS/" 2>/dev/null
  [ -n "$W" ] && rm -rf "$W"
  [ "$rc" -eq 0 ] && echo "RUNBOOKS PASSED: ${RUNBOOKS[*]}" || echo "RUNBOOKS FAILED (exit $rc)" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {  # prints a loopback port nobody listens on
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htan "sport = :$p")" ] && [[ " ${PORTS:-} " != *" $p "* ]] && { PORTS+=" $p"; echo "$p"; return; }
  done
  return 1
}

# ------------------------------------------------------------- sandbox
W=$(mktemp -d /tmp/taogate-runbooks.XXXXXX)
chmod 0755 "$W"
mkdir -p "$W/etc" "$W/units" "$W/run" "$W/lib" "$W/rb" "$W/shim"
cp "$HERE/shim/systemctl" "$HERE/shim/journalctl" "$W/shim/"
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG2" ] || fail "no cgroup2 mount"
GOV_REL=/taogate-runbooks-$$-$RANDOM
mkdir "$CG2$GOV_REL"; GOV_ABS=$CG2$GOV_REL
mkdir "$W/bpffs"
mount -t bpf bpf "$W/bpffs" -o mode=0700; BPFFS_MOUNTED=1

mkdir -m 0700 "$W/tpm"
swtpm_setup --tpm2 --tpmstate "$W/tpm" --pcr-banks sha256 --config /dev/null >"$W/tpm/setup.log" 2>&1 ||
  fail "swtpm_setup: $(tail -n 3 "$W/tpm/setup.log")"
swtpm socket --tpm2 --tpmstate dir="$W/tpm" \
  --server type=unixio,path="$W/tpm/sock" --ctrl type=unixio,path="$W/tpm/sock.ctrl" \
  --flags not-need-init,startup-clear --pid file="$W/tpm/swtpm.pid" -d
for _ in $(seq 1 50); do [ -s "$W/tpm/swtpm.pid" ] && [ -S "$W/tpm/sock" ] && break; sleep 0.1; done
SWTPM_PID=$(cat "$W/tpm/swtpm.pid")

# The protected system: a loopback TCP service that accepts and closes.
TARGET_PORT=$(free_port)
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True: s.accept()[0].close()' "$TARGET_PORT" &
LISTENER_PID=$!

# The variables docs/operations.md defines, with the sandbox's values.
export TAOGATE_SRC=$SRC
export TAOGATE_ETC=$W/etc
export PIN_ROOT=$W/bpffs/taogate
export AGENT_SOCK=$W/run/agent.sock OPERATOR_SOCK=$W/run/operator.sock
export AGENT_LEDGER=$W/lib/ledger AGENT_LEDGER_KEY=$W/lib/ledger-checkpoint.pem
export GOV_LEDGER=$W/lib/governor-ledger
export TCTI=swtpm:path=$W/tpm/sock
export NODE=runbook-node TRUST_DOMAIN=runbook.local
export ADMIN=spiffe://runbook.local/admin/operator
GOV_PORT=$(free_port) GOV_METRICS=127.0.0.1:$(free_port) AGENT_METRICS=$(free_port)
export GOVERNOR=127.0.0.1:$GOV_PORT GOVERNOR_NAME=localhost GOVERNOR_HEALTH=$GOV_METRICS
export GOVERNED_ROOT=$GOV_ABS WORKLOAD=reporter CGROUP2=$CG2
export TARGET_HOST=127.0.0.1 TARGET_PORT ACTION=db.read
export BACKUP=$W/backup TAO_FILE=$W/audit-tao.bin
# shim/systemctl and shim/journalctl
export RB_UNITS=$W/units RB_SRC=$SRC RB_BIN=$BIN RB_GOV_METRICS=$GOV_METRICS
export PATH=$W/shim:$BIN:$PATH

# The operator's edits of deploy/governor/governor.yaml, deploy/agent/agent.yaml
# and the policy (the install runbook says what to change).
sed -e "s#@NODE@#$NODE#g" -e "s#@GOVERNED_ROOT@#$GOV_REL#g" -e "s#@PORT@#$TARGET_PORT#g" \
  "$HERE/policy.yaml" >"$TAOGATE_ETC/policy.yaml"
cat >"$TAOGATE_ETC/governor.yaml" <<EOF
listen: $GOVERNOR
tls_ca: $TAOGATE_ETC/tls/ca.crt
tls_cert: $TAOGATE_ETC/tls/server.crt
tls_key: $TAOGATE_ETC/tls/server.key
metrics_listen: $GOV_METRICS
policy_file: $TAOGATE_ETC/policy.yaml
ledger_dir: $GOV_LEDGER
instance: runbook-governor
admins:
  - $ADMIN
tcti: $TCTI
tpm_create_root: false
EOF
cat >"$TAOGATE_ETC/agent.yaml" <<EOF
node_id: $NODE
cgroup2_mount: $CG2
governed_cgroup: $GOV_REL
pin_root: $PIN_ROOT
mount_bpffs: false
mode: protect-listed
ledger_dir: $AGENT_LEDGER
ledger_key: $AGENT_LEDGER_KEY
workload_socket: $AGENT_SOCK
operator_socket: $OPERATOR_SOCK
operator_uids: [0]
trust_bundle: $TAOGATE_ETC/trust-bundle.json
strict_keys: true
metrics_address: 127.0.0.1
metrics_port: $AGENT_METRICS
governor_address: $GOVERNOR
governor_ca: $TAOGATE_ETC/tls/ca.crt
governor_cert: $TAOGATE_ETC/tls/node.crt
governor_key: $TAOGATE_ETC/tls/node.key
governor_server_name: localhost
targets_cache: $W/lib/targets.pb
denied_flush_ms: 200
checkpoint_every_ms: 2000
EOF

# ------------------------------------------------------------- helpers for the hooks
in_workload() { taogatectl run --workload "$WORKLOAD" --governed-root "$GOVERNED_ROOT" -- "$@"; }
connect_target() { in_workload bash -c 'exec 3<>"/dev/tcp/$TARGET_HOST/$TARGET_PORT"' 2>&1; }
expect_gate_refuses() {  # WHEN
  local out
  if out=$(connect_target); then fail "$1: the workload's connect went through; expected EPERM"; fi
  grep -q "Operation not permitted" <<<"$out" || fail "$1: expected EPERM, got: $out"
}
agent_field() {  # FIELD: a top-level scalar of `agent status`
  taogatectl agent --socket "$OPERATOR_SOCK" status | jq -r ".$1 // empty"
}

# ------------------------------------------------------------- hooks
after_install-systemd() {
  systemctl is-active taogate-governor taogate-agent >/dev/null || fail "daemons not running after install"
  expect_gate_refuses "after install, without a TAO"
}
before_denied() {
  expect_gate_refuses "the refused workload"
}
after_denied() {
  expect_gate_refuses "after the runbook (its grant was one-shot)"
}
before_ledger-backup() {
  # The case the audit runbook reviews: a TAO issued, redeemed and used
  # before the backup.
  in_workload taogatectl acquire "tcp:$TARGET_HOST:$TARGET_PORT" --action "$ACTION" --reason "the audited TAO" \
    --socket "$AGENT_SOCK" --authorize-only --tao-out "$TAO_FILE" >/dev/null || fail "audit TAO not issued"
  in_workload taogatectl redeem "$TAO_FILE" --socket "$AGENT_SOCK" >/dev/null || fail "audit TAO not redeemed"
  connect_target >/dev/null || fail "the audited TAO's grant did not let the connect through"
  sleep 0.5   # the EXERCISED record comes from the kernel's ring buffer
}
after_ledger-backup() {
  [ -d "$BACKUP" ] || fail "no backup in $BACKUP"
}
after_certificates() {
  [ -f "$TAOGATE_ETC/tls.old/ca.crt" ] && ! cmp -s "$TAOGATE_ETC/tls/ca.crt" "$TAOGATE_ETC/tls.old/ca.crt" ||
    fail "the new CA is not installed"
}
before_governor-outage() {
  in_workload taogatectl acquire "tcp:$TARGET_HOST:$TARGET_PORT" --action "$ACTION" --reason "before the outage" \
    --socket "$AGENT_SOCK" --authorize-only --tao-out "$W/outage-tao.bin" >/dev/null || fail "no TAO before the outage"
  systemctl stop taogate-governor
  # What the runbook says holds during the outage: no new grant, the gate
  # still refuses, and a TAO issued before still redeems and is used once.
  local out
  if out=$(in_workload taogatectl acquire "tcp:$TARGET_HOST:$TARGET_PORT" --action "$ACTION" --reason "during the outage" \
      --socket "$AGENT_SOCK" --authorize-only --tao-out /dev/null 2>&1); then
    fail "a TAO was issued while the governor was down"
  fi
  echo "    acquire during the outage: $(tail -n 1 <<<"$out" | cut -c1-200)"
  expect_gate_refuses "while the governor is down"
  in_workload taogatectl redeem "$W/outage-tao.bin" --socket "$AGENT_SOCK" >/dev/null ||
    fail "a TAO issued before the outage did not redeem during it"
  connect_target >/dev/null || fail "the grant redeemed during the outage did not let the connect through"
  expect_gate_refuses "after that one connection"
}
after_governor-outage() {
  systemctl is-active taogate-governor >/dev/null || fail "governor not back"
}
before_crash-loop() {
  # The damage the runbook is about: the node ledger lost signed records
  # (a truncated last segment), so the agent refuses to start, over and over.
  systemctl stop taogate-agent
  local seg
  seg=$(ls "$AGENT_LEDGER"/seg-*.log | tail -n 1)
  truncate -s $(( $(stat -c %s "$seg") / 2 )) "$seg"   # well inside what the last checkpoint covers
  if systemctl start taogate-agent 2>/dev/null; then fail "the agent started on a rolled-back ledger"; fi
  expect_gate_refuses "while the agent is down"
}
after_crash-loop() {
  systemctl is-active taogate-agent >/dev/null || fail "agent not running after the crash-loop runbook"
  [ "$(agent_field quarantined_workloads)" = "" ] || [ "$(agent_field quarantined_workloads)" = 0 ] ||
    fail "the kill switch is still engaged"
}
after_upgrade() {
  systemctl is-active taogate-agent taogate-governor >/dev/null || fail "daemons not running after upgrade"
}
after_uninstall() {
  [ ! -e "$PIN_ROOT" ] || [ -z "$(ls -A "$PIN_ROOT")" ] || fail "pins left in $PIN_ROOT"
  connect_target >/dev/null || fail "after detach the workload is still refused"
}

# ------------------------------------------------------------- run
for rb in "${RUNBOOKS[@]}"; do
  script=$W/rb/$rb.sh
  { echo "set -euxo pipefail"
    awk -v mode=script -v name=env -f "$HERE/blocks.awk" "${DOCS[@]}"
    awk -v mode=script -v name="$rb" -f "$HERE/blocks.awk" "${DOCS[@]}"
  } >"$script"
  grep -q "^# --- .*" <(awk -v mode=script -v name="$rb" -f "$HERE/blocks.awk" "${DOCS[@]}") ||
    fail "runbook $rb has no block in ${DOCS[*]}"
  echo "=== runbook $rb ($(grep -c '^# --- ' "$script") blocks with env)"
  mkdir -p "$W/rb/$rb"
  if declare -F "before_$rb" >/dev/null; then "before_$rb"; fi
  (cd "$W/rb/$rb" && bash "$script") >"$W/rb/$rb.log" 2>&1 || {
    tail -n 60 "$W/rb/$rb.log" >&2
    fail "runbook $rb: a step failed (above: the trace of its last commands)"
  }
  if declare -F "after_$rb" >/dev/null; then "after_$rb"; fi
  echo "    ok ($(grep -c '^+ ' "$W/rb/$rb.log") commands traced)"
done
