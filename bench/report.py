#!/usr/bin/env python3
"""Writes bench/results/report.md and its plots from bench/results/latest.json.

    python3 bench/report.py [--results DIR]

scripts/bench runs it after merging the benchmarks' records; it also runs
alone on an existing latest.json. Reads DIR/latest.json (default: the
bench/results next to this script) and writes DIR/report.md with four
sections, three of them with a PNG beside it (matplotlib, Agg backend, from
Debian's python3-matplotlib):

  Machine                         cores, CPU model, SHA-NI, kernel, fdatasync
  Connect overhead                connect_overhead.png: gate and nftables vs
                                  grants and vs prefixes
  Redeem and acquire latency      latency_cdf.png: the recorded quantiles as CDFs
  Ledger durable appends          ledger_appends.png: records/s vs appenders
  Throughput                      redeem/authz/acquire throughput records

The machine facts are this machine's, read when the report is written (the
benchmarks' own figures, e.g. the ledger bench's fdatasync_us, are shown next
to them). Exit 2 if matplotlib is missing.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

SECTIONS = ("Machine", "Connect overhead", "Redeem and acquire latency", "Ledger durable appends", "Throughput")
PLOTS = ("connect_overhead.png", "latency_cdf.png", "ledger_appends.png")
DPI = 100


def records(metrics, name, **match):
    return [m for m in metrics if m["name"] == name and all(m["params"].get(k) == v for k, v in match.items())]


def cpuinfo():
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def fdatasync_us(directory):
    """fdatasync after a 220-byte append in `directory`'s filesystem, the
    ledger bench's probe: best mean of 3 x 100, and p50/p99 of all 300."""
    samples, means = [], []
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".fdatasync-") as f:
        record = b"x" * 220
        for _ in range(3):
            run = []
            for _ in range(100):
                os.write(f.fileno(), record)
                t0 = time.perf_counter_ns()
                os.fdatasync(f.fileno())
                run.append((time.perf_counter_ns() - t0) / 1e3)
            means.append(statistics.mean(run))
            samples += run
    samples.sort()
    return min(means), samples[len(samples) // 2], samples[int(0.99 * (len(samples) - 1))]


def machine_section(metrics, out_dir):
    model, flags = cpuinfo()
    best, p50, p99 = fdatasync_us(out_dir)
    ledger = [m["params"]["fdatasync_us"] for m in metrics
              if m["name"] == "ledger_durable_appends" and "fdatasync_us" in m["params"]]
    rows = [
        ("cores", str(os.cpu_count())),
        ("CPU", model),
        ("SHA-NI (`sha_ni` in /proc/cpuinfo)", "yes" if "sha_ni" in flags else "no"),
        ("kernel", platform.release()),
        ("fdatasync after a 220 B append (report.py, now, results dir's filesystem)",
         f"best mean of 3x100 {best:.0f} us; p50 {p50:.0f} us, p99 {p99:.0f} us"),
        ("load average (1 min) while this report was written", f"{os.getloadavg()[0]:.1f}"),
        ("fdatasync (ledger bench's best mean, during its run)",
         f"{ledger[0]:.0f} us" if ledger else "no ledger_durable_appends record"),
    ]
    lines = ["## Machine", "", "| fact | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return lines


def connect_section(metrics, out_dir, plt):
    gate = sorted((m for m in records(metrics, "connect_overhead")
                   if "baseline" not in m["params"] and "names" not in m["params"]),
                  key=lambda m: (m["params"].get("prefixes", 0), m["params"].get("grants", 0)))
    nft = {(m["params"].get("grants"), m["params"].get("prefixes")): m
           for m in records(metrics, "connect_overhead", baseline="nftables")}
    lines = ["## Connect overhead", "",
             "One loopback socket+connect+accept+close cycle to an unprotected destination whose "
             "port is protected on other prefixes; best-of-rounds means, each side against its own "
             "baseline measured interleaved in the same run (gate: cgroup without programs; nftables: "
             "network namespace without a ruleset, bench/README.md).", "",
             "| grants | prefixes | gate ns | no gate ns | gate ratio | nftables ns | no rule ns | nftables ratio |",
             "|---|---|---|---|---|---|---|---|"]

    def cells(m):
        if not m:
            return "", "", "-"
        return f"{m['value']:.0f}", f"{m['baseline']:.0f}" if m["baseline"] else "", \
            f"{m['ratio']:.4f}" if m["ratio"] else "-"

    for g in gate:
        key = (g["params"].get("grants"), g["params"].get("prefixes"))
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(*key, *cells(g), *cells(nft.get(key))))
    for m in records(metrics, "connect_overhead"):
        if "names" in m["params"]:
            p = m["params"]
            lines += ["", f"With {p['names']} protected names ({p.get('entries')} entries) added: "
                          f"{m['value']:.0f} ns vs {m['baseline']:.0f} ns, ratio {m['ratio']:.4f}."]
    for m in records(metrics, "connect_grant_overhead"):
        lines += ["", f"Connect consuming a fresh grant ({m['params'].get('grants')} grants): "
                      f"{m['value']:.0f} ns vs {m['baseline']:.0f} ns, ratio {m['ratio']:.4f}."]
    for m in records(metrics, "connect4_prog_ns"):
        lines += ["", f"connect4 program run time (BPF stats): {m['value']:.0f} ns per run."]

    # Left: vs grants at the most prefixes; right: vs prefixes at 1 grant.
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    most = max((g["params"].get("prefixes", 0) for g in gate), default=0)
    for ax, vary, fixed, value in ((axes[0], "grants", "prefixes", most), (axes[1], "prefixes", "grants", 1)):
        for label, rows, marker in (("taogate gate", gate, "o"), ("nftables set", list(nft.values()), "s")):
            rows = sorted((m for m in rows if m["ratio"] and m["params"].get(fixed) == value),
                          key=lambda m: m["params"].get(vary, 0))
            if rows:
                ax.plot([max(m["params"].get(vary, 1), 1) for m in rows],
                        [(m["ratio"] - 1) * 100 for m in rows], marker=marker, label=label)
        ax.set_xscale("log")
        ax.set_xlabel(f"{vary} ({fixed}: {value})")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("connect cycle overhead (%)")
    fig.suptitle("Connect overhead, gate and nftables set of the same targets, same run")
    save(fig, out_dir, "connect_overhead.png", plt)
    lines += ["", "![connect overhead](connect_overhead.png)"]
    return lines


def quantiles(m):
    """[(q, value)] from a record: params.quantiles {"0.9": v} if present, else its own pXX."""
    q = m["params"].get("quantiles")
    if isinstance(q, dict):
        return sorted((float(k), float(v)) for k, v in q.items())
    return []


def latency_points(metrics, op, key):
    """{workloads: [(q, us)]} from <op>_pXX records (and any recorded quantiles)."""
    out = {}
    for m in metrics:
        if not m["name"].startswith(op + "_p"):
            continue
        try:
            q = int(m["name"][len(op) + 2:]) / 100
        except ValueError:
            continue
        w = m["params"].get(key)
        out.setdefault(w, set()).add((q, m["value"]))
        out[w].update(quantiles(m))
    return {w: sorted(v) for w, v in out.items()}


def latency_section(metrics, out_dir, plt):
    series = {"redeem": latency_points(metrics, "redeem", "workloads"),
              "acquire": latency_points(metrics, "acquire", "workloads")}
    lines = ["## Redeem and acquire latency", "",
             "The recorded quantiles of each benchmark (p50 and p99 unless a record carries "
             "`params.quantiles`), drawn as points of the latency CDF, per number of concurrent workloads.", "",
             "| operation | workloads | quantiles (us) |", "|---|---|---|"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, (op, by_w) in zip(axes, series.items()):
        for w in sorted(by_w, key=lambda x: (x is None, x)):
            pts = by_w[w]
            lines.append(f"| {op} | {w} | " + ", ".join(f"p{q * 100:g} {v:.0f}" for q, v in pts) + " |")
            ax.plot([v for _, v in pts], [q for q, _ in pts], marker="o", drawstyle="steps-post",
                    label=f"{w} workloads")
        ax.set_xscale("log")
        ax.set_xlabel(f"{op} latency (us)")
        ax.set_ylim(0, 1.02)
        ax.set_title(op)
        if by_w:
            ax.legend(fontsize=8)
    axes[0].set_ylabel("fraction of calls")
    save(fig, out_dir, "latency_cdf.png", plt)
    lines += ["", "![latency CDFs](latency_cdf.png)"]
    return lines


def ledger_section(metrics, out_dir, plt):
    durable = sorted(records(metrics, "ledger_durable_appends"), key=lambda m: m["params"].get("appenders", 0))
    nofsync = sorted(records(metrics, "ledger_appends_nofsync"), key=lambda m: m["params"].get("appenders", 0))
    lines = ["## Ledger durable appends", "",
             "| appenders | durable records/s | fdatasync_us | without fsync records/s |", "|---|---|---|---|"]
    nf = {m["params"].get("appenders"): m["value"] for m in nofsync}
    for m in durable:
        a = m["params"].get("appenders")
        without = f"{nf[a]:.0f}" if a in nf else ""
        lines.append(f"| {a} | {m['value']:.0f} | {m['params'].get('fdatasync_us', '')} | {without} |")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, rows, marker in (("durable (fdatasync, group commit)", durable, "o"),
                                ("without fsync", nofsync, "s")):
        if rows:
            ax.plot([m["params"].get("appenders") for m in rows], [m["value"] for m in rows],
                    marker=marker, label=label)
    if durable and "fdatasync_us" in durable[0]["params"]:
        us = durable[0]["params"]["fdatasync_us"]
        ax.set_title(f"Ledger appends vs appenders (fdatasync {us:g} us)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent appenders")
    ax.set_ylabel("records/s")
    ax.legend()
    save(fig, out_dir, "ledger_appends.png", plt)
    lines += ["", "![ledger appends](ledger_appends.png)"]
    return lines


def throughput_section(metrics):
    lines = ["## Throughput", "", "| record | params | value | unit |", "|---|---|---|---|"]
    for name in ("redeem_throughput", "authz_throughput", "acquire_throughput"):
        for m in records(metrics, name):
            p = {k: v for k, v in m["params"].items() if k in ("workloads", "clients", "fsync")}
            lines.append(f"| {name} | {json.dumps(p, sort_keys=True)} | {m['value']:.0f} | {m['unit']} |")
    return lines


def save(fig, out_dir, name, plt):
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=DPI)
    plt.close(fig)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(here, "results"),
                    help="directory holding latest.json; report.md and the PNGs are written there")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        # Debian's matplotlib lives in Debian's python (a pyenv or venv
        # python3 first in PATH does not see it): run there instead.
        system = "/usr/bin/python3"
        if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system):
            os.execv(system, [system, os.path.abspath(__file__)] + sys.argv[1:])
        print("bench/report.py: matplotlib missing (apt-get install python3-matplotlib)", file=sys.stderr)
        return 2
    with open(os.path.join(args.results, "latest.json")) as f:
        metrics = json.load(f)
    lines = ["# taogate benchmark report", "",
             f"From `latest.json` ({len(metrics)} records), written by `bench/report.py` "
             f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. The machine is shared: "
             "compare ratios measured in the same run, not absolute figures across runs.", ""]
    lines += machine_section(metrics, args.results) + [""]
    lines += connect_section(metrics, args.results, plt) + [""]
    lines += latency_section(metrics, args.results, plt) + [""]
    lines += ledger_section(metrics, args.results, plt) + [""]
    lines += throughput_section(metrics)
    out = os.path.join(args.results, "report.md")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"bench/report.py: wrote {out} and {', '.join(PLOTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
