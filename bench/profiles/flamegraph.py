#!/usr/bin/env python3
"""Flame graphs from `perf script` output, with no dependencies.

  perf record -g -e cpu-clock -o perf.data -- CMD
  perf script -i perf.data > perf.txt
  bench/profiles/flamegraph.py perf.txt --svg out.svg --folded out.folded \
      --title "..." --top 30 --groups

Reads perf script's sample blocks (a header line, then one frame per line,
leaf first, then a blank line), folds them into "comm;root;...;leaf COUNT"
lines, and draws an SVG where each frame's width is its share of samples
(hover for name, samples and percent). --top prints the frames with the most
self time; --groups splits the samples into the categories below (with --hz
and --ops also in microseconds of CPU per operation).
"""
import argparse
import collections
import html
import re
import sys

# Categories for --groups, highest priority first: a sample goes to the first
# category any frame of its stack matches, so the shares add up to 100%.
GROUPS = [
    ("ledger fdatasync (disk)", r"fdatasync|ext4_sync_file|jbd2"),
    ("peer identification (SO_PEERCRED, /proc/PID/cgroup, cgroup id)", r"PeerOfSocket|CgroupV2PathOfPid|proc_cgroup_show"),
    ("BPF grant install (map updates)", r"bpf_map_update|map_update_elem|__sys_bpf"),
    ("gRPC worker thread create/exit (stacks mmap/munmap)", r"pthread_create|allocate_stack|grpc_core::Thread::Thread|munmap|do_exit|__exit_signal|advise_stack_range"),
    ("Ed25519 sign/verify (TAO)", r"Ed25519|ED25519|SignTao|VerifyTaoSignature|LockedEd25519Key"),
    ("TLS (OpenSSL records, AES-GCM)", r"\[libssl|^SSL_|^ssl3?_|^tls1|tsi_|ssl_transport|alts|grpc_ssl"),
    ("SHA-256 / hashing, RNG", r"Sha256|SHA256|sha256|RandomBytes|RAND_bytes|LeafHash"),
    ("other libcrypto", r"\[libcrypto"),
    ("ledger append (encode, chain, wait)", r"taogate::ledger::"),
    ("protobuf parse/serialize", r"^google::protobuf::(?!MessageLite\b)|_InternalSerialize|_InternalParse|ByteSizeLong|ParseFrom|SerializeTo"),
    ("malloc/free", r"^(malloc|free|cfree|_int_malloc|_int_free|calloc|realloc|operator new|operator delete|tcache_|malloc_consolidate|__GI___libc_malloc|__GI___libc_free)"),
    ("futex / mutex / condvar", r"futex|pthread_mutex|pthread_cond|lll_lock|absl::.*Mutex|GraphCycles|synchronization_internal"),
    ("unix/TCP socket send/recv (kernel)", r"sendmsg|recvmsg|tcp_|unix_stream|sock_|__sys_write|__sys_read|ksys_read|ksys_write"),
    ("epoll / scheduling / other syscalls", r"epoll|schedule|entry_SYSCALL|do_syscall|pvm_|asm_|irq"),
    ("gRPC core (HTTP/2, call batching, completion queues)", r"grpc|chttp2|gpr_|\[libgrpc|\[libgpr|\[libupb|\[libaddress_sorting"),
    ("taogate request logic (policy, decision, redeem checks)", r"^taogate::"),
]


def parse_perf_script(lines):
    """Yields (comm, [frames root..leaf], weight) per sample."""
    header = None
    frames = []
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if header is not None:
                yield header, list(reversed(frames)), 1
            header, frames = None, []
            continue
        if header is None:
            # "comm  pid/tid  [cpu]  time:  period event:" ; comm may hold spaces.
            m = re.match(r"^(\S.*?)\s+\d+(/\d+)?\s", line)
            header = (m.group(1) if m else line.split()[0]).strip()
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = parts[1]
        dso = ""
        m = re.match(r"^(.*)\s+\((.*)\)$", sym)
        if m:
            sym, dso = m.group(1), m.group(2)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if sym == "[unknown]":
            sym = "[" + dso.rsplit("/", 1)[-1] + "]" if dso else "[unknown]"
        frames.append(sym.replace(";", ":"))
    if header is not None:
        yield header, list(reversed(frames)), 1


def fold(samples, merge_threads):
    folded = collections.Counter()
    for comm, frames, w in samples:
        if merge_threads:
            comm = re.sub(r"[-_]?\d+$", "", comm) or comm
        folded[";".join([comm] + frames)] += w
    return folded


def short(name, n=90):
    name = re.sub(r"\(.*\)", "()", name) if len(name) > n else name
    return name if len(name) <= n else name[: n - 1] + "…"


