#!/usr/bin/python3
"""Two orchestrator replicas (two SfcdClient objects, two channels, two
threads) read the same generation of a chain and apply different specs with
it as expected_generation, released at the same instant. Prints one JSON
line per replica: {"replica", "ok", "generation"} or {"replica", "code",
"message"}.

usage: orchestrator_race.py ADDRESS CHAIN SPEC_A SPEC_B"""
import json
import sys
import threading

from sfc_orchestrator import SfcdClient, SfcdError

address, chain, files = sys.argv[1], sys.argv[2], sys.argv[3:5]
texts = [open(f).read() for f in files]
clients = [SfcdClient(address) for _ in texts]
expected = clients[0].generation(chain)
start = threading.Barrier(len(texts))
results = [None] * len(texts)


def replica(i):
    start.wait()
    try:
        r = clients[i].apply(texts[i], expected_generation=expected)
        results[i] = {"replica": i, "ok": True, "generation": r.generation}
    except SfcdError as e:
        results[i] = {"replica": i, "ok": False, "code": e.code.name, "message": e.message}


threads = [threading.Thread(target=replica, args=(i,)) for i in range(len(texts))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"expected": expected, "results": results}))
