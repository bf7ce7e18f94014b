#!/usr/bin/python3
"""chains/schema.json must accept every example chain file and reject the bad
inputs the daemon rejects, so editors and CI can validate chain files offline."""
import glob
import json
import os
import sys

import jsonschema

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
schema = json.load(open(os.path.join(src, "chains", "schema.json")))
validator = jsonschema.Draft202012Validator(schema)
failures = 0

for path in sorted(glob.glob(os.path.join(src, "chains", "*.json")) +  # and chains/evnf/
                   glob.glob(os.path.join(src, "chains", "*", "*.json"))):
    if path.endswith("schema.json"):
        continue
    errors = list(validator.iter_errors(json.load(open(path))))
    if errors:
        failures += 1
        print(f"FAIL {path}: {errors[0].json_path}: {errors[0].message}")
    else:
        print(f"ok   {path}")

bad = {
    "unknown member": {"name": "a", "interfaces": ["eth0"], "vnf": []},
    "no interfaces": {"name": "a", "interfaces": []},
    "unsafe name": {"name": "a/b", "interfaces": ["eth0"]},
    "unknown vnf type": {"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x", "type": "nat"}]},
    "reserved vnf name": {"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "progs", "type": "noop"}]},
    "monitor pin as vnf name": {"name": "a", "interfaces": ["eth0"],
                                "vnfs": [{"name": "monitor_stats", "type": "noop"}]},
    "redirect without port": {"name": "a", "interfaces": ["eth0"], "egress": {"action": "redirect"}},
    "port without redirect": {"name": "a", "interfaces": ["eth0"], "egress": {"action": "fib", "port": "x"}},
    "too many vnfs": {"name": "a", "interfaces": ["eth0"],
                      "vnfs": [{"name": f"v{i}", "type": "noop"} for i in range(31)]},
    "bad mode": {"name": "a", "interfaces": [{"name": "eth0", "mode": "fast"}]},
    "dpi snap_bytes too large": {"name": "a", "interfaces": ["eth0"],
                                 "vnfs": [{"name": "d", "type": "dpi", "config": {"snap_bytes": 4096}}]},
    "dpi unknown member": {"name": "a", "interfaces": ["eth0"],
                           "vnfs": [{"name": "d", "type": "dpi", "config": {"max_packet": 8}}]},
}
for what, doc in bad.items():
    if validator.is_valid(doc):
        failures += 1
        print(f"FAIL schema accepts bad input: {what}")
    else:
        print(f"ok   rejects {what}")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
