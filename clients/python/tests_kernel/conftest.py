"""Fixtures of the kernel tests: one real governed node (node.py) per session.

They need root, cgroup v2 and a bpffs mount, and the built binaries in
``$TAOGATE_BIN_DIR`` (CTest sets it). Without them every test is skipped,
and a session whose tests were all skipped exits 77, which CTest reports as
skipped (SKIP_RETURN_CODE in clients/python/CMakeLists.txt).
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from node import Node, cgroup2_mount

SKIPPED = 77


def _unavailable() -> str:
    """Why this machine cannot run the kernel tests ("" if it can)."""
    if os.geteuid() != 0:
        return "kernel tests need root"
    if cgroup2_mount() is None:
        return "no cgroup v2 mount"
    with open("/proc/filesystems") as f:
        if not any("bpf" in line.split() for line in f):
            return "no BPF filesystem (bpffs)"
    if not shutil.which("openssl"):
        return "no openssl (scripts/deps)"
    bin_dir = pathlib.Path(os.environ.get("TAOGATE_BIN_DIR", ""))
    for b in ("taogate-governor", "taogate-agent", "taogatectl"):
        if not (bin_dir / b).is_file():
            return f"no {b} in TAOGATE_BIN_DIR={bin_dir} (build first)"
    return ""


@pytest.fixture(scope="session")
def node():
    """The started Node (governor, agent, gate, listeners); torn down after the session."""
    why = _unavailable()
    if why:
        pytest.skip(why)
    n = Node(os.environ["TAOGATE_BIN_DIR"], cgroup2_mount())
    try:
        yield n.start()
    finally:
        n.close()


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter else {}
    if exitstatus == 0 and stats.get("skipped") and not stats.get("passed"):
        session.exitstatus = SKIPPED
