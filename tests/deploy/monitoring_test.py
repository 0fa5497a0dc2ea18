#!/usr/bin/env python3
"""deploy/monitoring: the alert rules and the Grafana dashboard are well formed
and every taogate_* metric they name is one the daemons register.

Structure: what `promtool check rules` checks that matters here (groups with
unique names, rules with alert, expr, a duration `for`, severity and summary;
balanced PromQL brackets), since Debian's promtool comes with all of
Prometheus (96 MB). Names: each taogate_* name (a histogram's _bucket/_sum/
_count suffix stripped) must be a string literal of the agent's or the
governor's sources, or one the shared endpoint derives per daemon (_healthy,
_build_info). tests/agent/ops_kernel_test.cc checks them against the real
daemons' /metrics.

Usage: monitoring_test.py SOURCE_DIR [METRICS_FILE...]
  METRICS_FILE: scraped /metrics (the agent's, the governor's); then every
  name must appear in one of them (or belong to a feature off in those
  scrapes: tpm, names, hold, pods, the agent's governor streams).
"""
import json
import pathlib
import re
import sys

import yaml

SRC = pathlib.Path(sys.argv[1])
MON = SRC / "deploy/monitoring"
NAME = re.compile(r"\btaogate_[a-z0-9_]+")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
CODE_DIRS = ["agent/src", "governance/src", "runtime/src", "hold/src", "dns/src", "k8s/src"]
failures = []


def fail(msg):
    failures.append(msg)


def balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    in_str = False
    for ch in expr:
        if ch == '"':
            in_str = not in_str
        if in_str:
            continue
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and not in_str


def check_rules():
    doc = yaml.safe_load((MON / "alerts.yaml").read_text())
    exprs = []
    if set(doc) != {"groups"}:
        fail(f"alerts.yaml: top-level keys {sorted(doc)}, want only groups")
    groups = set()
    alerts = set()
    for g in doc.get("groups", []):
        if g.get("name") in groups or not g.get("name"):
            fail(f"group name missing or repeated: {g.get('name')}")
        groups.add(g.get("name"))
        if not g.get("rules"):
            fail(f"group {g.get('name')}: no rules")
        for r in g.get("rules", []):
            a = r.get("alert")
            extra = set(r) - {"alert", "expr", "for", "labels", "annotations"}
            if extra:
                fail(f"{a}: unknown keys {sorted(extra)}")
            if not a or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", a) or a in alerts:
                fail(f"alert name missing, invalid or repeated: {a}")
            alerts.add(a)
            e = r.get("expr")
            if not isinstance(e, str) or not e.strip():
                fail(f"{a}: no expr")
                continue
            if not balanced(e):
                fail(f"{a}: unbalanced brackets or quotes in {e!r}")
            if "for" in r and not DURATION.match(str(r["for"])):
                fail(f"{a}: for {r['for']!r} is not a duration")
            if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                fail(f"{a}: labels.severity must be critical, warning or info")
            if not (r.get("annotations") or {}).get("summary"):
                fail(f"{a}: annotations.summary missing")
            exprs.append(e)
    return exprs, alerts


def check_dashboard():
    d = json.loads((MON / "grafana-dashboard.json").read_text())
    exprs = []
    for k in ("title", "uid", "panels", "schemaVersion"):
        if k not in d:
            fail(f"dashboard: no {k}")
    ids = set()
    for p in d.get("panels", []):
        if p.get("id") in ids:
            fail(f"dashboard: panel id {p.get('id')} repeated")
        ids.add(p.get("id"))
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")) or gp.get("x", 0) + gp.get("w", 0) > 24:
            fail(f"dashboard: panel {p.get('title')}: bad gridPos {gp}")
        if not p.get("targets"):
            fail(f"dashboard: panel {p.get('title')}: no targets")
        for t in p.get("targets", []):
            e = t.get("expr", "")
            if not e or not balanced(e):
                fail(f"dashboard: panel {p.get('title')}: bad expr {e!r}")
            exprs.append(e)
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            exprs.append(v.get("query", ""))
    return exprs


def base(name, known):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def registered():
    names = set()
    for d in CODE_DIRS:
        for f in (SRC / d).rglob("*.cc"):
            names.update(re.findall(r'"(taogate_[a-z0-9_]+)', f.read_text()))
    # The shared endpoint (runtime/src) derives these from the component.
    endpoint = (SRC / "runtime/src/http_endpoint.cc").read_text() + (SRC / "runtime/src/metrics_text.cc").read_text()
    for comp in ("agent", "governor"):
        if '"_healthy"' in endpoint:
            names.add(f"taogate_{comp}_healthy")
        if '"_build_info"' in endpoint:
            names.add(f"taogate_{comp}_build_info")
    return names


def main():
    exprs, alerts = check_rules()
    exprs += check_dashboard()
    known = registered()
    used = {base(n, known) for e in exprs for n in NAME.findall(e)}
    for n in sorted(used - known):
        fail(f"{n}: used in deploy/monitoring but registered by no daemon")
    # Families a daemon serves only with the feature on: a TPM root, DNS
    # names, hold mode, pods mode, a governor (the agent's stream gauges).
    optional = ("taogate_governor_tpm_", "taogate_agent_dns_", "taogate_agent_hold", "taogate_agent_pod",
                "taogate_agent_governor_", "taogate_agent_targets_")
    if len(sys.argv) > 2:
        scraped = set()
        for path in sys.argv[2:]:
            text = pathlib.Path(path).read_text()
            # A sample, or a family declared without samples yet (no acquire so far).
            scraped |= {base(n, known) for n in re.findall(r"^(?:# TYPE )?(taogate_[a-z0-9_]+)", text, re.M)}
        for n in sorted(used - scraped):
            if not n.startswith(optional):
                fail(f"{n}: in no scrape of {' '.join(sys.argv[2:])}")
    for required in ("TaogateGovernorDown", "TaogateAgentDown", "TaogateDecisionLatencyHigh",
                     "TaogateKillSwitchEngaged", "TaogateFailClosedCatchAll", "TaogateDnsNamesStale",
                     "TaogateHoldTimeouts", "TaogateAgentLedgerAppendFailures"):
        if required not in alerts:
            fail(f"alert {required} missing")
    if failures:
        print("\n".join(failures))
        return 1
    print(f"ok: {len(alerts)} alerts, {len(used)} metric names, all registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
