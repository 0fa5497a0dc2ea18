#!/usr/bin/python3
"""The chaos test's invariants and summary (tests/chaos/run; README.md there).

Reads, from the run's work directory: both ledgers as JSON lines
(`taogatectl ledger tail`), the workloads' logs (wl.sh), the prober's log
(prober.sh), the faults, floods and fd/RSS samples. Prints the summary and
exits 1 if any invariant does not hold.
"""
import argparse
import collections
import glob
import json
import os
import sys

# Quiet-moment growth allowed: fds over the steady phase, RSS over its second
# half (the first half may fill allocator caches: 5 MiB bodies, many threads).
FD_GROWTH_MAX = 16
RSS_GROWTH_MAX_KB = 32 * 1024
# Bounds over every 1 s sample of the whole run.
FD_MAX = 1024
RSS_MAX_KB = 1024 * 1024


def records(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--governed-root", required=True)
    ap.add_argument("--verified", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    a = ap.parse_args()
    w = a.work
    results = []  # (name, ok, detail)

    def check(name, ok, detail=""):
        results.append((name, bool(ok), detail))

    agent = records(os.path.join(w, "agent-ledger.jsonl"))
    gov = records(os.path.join(w, "governor-ledger.jsonl"))
    kinds_agent = collections.Counter(r["kind"] for r in agent)
    kinds_gov = collections.Counter(r["kind"] for r in gov)

    consumed = collections.defaultdict(list)  # tao_id -> [(seq, workload)]
    exercised = collections.defaultdict(list)  # tao_id -> [seq]
    for r in agent:
        f = r.get("fields", {})
        if r["kind"] == "CONSUMED":
            consumed[f.get("tao_id")].append((r["seq"], f.get("workload", "")))
        elif r["kind"] == "EXERCISED":
            exercised[f.get("tao_id")].append(r["seq"])
    issued = {r["fields"].get("tao_id") for r in gov if r["kind"] in ("ISSUED", "BREAK_GLASS")}

    twice = [t for t, s in consumed.items() if len(s) > 1]
    check("no TAO consumed twice (agent ledger)", not twice, f"{len(consumed)} consumed; twice: {twice[:3]}")
    twice = [t for t, s in exercised.items() if len(s) > 1]
    check("no TAO exercised twice (agent ledger)", not twice, f"{len(exercised)} exercised; twice: {twice[:3]}")
    orphans = [t for t, s in exercised.items() if not consumed.get(t) or min(c[0] for c in consumed[t]) > min(s)]
    check("every EXERCISED preceded by its CONSUMED", not orphans, f"without: {orphans[:3]}")
    unissued = [t for t in consumed if t not in issued]
    check("every CONSUMED TAO was ISSUED by the governor (governor ledger)", not unissued,
          f"{len(issued)} issued; not issued: {unissued[:3]}")

    # The workloads' own logs.
    ops = collections.Counter()
    acqfail = collections.Counter()
    connfail = collections.Counter()
    connects = collections.Counter()  # tao_id -> successful connects
    mismatched, per_wl_over = [], []
    for path in sorted(glob.glob(os.path.join(w, "logs", "w*.log"))):
        wl = os.path.basename(path)[:-4]
        n_conn = 0
        with open(path) as f:
            for line in f:
                p = line.split()
                if not p:
                    continue
                ops[p[0]] += 1
                if p[0] == "ACQFAIL":
                    acqfail[p[1] if len(p) > 1 else "?"] += 1
                elif p[0] == "CONNFAIL":
                    connfail[" ".join(p[2:]) or "?"] += 1
                elif p[0] == "CONNECT":
                    n_conn += 1
                    tao = p[1]
                    connects[tao] += 1
                    ws = [c[1] for c in consumed.get(tao, [])]
                    if not any(x == f"{a.governed_root}/{wl}" for x in ws):
                        mismatched.append((wl, tao, ws))
        wl_consumed = sum(1 for s in consumed.values() for c in s if c[1] == f"{a.governed_root}/{wl}")
        if n_conn > wl_consumed:
            per_wl_over.append((wl, n_conn, wl_consumed))
    twice = [t for t, n in connects.items() if n > 1]
    check("every successful connect matched to exactly one grant (its TAO CONSUMED for its cgroup, used once)",
          not mismatched and not twice and "none" not in connects,
          f"{sum(connects.values())} connects; unmatched {mismatched[:3]}; reused {twice[:3]}")
    check("per workload: successful connects <= CONSUMED grants for its cgroup", not per_wl_over, str(per_wl_over[:3]))
    with_ex = sum(1 for t in connects if t in exercised)
    failed_ex = sum(1 for path in glob.glob(os.path.join(w, "logs", "w*.log")) for line in open(path)
                    if line.startswith("CONNFAIL ") and line.split()[1] in exercised)

    # The prober: enforcement never open.
    probe = collections.Counter()
    with open(os.path.join(w, "logs", "prober.log")) as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                probe[(p[0], p[1])] += 1
    opened = sum(n for (s, o), n in probe.items() if o == "OPEN")
    down = sum(n for (s, o), n in probe.items() if s == "down")
    eperm = sum(n for (s, o), n in probe.items() if o == "EPERM")
    total = sum(probe.values())
    check("enforcement never open: the prober without grants never connected", opened == 0 and total > 0,
          f"{total} probes ({down} while the agent was dead), {opened} open")
    check("every probe refused by the gate (EPERM), not by a dead PostgreSQL", eperm == total,
          str({f"{s} {o}": n for (s, o), n in probe.items() if o != "EPERM"}))
    check("both ledgers verify with signatures (taogatectl ledger verify)", a.verified == 2, f"{a.verified}/2")

    # fd and RSS.
    quiet = {}
    with open(os.path.join(w, "logs", "quiet.log")) as f:
        for line in f:
            p = line.split()
            quiet[p[0]] = [int(x) for x in p[1:]]
    q0, q1, q2 = quiet.get("q0"), quiet.get("q1"), quiet.get("q2")
    if q0 and q1 and q2:
        check("no fd growth (quiet samples before, in the middle and after the steady phase)",
              q2[1] - q0[1] <= FD_GROWTH_MAX and q2[3] - q0[3] <= FD_GROWTH_MAX,
              f"agent fds {q0[1]}->{q1[1]}->{q2[1]}, governor fds {q0[3]}->{q1[3]}->{q2[3]} (max +{FD_GROWTH_MAX})")
        mib = lambda kb: kb // 1024  # noqa: E731
        check("no memory growth (RSS at the same quiet moments: the second half of the steady phase)",
              q2[0] - q1[0] <= RSS_GROWTH_MAX_KB and q2[2] - q1[2] <= RSS_GROWTH_MAX_KB,
              f"agent RSS {mib(q0[0])}->{mib(q1[0])}->{mib(q2[0])} MiB, governor {mib(q0[2])}->{mib(q1[2])}->"
              f"{mib(q2[2])} MiB (second half max +{RSS_GROWTH_MAX_KB // 1024} MiB)")
    else:
        check("quiet fd/RSS samples taken", False, str(quiet))
    mx = [0, 0, 0, 0]
    n_samples = 0
    with open(os.path.join(w, "logs", "samples.log")) as f:
        for line in f:
            p = line.split()
            if len(p) != 7:
                continue
            n_samples += 1
            for i, col in enumerate((2, 3, 5, 6)):
                if p[col].isdigit():
                    mx[i] = max(mx[i], int(p[col]))
    check("fd and RSS bounded over every 1 s sample",
          mx[1] <= FD_MAX and mx[3] <= FD_MAX and mx[0] <= RSS_MAX_KB and mx[2] <= RSS_MAX_KB,
          f"{n_samples} samples; max agent {mx[1]} fds {mx[0] // 1024} MiB, governor {mx[3]} fds {mx[2] // 1024} MiB")

    faults = collections.Counter()
    back = collections.defaultdict(list)  # daemon -> seconds until it served again after a SIGKILL
    with open(os.path.join(w, "logs", "faults.log")) as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                faults[p[1]] += 1
            elif len(p) == 6 and p[2] in ("READY", "healthy"):
                back[p[1]].append(float(p[4]))
    flood_kind, flood_code, flood_n = collections.Counter(), collections.Counter(), 0
    with open(os.path.join(w, "logs", "flood.log")) as f:
        for line in f:
            if line.startswith("{"):
                j = json.loads(line)
                flood_n += j["requests"]
                flood_kind.update(j["by_kind"])
                flood_code.update(j["by_code"])

    def fmt(c):
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))

    n_wl = len(glob.glob(os.path.join(w, "logs", "w*.log")))
    attempts = ops["GRANT"] + ops["ACQFAIL"]
    print(f"\n== taogate chaos summary ({a.seconds} s, {n_wl} workloads + 1 prober, loopback) ==")
    print(f"faults injected ({sum(faults.values())}): {fmt(faults)}")
    for d, t in sorted(back.items()):
        print(f"  {d} back after SIGKILL: {len(t)} restarts, mean {sum(t) / len(t):.1f} s, max {max(t):.1f} s")
    print(f"flood: {flood_n} malformed/oversized requests: {fmt(flood_kind)}")
    print(f"       answers: {fmt(flood_code)}")
    print(f"operations: {attempts} acquires, {ops['GRANT']} granted, {ops['CONNECT']} connects to PostgreSQL "
          f"({with_ex} with their EXERCISED record), {ops['CONNFAIL']} connects failed after a grant"
          + (f" ({fmt(connfail)})" if connfail else ""))
    if with_ex < len(connects):
        print(f"  note: {len(connects) - with_ex} connects have no EXERCISED record (an EXERCISED refused on a full "
              f"ledger filesystem waits in the agent's memory and is lost if the agent is SIGKILLed first)")
    if failed_ex:
        print(f"  note: {failed_ex} failed connects were EXERCISED: the gate let the SYN through (grant spent) and "
              f"PostgreSQL did not complete the handshake in 5 s")
    print(f"            acquire errors under chaos: {fmt(acqfail) or 'none'}")
    print(f"            prober: {total} connects without a grant, {down} while the agent was dead, all refused")
    print(f"ledgers: agent {len(agent)} records ({fmt(kinds_agent)})")
    print(f"         governor {len(gov)} records ({fmt(kinds_gov)})")
    print("invariants:")
    for name, ok, detail in results:
        print(f"  [{'ok' if ok else 'FAILED'}] {name}: {detail}")
    bad = [r for r in results if not r[1]]
    print(f"{len(results) - len(bad)}/{len(results)} invariants hold")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
