#!/usr/bin/env bash
# manifest_test.sh SOURCE_DIR BUILD_DIR: checks deploy/kubernetes against the
# Kubernetes API types, its cross-references and taogate's own properties
# (k8s/validate.mjs), checks the configuration it embeds with taogate's own
# parsers, and shows that the check refuses each kind of broken manifest.
# Needs node and npm (scripts/deps installs them); the npm packages are
# pinned by k8s/package-lock.json and installed into the build tree.
set -euo pipefail
SRC=$(realpath "$1") BUILD=$(realpath "$2")
BASE=$SRC/deploy/kubernetes
CHECK=$BUILD/k8s-check
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/deps)"

mkdir -p "$CHECK"
cp "$SRC/tests/deploy/k8s/validate.mjs" "$CHECK/"
if ! cmp -s "$SRC/tests/deploy/k8s/package-lock.json" "$CHECK/package-lock.json" || [ ! -d "$CHECK/node_modules" ]; then
  cp "$SRC/tests/deploy/k8s/package.json" "$SRC/tests/deploy/k8s/package-lock.json" "$CHECK/"
  (cd "$CHECK" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
fi
WORK=$(mktemp -d /tmp/taogate-k8s.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

node "$CHECK/validate.mjs" "$BASE" "$WORK/config" || fail "deploy/kubernetes does not pass"

# The configuration inside the ConfigMaps, checked by the daemons' parsers.
"$BUILD/bin/taogatectl" policy validate "$WORK/config/policy.yaml" || fail "embedded policy.yaml is invalid"
"$BUILD/bin/taogate-agent" --config "$WORK/config/agent.yaml" --node-id node-a --check-config --syntax-only ||
  fail "embedded agent.yaml is refused by taogate-agent"
"$BUILD/bin/taogate-governor" --config "$WORK/config/governor.yaml" --check-config ||
  fail "embedded governor.yaml is refused by taogate-governor"

# ...and a configuration they refuse is not passed.
printf 'node_id: a\nmetrics_adress: 127.0.0.1\n' >"$WORK/typo.yaml"
if "$BUILD/bin/taogate-agent" --config "$WORK/typo.yaml" --check-config 2>/dev/null; then
  fail "taogate-agent --check-config accepted an unknown key"
fi
printf 'listen: 0.0.0.0:7443\nmetrics_lsten: 127.0.0.1:9464\n' >"$WORK/typo.yaml"
if "$BUILD/bin/taogate-governor" --config "$WORK/typo.yaml" --check-config 2>/dev/null; then
  fail "taogate-governor --check-config accepted an unknown key"
fi

# Each broken variant must be refused, with the reason named.
refused() {  # refused NAME EXPECTED_MESSAGE FILE SED_EXPR
  local name=$1 want=$2 file=$3 expr=$4 dir=$WORK/$1
  cp -r "$BASE" "$dir"
  sed -i "$expr" "$dir/$file"
  cmp -s "$BASE/$file" "$dir/$file" && fail "$name: the mutation changed nothing"
  if node "$CHECK/validate.mjs" "$dir" "$WORK/out-$name" 2>"$WORK/$name.err"; then
    fail "$name: a broken manifest was accepted"
  fi
  grep -q -- "$want" "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; fail "$name: refused, but not for: $want"; }
  echo "refused as expected: $name"
}
refused misspelt-field "hostNetwrk" agent-daemonset.yaml 's/hostNetwork: true/hostNetwrk: true/'
refused wrong-type "containerPort" agent-daemonset.yaml 's/containerPort: 9464/containerPort: metrics/'
refused undefined-secret "Secret taogate-agent-tlz is not defined" agent-daemonset.yaml 's/secretName: taogate-agent-tls/secretName: taogate-agent-tlz/'
refused no-host-dns "ClusterFirstWithHostNet" agent-daemonset.yaml '/dnsPolicy: ClusterFirstWithHostNet/d'
refused shared-socket-dir "share the host directory" agent-config.yaml 's#/run/taogate/operator/operator.sock#/run/taogate/workload/operator.sock#'
refused wider-rbac "more than get/list/watch" agent-rbac.yaml 's/verbs: \[get, list, watch\]/verbs: [get, list, watch, delete]/'
refused wrong-governor "not defined" agent-config.yaml 's/taogate-governor.taogate-system.svc:7443/taogate-gov.taogate-system.svc:7443/'
refused unlisted-file "not listed" kustomization.yaml '/governor-services.yaml/d'
refused pinned-gate-dies "Bidirectional" agent-daemonset.yaml 's/, mountPropagation: Bidirectional//'
refused pdb-selects-nothing "selects no workload" agent-daemonset.yaml '/^spec:/,$ s/matchLabels: {app.kubernetes.io\/name: taogate-agent}$/matchLabels: {app.kubernetes.io\/name: nobody}/'
echo "deploy/kubernetes: valid; 10 broken variants refused"

# The three-replica overlay (deploy/kubernetes/ha: the base patched, a PDB, the
# migrate Job), its embedded configuration, and what must never pass there.
node "$CHECK/validate.mjs" "$BASE/ha" "$WORK/config-ha" || fail "deploy/kubernetes/ha does not pass"
"$BUILD/bin/taogate-governor" --config "$WORK/config-ha/governor.yaml" --check-config ||
  fail "embedded HA governor.yaml is refused by taogate-governor"
refused_ha() {  # refused_ha NAME EXPECTED_MESSAGE FILE SED_EXPR (FILE under ha/)
  local name=$1 want=$2 file=$3 expr=$4 dir=$WORK/ha-$1
  cp -r "$BASE" "$dir"
  sed -i "$expr" "$dir/ha/$file"
  cmp -s "$BASE/ha/$file" "$dir/ha/$file" && fail "$name: the mutation changed nothing"
  if node "$CHECK/validate.mjs" "$dir/ha" "$WORK/out-ha-$name" 2>"$WORK/ha-$name.err"; then
    fail "ha $name: a broken manifest was accepted"
  fi
  grep -q -- "$want" "$WORK/ha-$name.err" || { cat "$WORK/ha-$name.err" >&2; fail "ha $name: refused, but not for: $want"; }
  echo "refused as expected: ha $name"
}
refused_ha two-writers "never ledger_dir" governor-replicas.yaml 's#ledger_postgres_file: /etc/taogate/postgres/conninfo#ledger_dir: /var/lib/taogate-governor/ledger#'
refused_ha same-node "anti-affinity" governor-replicas.yaml 's#topologyKey: kubernetes.io/hostname#topologyKey: topology.kubernetes.io/zone#'
refused_ha no-pdb "PodDisruptionBudget" kustomization.yaml '/governor-pdb.yaml/d'
refused_ha one-name "distinct instance" governor-replicas.yaml 's#, --instance, $(POD_NAME)##'
refused_ha missing-patch-target "no item" governor-replicas.yaml 's#{name: ledger, $patch: delete}#{name: ledgr, $patch: delete}#'
echo "deploy/kubernetes/ha: valid; 5 broken variants refused"
