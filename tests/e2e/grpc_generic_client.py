#!/usr/bin/python3
"""A gRPC client that knows nothing of sfc's code: python's grpcio with raw
protobuf bytes. It checks what any generic client (grpcurl, grpc_health_probe)
relies on: the health service answers SERVING, and reflection lists sfc.v1's
services and serves their descriptors."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import grpc

build = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="sfc-grpc-")
sock = os.path.join(tmp, "sfcd.sock")
root = f"/sys/fs/bpf/sfc-grpc-{os.getpid()}"
daemon = subprocess.Popen(
    [f"{build}/daemon/sfcd", "--bpffs-root", root, "--state-dir", tmp, "--listen", f"unix:{sock}"],
    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    failures += 0 if ok else 1


def raw(channel, method, kind="unary_unary"):
    return getattr(channel, kind)(method, request_serializer=None, response_deserializer=None)


try:
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    channel = grpc.insecure_channel(f"unix:{sock}")
    grpc.channel_ready_future(channel).result(timeout=10)

    # grpc.health.v1.Health/Check, empty service name -> HealthCheckResponse{status: SERVING(1)}.
    resp = raw(channel, "/grpc.health.v1.Health/Check")(b"", timeout=5)
    check("health Check answers SERVING", resp == b"\x08\x01", resp.hex())

    # ServerReflectionRequest{list_services: ""} is field 7 (string): 0x3a 0x00.
    reflect = raw(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "stream_stream")
    listing = b"".join(reflect(iter([b"\x3a\x00"]), timeout=5))
    for service in (b"sfc.v1.ChainService", b"sfc.v1.StatsService", b"grpc.health.v1.Health"):
        check(f"reflection lists {service.decode()}", service in listing)

    # file_containing_symbol (field 4) returns the descriptor with the methods.
    symbol = b"sfc.v1.ChainService"
    req = b"\x22" + bytes([len(symbol)]) + symbol
    desc = b"".join(reflect(iter([req]), timeout=5))
    for method in (b"Apply", b"Get", b"List", b"Delete"):
        check(f"reflection describes ChainService.{method.decode()}", method in desc)

    # An error from the API carries a status code and a message naming the field.
    try:
        raw(channel, "/sfc.v1.ChainService/Get")(b"\x0a\x07missing", timeout=5)  # GetChainRequest{name}
        check("Get of a missing chain fails", False, "succeeded")
    except grpc.RpcError as e:
        check("Get of a missing chain is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, str(e.code()))
        check("its message names the chain", '"missing"' in e.details(), e.details())
finally:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)

# TCP needs TLS: refused without certificates, served with them.
try:
    r = subprocess.run([f"{build}/daemon/sfcd", "--bpffs-root", root, "--state-dir", tmp,
                        "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=10)
    check("TCP listener without TLS is refused", r.returncode != 0 and "--tls-cert" in r.stderr, r.stderr)

    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    port = 20000 + os.getpid() % 20000
    daemon = subprocess.Popen([f"{build}/daemon/sfcd", "--bpffs-root", root, "--state-dir", tmp,
                               "--listen", f"127.0.0.1:{port}", "--tls-cert", cert, "--tls-key", key],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    creds = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
    channel = grpc.secure_channel(f"127.0.0.1:{port}", creds)
    grpc.channel_ready_future(channel).result(timeout=10)
    resp = raw(channel, "/grpc.health.v1.Health/Check")(b"", timeout=5)
    check("health over TLS answers SERVING", resp == b"\x08\x01", resp.hex())
    r = subprocess.run([f"{build}/cli/sfcctl", "--server", f"127.0.0.1:{port}", "--tls-ca", cert,
                        "get", "chains"], capture_output=True, text=True, timeout=10)
    check("sfcctl over TLS", r.returncode == 0 and "NAME" in r.stdout, r.stderr)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)
finally:
    subprocess.run(["rm", "-rf", tmp, root])

print(f"{failures} failed")
sys.exit(1 if failures else 0)
