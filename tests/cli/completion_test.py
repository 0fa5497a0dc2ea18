#!/usr/bin/env python3
"""taogatectl's bash completion and man pages against its own --help.

The command tree is read from `--help` of every command (CLI11's own
rendering, independent of the generator in cli/src/completion_cmd.cc); then:
the completion script passes `bash -n`; bash, with the script sourced,
offers every subcommand at its place and every option after '-', and
completes `taogatectl led<TAB>` to `ledger`; `taogatectl man --dir D` writes
a page per command naming every subcommand path and every option, and groff
renders each without a warning.

Usage: completion_test.py TAOGATECTL
"""
import pathlib
import re
import subprocess
import sys
import tempfile

CTL = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)


def help_tree(path):
    """{path: (subcommands, options)} from --help, recursively."""
    out = subprocess.run([CTL, *path, "--help"], capture_output=True, text=True).stdout
    subs, opts, section = [], [], None
    for line in out.splitlines():
        if re.match(r"^[A-Za-z].*:$", line):
            section = line[:-1]
            continue
        m = re.match(r"^  (\S+)", line)
        if not m:
            continue
        if section == "Subcommands":
            subs.append(m.group(1))
        elif section == "Options":
            for name in m.group(1).split(","):
                if name.startswith("-"):
                    opts.append(name)
    tree = {tuple(path): (subs, opts)}
    for s in subs:
        tree.update(help_tree(path + [s]))
    return tree


def complete(script, words):
    """COMPREPLY for `taogatectl WORDS...` (the last word is the one completed)."""
    line = " ".join(["taogatectl", *words])
    quoted = " ".join(f"'{w}'" for w in ["taogatectl", *words])
    prog = (f"source '{script}'\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words)}\nCOMP_LINE='{line}'\n"
            "_taogatectl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"completion of {words}: bash exit {r.returncode}: {r.stderr}")
    return set(r.stdout.split())


def main():
    tree = help_tree([])
    if len(tree) < 20:
        fail(f"only {len(tree)} commands found in --help: the parser changed?")
    with tempfile.TemporaryDirectory() as d:
        script = pathlib.Path(d) / "taogatectl.bash"
        script.write_text(subprocess.run([CTL, "completion", "bash"], capture_output=True, text=True,
                                         check=True).stdout)
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"bash -n: {r.stderr}")
        if complete(script, ["led"]) != {"ledger"}:
            fail(f"taogatectl led<TAB>: {complete(script, ['led'])}, want ledger")
        for path, (subs, opts) in tree.items():
            offered = complete(script, [*path, ""])
            for s in subs:
                if s not in offered:
                    fail(f"taogatectl {' '.join(path)} <TAB>: {s} not offered")
            offered = complete(script, [*path, "-"])
            for o in opts:
                if o not in offered:
                    fail(f"taogatectl {' '.join(path)} -<TAB>: {o} not offered")
        # An option's value is skipped, then the command path goes on.
        if "status" not in complete(script, ["agent", "--socket", "/tmp/s", "st"]):
            fail("taogatectl agent --socket S st<TAB>: status not offered")

        man = pathlib.Path(d) / "man"
        subprocess.run([CTL, "man", "--dir", str(man)], check=True)
        pages = {p.name: p.read_text() for p in man.glob("*.1")}
        for path, (subs, opts) in tree.items():
            if not path:
                page = pages.get("taogatectl.1", "")
                for s in subs:
                    if f"\\fB{s.replace('-', chr(92) + '-')}\\fR" not in page:
                        fail(f"taogatectl.1: command {s} missing")
                continue
            page = pages.get(f"taogatectl-{path[0]}.1")
            if page is None:
                fail(f"no man page taogatectl-{path[0]}.1")
                continue
            heading = ".SS \"taogatectl " + " ".join(path).replace("-", "\\-") + "\""
            if heading not in page:
                fail(f"taogatectl-{path[0]}.1: no section {heading}")
            for o in opts:
                if o.replace("-", "\\-") not in page:
                    fail(f"taogatectl-{path[0]}.1: option {o} of {' '.join(path)} missing")
        for name, text in pages.items():
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=text, capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                fail(f"groff {name}: {r.stderr.strip()}")
    if failures:
        print("\n".join(failures))
        return 1
    print(f"ok: {len(tree)} commands, completion and {len(pages)} man pages agree with --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
