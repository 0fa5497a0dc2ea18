# Reads docs/*.md and prints their runbook blocks (tests/docs/README in
# runbook_test.sh). A runbook block is a fenced block whose info string is
#   sh {runbook=NAME}                      run by tests/docs/runbook_test.sh
#   sh {runbook=NAME host-only instead=T}  not runnable in a test (a real
#                                          cluster or package manager); T names
#                                          the CTest test or runbook that
#                                          checks what it does instead
# -v mode=list:        FILE:LINE<TAB>NAME<TAB>run|host-only<TAB>INSTEAD, one per block,
#                      and FILE:LINE<TAB>-<TAB>untagged for other sh/bash blocks
# -v mode=script -v name=NAME: the bodies of NAME's run blocks, in order
BEGIN { inblock = 0 }
/^ *```/ {
  if (inblock) { inblock = 0; next }
  inblock = 1; take = 0
  info = $0; sub(/^ *```/, "", info)
  if (match(info, /\{runbook=[a-z0-9-]+/)) {
    rb = substr(info, RSTART + 9, RLENGTH - 9)
    host = (info ~ /host-only/)
    instead = ""
    if (match(info, /instead=[A-Za-z0-9._*-]+/)) instead = substr(info, RSTART + 8, RLENGTH - 8)
    if (mode == "list") printf "%s:%d\t%s\t%s\t%s\n", FILENAME, FNR, rb, host ? "host-only" : "run", instead
    if (mode == "script" && rb == name && !host) { take = 1; printf "# --- %s:%d\n", FILENAME, FNR }
  } else if (mode == "list" && info ~ /^(sh|bash|console|shell)/) {
    printf "%s:%d\t-\tuntagged\t\n", FILENAME, FNR
  }
  next
}
inblock && take { print }
