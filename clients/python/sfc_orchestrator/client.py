"""A thin client for one sfcd: the sfc.v1 stubs generated from proto/ plus
the gRPC health service, with errors as exceptions that keep the status code."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Optional

import grpc
from google.protobuf import json_format

from sfc.v1 import chain_pb2, chain_pb2_grpc, stats_pb2, stats_pb2_grpc

# grpc.health.v1 without the grpcio-health-checking package: the request is
# HealthCheckRequest{service: ""} (empty bytes), the answer's field 1 is the
# status enum (1 = SERVING).
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = b"\x08\x01"


class SfcdError(Exception):
    """A failed call: the target, what was being done, the gRPC status code
    and the server's message (which names the bad field)."""

    def __init__(self, target: str, what: str, code: grpc.StatusCode, message: str):
        super().__init__(f"{target}: {what}: {code.name}: {message}")
        self.target, self.what, self.code, self.message = target, what, code, message


@dataclass
class ApplyResult:
    target: str
    chain: str
    generation: int
    changed: bool


def _channel(target: str, tls_ca: Optional[str], tls_cert: Optional[str],
             tls_key: Optional[str]) -> grpc.Channel:
    # sfcd accepts chain files of several MB (100k firewall rules).
    options = [("grpc.max_send_message_length", 512 << 20),
               ("grpc.max_receive_message_length", 512 << 20)]
    if target.startswith("unix:"):
        return grpc.insecure_channel(target, options=options)
    # sfcd's TCP listeners are TLS only; without --tls-ca the system's roots.

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(tls_ca) if tls_ca else None,
        private_key=read(tls_key) if tls_key else None,
        certificate_chain=read(tls_cert) if tls_cert else None)
    return grpc.secure_channel(target, creds, options=options)


class SfcdClient:
    """One sfcd at `target` ("unix:/run/sfcd/sfcd.sock" or "host:port")."""

    def __init__(self, target: str, tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None, timeout: float = 120.0):
        self.target = target
        self.timeout = timeout
        self._channel = _channel(target, tls_ca, tls_cert, tls_key)
        self._chains = chain_pb2_grpc.ChainServiceStub(self._channel)
        self._stats = stats_pb2_grpc.StatsServiceStub(self._channel)
        self._health = self._channel.unary_unary(_HEALTH_CHECK, request_serializer=None,
                                                 response_deserializer=None)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SfcdClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, what: str, fn, request, timeout: Optional[float] = None):
        try:
            return fn(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise SfcdError(self.target, what, e.code(), e.details() or "") from None

    # --- health and version ---
    def serving(self, timeout: float = 5.0) -> bool:
        """True when the health service answers SERVING."""
        try:
            return self._health(b"", timeout=timeout) == _SERVING
        except grpc.RpcError:
            return False

    def version(self) -> chain_pb2.GetVersionResponse:
        return self._call("version", self._chains.GetVersion, chain_pb2.GetVersionRequest(), 10)

    # --- chains ---
    def apply(self, spec_json: str, expected_generation: Optional[int] = None,
              dry_run: bool = False) -> ApplyResult:
        """Applies a chain file's text. With `expected_generation` the server
        refuses (FAILED_PRECONDITION) unless the chain is at that generation
        (0: it must not exist)."""
        req = chain_pb2.ApplyRequest(spec_json=spec_json, dry_run=dry_run)
        if expected_generation is not None:
            req.expected_generation = expected_generation
        name = _chain_name(spec_json)
        resp = self._call(f"apply {name}", self._chains.Apply, req)
        return ApplyResult(self.target, resp.chain.spec.name, resp.chain.generation, resp.changed)

    def get(self, name: str) -> Optional[chain_pb2.Chain]:
        """The chain, or None when sfcd has no such chain."""
        try:
            return self._chains.Get(chain_pb2.GetChainRequest(name=name), timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise SfcdError(self.target, f"get {name}", e.code(), e.details() or "") from None

    def generation(self, name: str) -> int:
        """The chain's generation, 0 when it does not exist."""
        chain = self.get(name)
        return chain.generation if chain else 0

    def list(self) -> list:
        return list(self._call("list", self._chains.List, chain_pb2.ListChainsRequest()).chains)

    def delete(self, name: str, expected_generation: Optional[int] = None) -> None:
        req = chain_pb2.DeleteChainRequest(name=name)
        if expected_generation is not None:
            req.expected_generation = expected_generation
        self._call(f"delete {name}", self._chains.Delete, req)

    # --- stats ---
    def stats(self, chain: str, vnf: str = "") -> dict:
        return stats_to_dict(
            self._call(f"stats {chain}", self._stats.Get,
                       stats_pb2.GetStatsRequest(chain=chain, vnf=vnf), 10))

    def watch(self, chain: str, interval_ms: int = 1000, vnf: str = "") -> Iterator[dict]:
        """Snapshots from StatsService.Watch until the stream ends; cancel by
        closing the client or dropping the iterator."""
        stream = self._stats.Watch(
            stats_pb2.WatchStatsRequest(chain=chain, vnf=vnf, interval_ms=interval_ms))
        try:
            for msg in stream:
                yield stats_to_dict(msg)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise SfcdError(self.target, f"watch {chain}", e.code(), e.details() or "") from None
        finally:
            stream.cancel()


def stats_to_dict(msg: stats_pb2.ChainStats) -> dict:
    """{"chain", "time", "counters": {name: value}, "vnfs": {vnf: {name: value}}}."""
    return {
        "chain": msg.chain,
        "time": msg.time.ToJsonString(),
        "counters": {c.name: c.value for c in msg.counters},
        "vnfs": {v.name: {c.name: c.value for c in v.counters} for v in msg.vnfs},
    }


def chain_to_dict(chain: chain_pb2.Chain) -> dict:
    return json_format.MessageToDict(chain, preserving_proto_field_name=True)


def _chain_name(spec_json: str) -> str:
    try:
        return str(json.loads(spec_json).get("name", "?"))
    except (ValueError, AttributeError):
        return "?"
