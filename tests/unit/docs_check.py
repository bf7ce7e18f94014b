#!/usr/bin/python3
"""The docs describe the repo as shipped: they cite no file outside it, every
repo path they name exists, and the limits they state are the code's."""
import glob
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg)


def read(rel):
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        return f.read()


docs = ["README.md", "bench/README.md"] + sorted(
    os.path.relpath(p, src) for p in glob.glob(os.path.join(src, "docs", "*.md")))
shipped = docs + ["docs/perf/latest.json", "scripts/topo.sh", "scripts/demo.sh", "bench/report.py"]

# Documents that are not in the repo, and paths of the machine it was written on.
outside = re.compile(r"\bDESIGN\b|DESIGN\.md|STYLE\.md|BACKGROUND\.md|\.\./shared|/work/")
for rel in shipped:
    for n, line in enumerate(read(rel).splitlines(), 1):
        if outside.search(line):
            fail(f"{rel}:{n}: refers to something outside the repo: {line.strip()[:100]}")

# Repo files named in the docs exist, from the root or from the doc's own
# directory (results files are ignored by git).
path = re.compile(r"(?<![\w./-])((?:bpf|daemon|cli|chains|tests|bench|scripts|proto|docs)/[\w./-]*\.\w+)")
for rel in docs:
    here = os.path.dirname(rel)
    for n, line in enumerate(read(rel).splitlines(), 1):
        for p in path.findall(line):
            if p.startswith("bench/results/"):
                continue
            if not any(os.path.exists(os.path.join(src, d, p)) for d in ("", here)):
                fail(f"{rel}:{n}: names {p}, which is not in the repo")

# The gRPC message limit: both sides, and what firewall.md says of it.
server = re.search(r"kMaxMessageBytes = (\d+) << 20", read("daemon/api/server.cc"))
cli = re.findall(r"SetMax(?:Receive|Send)MessageSize\((\d+) << 20\)", read("cli/cli.cc"))
if not server or len(cli) != 2 or any(v != server.group(1) for v in cli):
    fail(f"sfcd ({server and server.group(1)} MB) and sfcctl ({cli} MB) message limits differ")
elif f"{server.group(1)} MB" not in read("docs/firewall.md"):
    fail(f"docs/firewall.md does not state the {server.group(1)} MB gRPC message limit")

# The chain length limit.
max_vnfs = re.search(r"#define SFC_MAX_VNFS\s+(\d+)", read("bpf/include/sfc/abi.h")).group(1)
if f"at most {max_vnfs}" not in read("docs/chain-file.md"):
    fail(f"docs/chain-file.md does not state the limit of {max_vnfs} VNFs")
if f"at most {max_vnfs} (`SFC_MAX_VNFS`)" not in read("docs/architecture.md"):
    fail(f"docs/architecture.md does not state the limit of {max_vnfs} VNFs")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
