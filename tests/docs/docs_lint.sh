#!/usr/bin/env bash
# docs_lint.sh SOURCE_DIR: no untested instruction, no broken link.
#  - every shell block of docs/operations.md and docs/audit.md is a runbook
#    block (tests/docs/blocks.awk): run by runbook_test.sh, or host-only with
#    instead= naming a registered CTest test that checks what it does;
#  - every runbook the docs name is in runbook_test.sh's list, and every
#    name in that list has at least one block that runs;
#  - every upper-case variable a runbook uses is set by the docs or named in
#    operations.md's variables section (the test's own never leak in);
#  - every relative link in README.md and docs/*.md points at a file that
#    exists, and its #anchor, if any, at a heading of that file.
set -euo pipefail
SRC=$(realpath "$1")
HERE=$SRC/tests/docs
DOCS=("$SRC/docs/operations.md" "$SRC/docs/audit.md")
errors=0
err() { echo "docs lint: $*" >&2; errors=$((errors + 1)); }
for d in "${DOCS[@]}"; do [ -f "$d" ] || err "missing ${d#"$SRC"/}"; done
[ "$errors" -eq 0 ] || exit 1

# --- runbook blocks
listed=$(sed -n '/^RUNBOOKS=(/,/)/p' "$HERE/runbook_test.sh" | tr -d '()' | sed 's/^RUNBOOKS=//' | tr -s ' \n' '\n' | grep -v '^$')
tests=$(grep -rhoE 'add_test\(NAME [A-Za-z0-9._-]+' "$SRC/tests" | sed 's/add_test(NAME //')
blocks=$(awk -v mode=list -f "$HERE/blocks.awk" "${DOCS[@]}")
while IFS=$'\t' read -r where name how instead; do
  where=${where#"$SRC"/}
  case $how in
    untagged) err "$where: a shell block that no test runs (tag it {runbook=NAME}, see tests/docs/blocks.awk)" ;;
    host-only)
      [ -n "$instead" ] || err "$where: host-only block of runbook $name without instead=TEST"
      grep -qxF -- "$instead" <<<"$tests" || err "$where: instead=$instead is not a registered CTest test" ;;
  esac
  if [ "$name" != - ] && [ "$name" != env ] && ! grep -qxF -- "$name" <<<"$listed"; then
    err "$where: runbook $name is not run by tests/docs/runbook_test.sh (add it to RUNBOOKS)"
  fi
done <<<"$blocks"
for name in $listed; do
  grep -qP "\t$name\trun\t" <<<"$blocks" || err "runbook $name (runbook_test.sh) has no block that runs in the docs"
done
grep -qP "\tenv\trun\t" <<<"$blocks" || err "docs/operations.md has no {runbook=env} block"

# --- variables: the same text must work on a host, so every upper-case
# variable a runbook uses is set by the doc (the env block, an assignment in a
# block) or named in operations.md's "The variables every runbook uses".
bodies=$(for name in env $listed; do awk -v mode=script -v name="$name" -f "$HERE/blocks.awk" "${DOCS[@]}"; done)
used=$(grep -v '^#' <<<"$bodies" | grep -oE '\$\{?[A-Z_][A-Z0-9_]*' | tr -d '${' | sort -u)
set_here=$(grep -oE '(\$\{|^ *|; *|export +| )[A-Z_][A-Z0-9_]*(:?=)' <<<"$bodies" | grep -oE '[A-Z_][A-Z0-9_]*' | sort -u)
named=$(sed -n '/^## The variables every runbook uses/,/^## /p' "$SRC/docs/operations.md" | grep -oE '`[A-Z_][A-Z0-9_]*`' | tr -d '`' | sort -u)
for v in $used; do
  grep -qxF "$v" <<<"$set_here"$'\n'"$named" ||
    err "runbook variable \$$v is neither set in the docs' blocks nor named in operations.md \"The variables every runbook uses\""
done

# --- links
anchor_of() {  # GitHub's heading anchors: lowercase, punctuation dropped, spaces -> '-'
  sed -E 's/^#+ +//' | tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}
for md in "$SRC/README.md" "$SRC"/docs/*.md; do
  # [text](target) outside code spans and fences
  links=$(awk '/^ *```/ { f = !f; next } !f' "$md" | sed -E 's/`[^`]*`//g' |
    grep -oE '\]\([^) ]+\)' | sed -E 's/^\]\(//; s/\)$//' || true)
  for l in $links; do
    case $l in http://*|https://*|mailto:*) continue ;; esac
    path=${l%%#*} anchor=
    [[ $l == *"#"* ]] && anchor=${l#*#}
    if [ -z "$path" ]; then target=$md; else target=$(dirname "$md")/$path; fi
    if [ ! -e "$target" ]; then err "${md#"$SRC"/}: broken link $l"; continue; fi
    if [ -n "$anchor" ] && [ -f "$target" ]; then
      grep -E '^#+ ' "$target" | anchor_of | grep -qxF -- "$anchor" ||
        err "${md#"$SRC"/}: link $l: no heading #$anchor in ${target#"$SRC"/}"
    fi
  done
done

[ "$errors" -eq 0 ] || { echo "docs lint: $errors problem(s)" >&2; exit 1; }
echo "docs lint: $(wc -l <<<"$blocks") runbook blocks, every one tested or host-only with its test named; links OK"
