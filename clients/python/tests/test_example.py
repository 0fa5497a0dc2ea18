"""examples/python-agent-tool compiles (it runs against a real agent in the demo)."""

from __future__ import annotations

import pathlib
import py_compile

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python-agent-tool" / "tool.py"


def test_example_tool_compiles(tmp_path):
    py_compile.compile(str(EXAMPLE), cfile=str(tmp_path / "tool.pyc"), doraise=True)