def color(name):
    h = 0
    for ch in name:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    if name.startswith("taogate::"):
        return "rgb(%d,%d,%d)" % (80 + h % 40, 160 + h % 60, 80 + (h >> 8) % 40)  # green: ours
    if re.search(GROUPS[0][1] + "|^(entry_|do_syscall|__x64_sys|schedule|tcp_|unix_|sock_)", name):
        return "rgb(%d,%d,%d)" % (210 + h % 40, 120 + h % 60, 50)  # orange: kernel
    return "rgb(%d,%d,%d)" % (205 + h % 50, 70 + (h >> 4) % 110, 40 + (h >> 8) % 40)


def svg(folded, title, width=1200, row=16):
    root = {"n": 0, "kids": collections.OrderedDict()}
    for stack, count in sorted(folded.items()):
        node = root
        node["n"] += count
        for f in stack.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": collections.OrderedDict()})
            node["n"] += count

    def depth(node):
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    total = root["n"] or 1
    levels = depth(root)
    height = (levels + 3) * row
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'font-family="monospace" font-size="11">' % (width, height),
        '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>' % (width, height),
        '<text x="%d" y="16" text-anchor="middle" font-size="14">%s (%d samples)</text>'
        % (width // 2, html.escape(title), total),
    ]
    scale = (width - 20) / total
    min_w = 1.0

    def draw(name, node, x, level):
        w = node["n"] * scale
        if w < min_w:
            return
        y = height - (level + 2) * row
        pct = 100.0 * node["n"] / total
        label = "%s (%d samples, %.2f%%)" % (name, node["n"], pct)
        out.append('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="1"/>'
                   % (html.escape(label), x, y, w, row - 1, color(name)))
        chars = int(w / 6.6)
        if chars >= 3:
            text = short(name)
            text = text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"
            out.append('<text x="%.1f" y="%d">%s</text>' % (x + 2, y + row - 4, html.escape(text)))
        out.append("</g>")
        cx = x
        for k, child in node["kids"].items():
            draw(k, child, cx, level + 1)
            cx += child["n"] * scale

    cx = 10.0
    for k, child in root["kids"].items():
        draw(k, child, cx, 0)
        cx += child["n"] * scale
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("perf_script", help="perf script output, or a .folded file")
    ap.add_argument("--svg")
    ap.add_argument("--folded")
    ap.add_argument("--title", default="CPU flame graph")
    ap.add_argument("--top", type=int, default=0, help="print the N frames with the most self time")
    ap.add_argument("--groups", action="store_true", help="print inclusive shares of GROUPS")
    ap.add_argument("--hz", type=int, default=0, help="sampling rate (perf -F), for --groups per operation")
    ap.add_argument("--ops", type=int, default=0, help="operations completed in the recorded window")
    ap.add_argument("--comm", help="keep only these thread names (comma-separated prefixes)")
    ap.add_argument("--keep-thread-ids", action="store_true", help="do not merge comm names like worker-3")
    a = ap.parse_args()
    with open(a.perf_script, errors="replace") as f:
        if a.perf_script.endswith(".folded"):
            folded = collections.Counter()
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if stack:
                    folded[stack] += int(n)
        else:
            folded = fold(parse_perf_script(f), not a.keep_thread_ids)
    if a.comm:
        keep = tuple(a.comm.split(","))
        folded = collections.Counter({k: v for k, v in folded.items() if k.startswith(keep)})
    total = sum(folded.values())
    if not total:
        sys.exit("no samples")
    if a.folded:
        with open(a.folded, "w") as f:
            for stack, n in sorted(folded.items()):
                f.write("%s %d\n" % (stack, n))
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(folded, a.title))
    if a.top:
        self_time = collections.Counter()
        for stack, n in folded.items():
            self_time[stack.rsplit(";", 1)[-1]] += n
        print("self time, top %d of %d samples:" % (a.top, total))
        for name, n in self_time.most_common(a.top):
            print("  %5.1f%%  %s" % (100.0 * n / total, short(name, 110)))
    if a.groups:
        compiled = [(label, re.compile(rx)) for label, rx in GROUPS]
        shares = collections.Counter()
        for stack, c in folded.items():
            frames = stack.split(";")[1:]
            label = next((lb for lb, r in compiled if any(r.search(fr) for fr in frames)), "other")
            shares[label] += c
        per_op = ""
        if a.hz and a.ops:
            per_op = ", us of CPU per operation at %d Hz over %d operations" % (a.hz, a.ops)
        print("where the samples go (first matching category%s):" % per_op)
        for label, n in shares.most_common():
            us = "  %6.1f us" % (n / a.hz / a.ops * 1e6) if a.hz and a.ops else ""
            print("  %5.1f%%%s  %s" % (100.0 * n / total, us, label))
        if a.hz and a.ops:
            print("  total %.1f us of CPU per operation" % (total / a.hz / a.ops * 1e6))
        comms = collections.Counter()
        for stack, n in folded.items():
            comms[stack.split(";", 1)[0]] += n
        print("by thread name:")
        for name, n in comms.most_common(12):
            print("  %5.1f%%  %s" % (100.0 * n / total, name))


if __name__ == "__main__":
    main()
