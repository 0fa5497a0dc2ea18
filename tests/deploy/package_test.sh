#!/usr/bin/env bash
# package_test.sh BUILD_DIR: builds the three .deb packages with CPack and
# checks what an operator relies on:
#   - each package holds exactly its plane's files (the node package holds no
#     governor binary and depends on no TPM/ESYS library: it cannot issue);
#   - Depends are computed from the binaries (dpkg-shlibdeps), configs are
#     conffiles, the governor ships its sysusers entry;
#   - dpkg installs all three into an empty root, an upgrade keeps an edited
#     config, and purge leaves nothing of ours behind;
#   - the installed binaries run, the systemd units parse.
set -euo pipefail
BUILD=$(realpath "$1")
WORK=$(mktemp -d /tmp/taogate-pkg.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/out" >"$WORK/cpack.log" 2>&1 ||
  { cat "$WORK/cpack.log" >&2; fail "cpack failed"; }
V=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
ARCH=$(dpkg --print-architecture)
for c in agent governor cli; do
  [ -f "$WORK/out/taogate-${c}_${V}_${ARCH}.deb" ] || fail "no taogate-$c package"
done
deb() { echo "$WORK/out/taogate-$1_${V}_${ARCH}.deb"; }
files() { dpkg-deb -c "$(deb "$1")" | awk '$1 !~ /^d/ {print $6}' | sed 's#^\./#/#' | sort; }

expect_files() {  # expect_files COMPONENT FILE...
  local c=$1; shift
  diff <(printf '%s\n' "$@" | sort) <(files "$c") >"$WORK/diff" ||
    { cat "$WORK/diff" >&2; fail "taogate-$c: unexpected file list (< expected, > packaged)"; }
}
expect_files agent /etc/taogate/agent.yaml /usr/bin/taogate-agent \
  /usr/lib/systemd/system/taogate-agent.service \
  /usr/share/doc/taogate-agent/agent.md /usr/share/doc/taogate-agent/kernel.md
expect_files governor /etc/taogate/governor.yaml /usr/bin/taogate-governor \
  /usr/lib/systemd/system/taogate-governor.service /usr/lib/sysusers.d/taogate-governor.conf \
  /usr/share/doc/taogate-governor/governor.md /usr/share/doc/taogate-governor/keys.md \
  /usr/share/doc/taogate-governor/policy.md
# taogatectl's completion and man pages, generated from its CLI definitions:
# one page per command, as `taogatectl man --dir` writes them.
"$BUILD/bin/taogatectl" man --dir "$WORK/man"
mapfile -t man_pages < <(cd "$WORK/man" && ls ./*.1 | sed 's#^\./#/usr/share/man/man1/#')
[ "${#man_pages[@]}" -gt 10 ] || fail "taogatectl man --dir wrote ${#man_pages[@]} pages"
expect_files cli /usr/bin/taogatectl /usr/share/doc/taogate-cli/README.md \
  /usr/share/doc/taogate-cli/architecture.md /usr/share/doc/taogate-cli/ledger.md \
  /usr/share/doc/taogate-cli/packaging.md /usr/share/doc/taogate-cli/security.md \
  /usr/share/bash-completion/completions/taogatectl "${man_pages[@]}"

# The node cannot issue: its package pulls in no TPM ESYS library and holds
# no issuing symbol (the layering test checks the binary's link line too).
agent_deps=$(dpkg-deb -f "$(deb agent)" Depends)
[ -n "$agent_deps" ] || fail "taogate-agent has no Depends (dpkg-shlibdeps did not run)"
case "$agent_deps" in *libtss2-esys*) fail "taogate-agent depends on libtss2-esys: $agent_deps" ;; esac
case "$agent_deps" in *libbpf*) ;; *) fail "taogate-agent does not depend on libbpf: $agent_deps" ;; esac
case "$(dpkg-deb -f "$(deb governor)" Depends)" in *libtss2-esys*) ;; *) fail "taogate-governor lacks libtss2-esys" ;; esac
dpkg-deb -x "$(deb agent)" "$WORK/agent-x"
if grep -Eq 'IssuingKey|TpmRootSigner|Esys_' <<<"$(nm -C -D "$WORK/agent-x/usr/bin/taogate-agent" 2>/dev/null)"; then
  fail "taogate-agent binary names issuing or ESYS symbols"
fi

[ "$(dpkg-deb -I "$(deb agent)" conffiles)" = /etc/taogate/agent.yaml ] || fail "agent.yaml is not a conffile"
[ "$(dpkg-deb -I "$(deb governor)" conffiles)" = /etc/taogate/governor.yaml ] || fail "governor.yaml is not a conffile"
# (no `cmd | grep -q` under pipefail: grep's early exit would fail the pipe)
case "$(dpkg-deb -I "$(deb governor)" postinst)" in *systemd-sysusers*) ;; *) fail "governor postinst does not create its user" ;; esac
for c in agent governor; do  # installing never starts a service (the agent's start is enforcement)
  if grep -v '^#' <<<"$(dpkg-deb -I "$(deb $c)" postinst)" | grep -E 'start|enable' >/dev/null; then
    fail "$c postinst starts or enables a service"
  fi
done

# Install into an empty root: dpkg's database and nothing else.
ROOT=$WORK/root
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/var/lib/dpkg/triggers"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
DPKG=(dpkg --root="$ROOT" --force-script-chrootless --force-depends --force-not-root
      --log=/dev/null --no-triggers)
"${DPKG[@]}" -i "$(deb cli)" "$(deb agent)" "$(deb governor)" >"$WORK/dpkg.log" 2>&1 ||
  { cat "$WORK/dpkg.log" >&2; fail "dpkg -i into a scratch root failed"; }
for p in taogate-agent taogate-governor taogate-cli; do
  [ "$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}' "$p")" = "install ok installed" ] ||
    fail "$p not installed"
done
"$ROOT/usr/bin/taogatectl" --help >/dev/null || fail "installed taogatectl does not run"
bash -n "$ROOT/usr/share/bash-completion/completions/taogatectl" || fail "installed completion script does not parse"
"$ROOT/usr/bin/taogate-agent" --help >/dev/null || fail "installed taogate-agent does not run"
"$ROOT/usr/bin/taogate-governor" --help >/dev/null || fail "installed taogate-governor does not run"
if command -v systemd-analyze >/dev/null; then
  for u in taogate-agent taogate-governor; do
    # Offline parse of the unit as installed (unknown keys and bad values are
    # errors); ExecStart's binary is resolved in the scratch root.
    out=$(systemd-analyze verify --root="$ROOT" "$ROOT/usr/lib/systemd/system/$u.service" 2>&1 || true)
    if echo "$out" | grep -Ei 'unknown (key|lvalue)|failed to parse|invalid' ; then
      fail "$u.service does not parse"
    fi
  done
fi

# Upgrade over an operator's edit: the conffile is kept, the binary replaced.
echo "# edited by the operator" >>"$ROOT/etc/taogate/agent.yaml"
"${DPKG[@]}" --force-confold -i "$(deb agent)" >"$WORK/dpkg.log" 2>&1 ||
  { cat "$WORK/dpkg.log" >&2; fail "reinstall (upgrade path) failed"; }
grep -q "edited by the operator" "$ROOT/etc/taogate/agent.yaml" || fail "upgrade overwrote agent.yaml"

# Purge leaves no file of ours.
"${DPKG[@]}" -P taogate-agent taogate-governor taogate-cli >"$WORK/dpkg.log" 2>&1 ||
  { cat "$WORK/dpkg.log" >&2; fail "purge failed"; }
left=$(find "$ROOT" -path "$ROOT/var/lib/dpkg" -prune -o -type f -print)
[ -z "$left" ] || fail "purge left files: $left"
echo "packages: agent, governor, cli built, checked, installed, upgraded and purged in a scratch root"
