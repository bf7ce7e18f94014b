#!/usr/bin/python3
"""Traffic whose losses can be proved: a sequence-numbered UDP stream and a
TCP transfer checked by length and SHA-256. Used by the e2e reliability tests
(edits and crashes under traffic).

  streams.py udp-recv  --bind IP --port P --out FILE          # until the sender's END marker
  streams.py udp-send  --to IP --port P --rate PPS --seconds S
  streams.py tcp-recv  --bind IP --port P --out FILE          # one connection
  streams.py tcp-send  --to IP --port P --rate BYTES_PER_S --seconds S --out FILE

Each side writes one JSON object to --out (or stdout) when it is done.
"""
import argparse
import hashlib
import json
import random
import socket
import struct
import sys
import time

END = 0xFFFFFFFFFFFFFFFF


def write(out, obj):
    text = json.dumps(obj)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text, flush=True)


def udp_recv(a):
    s = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((a.bind, a.port))
    seen = set()
    dups = 0
    sent = None
    s.settimeout(a.timeout)
    try:
        while True:
            data, _ = s.recvfrom(2048)
            (seq,) = struct.unpack("!Q", data[:8])
            if seq == END:
                (sent,) = struct.unpack("!Q", data[8:16])
                break
            if seq in seen:
                dups += 1
            seen.add(seq)
    except socket.timeout:
        pass
    missing = [i for i in range(sent or 0) if i not in seen]
    write(a.out, {"sent": sent, "received": len(seen), "duplicates": dups,
                  "missing": len(missing), "first_missing": missing[:20]})


def udp_send(a):
    s = socket.socket(socket.AF_INET6 if ":" in a.to else socket.AF_INET, socket.SOCK_DGRAM)
    pad = b"\0" * max(0, a.size - 8)
    interval = 1.0 / a.rate
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < a.seconds:
        s.sendto(struct.pack("!Q", seq) + pad, (a.to, a.port))
        seq += 1
        next_at = start + seq * interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)  # let the last datagrams arrive before the marker
    markers = 20
    for _ in range(markers):
        s.sendto(struct.pack("!QQ", END, seq), (a.to, a.port))
        time.sleep(0.05)
    write(a.out, {"sent": seq, "end_markers": markers})


def stream_bytes(seed):
    rnd = random.Random(seed)
    while True:
        yield rnd.randbytes(65536)


def tcp_recv(a):
    srv = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.bind, a.port))
    srv.listen(1)
    srv.settimeout(a.timeout)
    conn, _ = srv.accept()
    conn.settimeout(a.timeout)
    h = hashlib.sha256()
    n = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    write(a.out, {"bytes": n, "sha256": h.hexdigest()})


def tcp_send(a):
    s = socket.create_connection((a.to, a.port), timeout=a.timeout)
    h = hashlib.sha256()
    n = 0
    start = time.monotonic()
    for chunk in stream_bytes(a.seed):
        if time.monotonic() - start >= a.seconds:
            break
        s.sendall(chunk)
        h.update(chunk)
        n += len(chunk)
        ahead = n / a.rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the receiver to close: everything arrived
    write(a.out, {"bytes": n, "sha256": h.hexdigest()})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["udp-recv", "udp-send", "tcp-recv", "tcp-send"])
    p.add_argument("--bind")
    p.add_argument("--to")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--out")
    a = p.parse_args()
    {"udp-recv": udp_recv, "udp-send": udp_send, "tcp-recv": tcp_recv, "tcp-send": tcp_send}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
