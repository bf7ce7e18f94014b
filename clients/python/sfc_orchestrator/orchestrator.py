"""An example orchestrator: several sfcd instances (one per VM), each with the
chains it should run. Applies them in parallel, one thread per sfcd, and
watches their counters in one merged stream."""
from __future__ import annotations

import json
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Optional

import grpc

from .client import ApplyResult, SfcdClient, SfcdError


@dataclass
class Target:
    """One sfcd and the chain files (their text) it should run, in order."""
    address: str
    chains: list = field(default_factory=list)


@dataclass
class Outcome:
    address: str
    serving: bool = False
    results: list = field(default_factory=list)  # ApplyResult, in order
    error: Optional[SfcdError] = None


class Orchestrator:
    def __init__(self, targets: list, tls: Optional[dict] = None, timeout: float = 120.0):
        self.targets = targets
        self._clients = {t.address: SfcdClient(t.address, timeout=timeout, **(tls or {}))
                         for t in targets}

    def close(self) -> None:
        for c in self._clients.values():
            c.close()

    def __enter__(self) -> "Orchestrator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def client(self, address: str) -> SfcdClient:
        return self._clients[address]

    def _apply_one(self, target: Target, guarded: bool, dry_run: bool) -> Outcome:
        client = self._clients[target.address]
        out = Outcome(target.address, serving=client.serving())
        if not out.serving:
            out.error = SfcdError(target.address, "health", grpc.StatusCode.UNAVAILABLE,
                                  "health service is not SERVING")
            return out
        try:
            for text in target.chains:
                expected = None
                if guarded:  # refuse to overwrite what another replica applied since we read
                    expected = client.generation(json.loads(text)["name"])
                out.results.append(client.apply(text, expected_generation=expected,
                                                dry_run=dry_run))
        except SfcdError as e:
            out.error = e
        return out

    def apply(self, guarded: bool = False, dry_run: bool = False) -> list:
        """Applies every target's chains, the targets in parallel (a target's
        own chains in order). Returns one Outcome per target, in order; a
        failing target does not stop the others."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.targets))) as pool:
            return list(pool.map(lambda t: self._apply_one(t, guarded, dry_run), self.targets))

    def delete(self, names: dict) -> list:
        """names: {address: [chain, ...]}; returns [(address, chain, error or None)]."""
        def one(address):
            done = []
            for name in names[address]:
                try:
                    self._clients[address].delete(name)
                    done.append((address, name, None))
                except SfcdError as e:
                    done.append((address, name, e))
            return done
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            return [r for rs in pool.map(one, list(names)) for r in rs]

    def watch(self, chains: list, interval_ms: int = 1000,
              stop: Optional[threading.Event] = None) -> Iterator[dict]:
        """Merges StatsService.Watch streams of (address, chain) pairs: yields
        each snapshot with "sfcd" set to its address, as it arrives. A stream
        that fails yields {"sfcd", "chain", "error"} once and ends."""
        q: queue.Queue = queue.Queue()
        stop = stop or threading.Event()
        done = object()

        def pump(address, chain):
            try:
                for snap in self._clients[address].watch(chain, interval_ms):
                    if stop.is_set():
                        break
                    snap["sfcd"] = address
                    q.put(snap)
            except SfcdError as e:
                q.put({"sfcd": address, "chain": chain, "error": str(e)})
            finally:
                q.put(done)

        threads = [threading.Thread(target=pump, args=pc, daemon=True) for pc in chains]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                item = q.get()
                if item is done:
                    running -= 1
                    continue
                yield item
        finally:
            stop.set()
            self.close()  # cancels the streams still open


__all__ = ["ApplyResult", "Orchestrator", "Outcome", "Target"]
