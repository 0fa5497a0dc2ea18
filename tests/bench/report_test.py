#!/usr/bin/env python3
"""bench/report.py on a small fixture latest.json, in a temp dir: report.md
names every section, links every plot, and every plot is a PNG it wrote.
Exit 77 (skipped) only if matplotlib is missing (scripts/deps installs
python3-matplotlib, so CI always runs it)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

src = sys.argv[1]
script = os.path.join(src, "bench", "report.py")
sys.path.insert(0, os.path.dirname(script))
import report  # noqa: E402  (SECTIONS, PLOTS)

with tempfile.TemporaryDirectory(prefix="taogate-report-") as tmp:
    shutil.copy(os.path.join(src, "tests", "bench", "latest.fixture.json"), os.path.join(tmp, "latest.json"))
    r = subprocess.run([sys.executable, script, "--results", tmp], capture_output=True, text=True)
    if r.returncode == 2 and "matplotlib missing" in r.stderr:
        print("[  SKIPPED ] " + r.stderr.strip())
        sys.exit(77)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(tmp, "report.md")) as f:
        md = f.read()
    failures = []
    for s in report.SECTIONS:
        if f"\n## {s}\n" not in md:
            failures.append(f"section '{s}' missing")
    for p in report.PLOTS:
        path = os.path.join(tmp, p)
        if f"]({p})" not in md:
            failures.append(f"{p} not linked")
        if not os.path.exists(path):
            failures.append(f"{p} not written")
            continue
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                failures.append(f"{p} is not a PNG")
    # The fixture's figures reach the report: the nftables pairing, the
    # recorded quantiles, the machine facts.
    for needle in ("| 1000000 | 10000 |", "| 1 | 100 |", "1.0500", "p10 300", "SHA-NI", "fdatasync", "cores"):
        if needle not in md:
            failures.append(f"'{needle}' not in report.md")
    if json.load(open(os.path.join(tmp, "latest.json")))[0]["name"] != "redeem_p50":
        failures.append("latest.json changed")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)
