#!/usr/bin/env python3
"""Regenerates the JSON seed corpora of tests/fuzz/corpus/ from the example
chains (chains/*.json) and the JSON literals of the unit tests. Seeds are
named by content hash, so a rerun only adds what is new.

    tests/fuzz/make_corpus.py            # from the repository root
"""
import glob
import hashlib
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
VNF_TARGETS = {"firewall": "efw_rules", "loadbalancer": "elb_config", "flowmon": "efm_config"}
# Unit tests whose JSON literals seed a target.
TEST_SEEDS = {
    "chain_spec": ["chain_spec_test.cc"],
    "efw_rules": ["efw_rules_test.cc", "efw_compiler_test.cc"],
    "elb_config": ["elb_config_test.cc"],
    "efm_config": ["efm_config_test.cc"],
}
RAW_STRING = re.compile(r'R"(\w*)\((.*?)\)\1"', re.S)


def add(target, text):
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    path = os.path.join(CORPUS, target, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def literals(test_file):
    with open(os.path.join(ROOT, "tests", "unit", test_file)) as f:
        for m in RAW_STRING.finditer(f.read()):
            yield m.group(2)


def main():
    for chain in sorted(glob.glob(os.path.join(ROOT, "chains", "*.json"))):
        if chain.endswith("schema.json"):
            continue
        with open(chain) as f:
            text = f.read()
        add("chain_spec", text)
        for vnf in json.loads(text).get("vnfs", []):
            if vnf.get("type") in VNF_TARGETS and "config" in vnf:
                add(VNF_TARGETS[vnf["type"]], json.dumps(vnf["config"], indent=1))
    for target, files in TEST_SEEDS.items():
        for test_file in files:
            for text in literals(test_file):
                # Invalid JSON stays too: the tests use it on purpose.
                add(target, text)


if __name__ == "__main__":
    main()
