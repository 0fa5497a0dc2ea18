#!/usr/bin/env bash
# The layers of docs/architecture.md, checked on the tree and on the built
# agent. Usage: layers.sh SOURCE_DIR BUILD_DIR. Exits 1 naming every breach.
#
# 1. Includes: the sources of each directory may include only the taogate/<x>/
#    headers its layer allows (k8s/, the API server client, only common/;
#    dns/, the name resolver, only common/ and target/; hold/, the seccomp
#    supervisor, only common/ and target/: it knows nothing of TAOs).
# 2. Link line: taogate-agent's link command names no issuing or governor
#    library.
# 3. Symbols: the taogate-agent binary holds no symbol of the issue library or
#    the governor (issuing keys, root signers, keys init, CA issuing, Governor).
set -uo pipefail
SRC=$1 BUILD=$2
fail=0
breach() { echo "LAYER BREACH: $*"; fail=1; }

# dir -> allowed taogate/<x>/ include prefixes (besides its own).
declare -A ALLOW=(
  [common]=""
  [tao]="common target"
  [rpc]="common"
  [runtime]="common"
  [ledger]="common runtime pgstore"
  [pgstore]="common"
  [target]="common"
  [keys]="common tao"
  [policies]="common target k8s"
  [k8s]="common"
  [dns]="common target"
  [hold]="common target"
  [bpf]="common target bpflsm enforce"
  [agent]="common tao rpc runtime ledger keys target bpf bpflsm enforce k8s dns hold"
  [governance]="common tao rpc runtime ledger pgstore keys target policies k8s"
  [cli/evidence]="common ledger target"
)
# The public include folder of each taogate/<x>/ prefix that is not <x>/include.
own_prefix() { case $1 in bpf) echo "bpf bpflsm enforce";; cli/evidence) echo "evidence";; *) echo "$1";; esac; }

for dir in "${!ALLOW[@]}"; do
  allowed=" $(own_prefix "$dir") ${ALLOW[$dir]} "
  while IFS=: read -r file line inc; do
    prefix=$(sed -E 's|.*"taogate/([a-z_]+)/.*|\1|' <<<"$inc")
    [[ "$allowed" == *" $prefix "* ]] || breach "$file:$line includes taogate/$prefix/ ($dir may use:$allowed)"
  done < <(grep -rnoE '#include "taogate/[a-z_]+/[^"]*"' "$SRC/$dir" --include='*.cc' --include='*.h' --include='*.c')
done

# The agent and the verify half of keys/ never see the issuing headers.
for f in issuing_key.h keys_init.h locked_key.h root_signer.h; do
  grep -rln "taogate/keys/$f" "$SRC/agent" "$SRC/keys/src" "$SRC/keys/include" 2>/dev/null |
    while read -r hit; do breach "$hit includes the issuing header taogate/keys/$f"; done
done

AGENT=$BUILD/bin/taogate-agent
[ -x "$AGENT" ] || { echo "no agent binary at $AGENT"; exit 1; }
link=$(grep -A3 'build bin/taogate-agent:' "$BUILD/build.ninja" | tr ' ' '\n' |
       grep -E 'libtaogate_(keys_issue|governance_core|governance_server|governance_api|policies|ledger_pg|pgstore)\.a' || true)
[ -z "$link" ] || breach "taogate-agent links: $link"

syms=$(nm -C "$AGENT" | grep -E 'taogate::governance::|taogate::keys::(IssuingKey|IssuingKeyManager|TpmRootSigner|SoftwareRootSigner|RootSigner|KeysInit|LockedEd25519Key)|taogate::policies::' | head -5)
[ -z "$syms" ] || breach "taogate-agent holds issuing/governor symbols: $syms"

if [ $fail -eq 0 ]; then echo "layers: ok (includes, agent link line, agent symbols)"; fi
exit $fail
