"""python3 -m sfc_orchestrator: apply chains to several sfcd instances in
parallel, show their state, watch their counters, delete.

  python3 -m sfc_orchestrator apply  --sfcd unix:/run/vm1.sock fw.json --sfcd unix:/run/vm2.sock fm.json
  python3 -m sfc_orchestrator status --sfcd unix:/run/vm1.sock --sfcd unix:/run/vm2.sock
  python3 -m sfc_orchestrator watch  --sfcd unix:/run/vm1.sock fw --sfcd unix:/run/vm2.sock fm
  python3 -m sfc_orchestrator delete --sfcd unix:/run/vm1.sock fw --sfcd unix:/run/vm2.sock fm

Each --sfcd takes an address and then chain files (apply) or chain names
(watch, delete). Output is one JSON object per line. Exit codes as sfcctl's:
0 success, 1 a request failed, 2 bad usage, 3 an sfcd could not be reached."""
import argparse
import json
import sys

import grpc

from .client import chain_to_dict
from .orchestrator import Orchestrator, Target

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _emit(obj) -> None:
    print(json.dumps(obj, sort_keys=True), flush=True)


def _exit_for(code) -> int:
    return EXIT_UNREACHABLE if code in (grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.DEADLINE_EXCEEDED) else EXIT_FAILED


def _groups(parser, groups, need_items):
    out = []
    for g in groups or []:
        if need_items and len(g) < 2:
            parser.error(f"--sfcd {g[0]}: needs at least one chain after the address")
        out.append((g[0], g[1:]))
    if not out:
        parser.error("at least one --sfcd is required")
    return out


def _tls(args) -> dict:
    return {"tls_ca": args.tls_ca, "tls_cert": args.tls_cert, "tls_key": args.tls_key}


def cmd_apply(args, parser) -> int:
    targets = []
    for address, files in _groups(parser, args.sfcd, True):
        texts = []
        for f in files:
            try:
                with open(f) as fh:
                    texts.append(fh.read())
            except OSError as e:
                parser.error(f"{f}: {e.strerror}")
        targets.append(Target(address, texts))
    rc = EXIT_OK
    with Orchestrator(targets, tls=_tls(args)) as orch:
        for out in orch.apply(guarded=args.guarded, dry_run=args.dry_run):
            for r in out.results:
                _emit({"sfcd": r.target, "chain": r.chain, "generation": r.generation,
                       "changed": r.changed})
            if out.error:
                e = out.error
                _emit({"sfcd": out.address, "error": e.code.name, "what": e.what,
                       "message": e.message})
                rc = max(rc, _exit_for(e.code))
    return rc


def cmd_status(args, parser) -> int:
    rc = EXIT_OK
    with Orchestrator([Target(a) for a, _ in _groups(parser, args.sfcd, False)],
                      tls=_tls(args)) as orch:
        for t in orch.targets:
            c = orch.client(t.address)
            line = {"sfcd": t.address, "serving": c.serving()}
            try:
                line["version"] = c.version().version
                line["chains"] = {ch.spec.name: {"generation": ch.generation,
                                                 "attached": all(a.attached
                                                                 for a in ch.attachments)}
                                  for ch in c.list()}
            except Exception as e:  # noqa: BLE001 - reported, not fatal for the others
                line["error"] = str(e)
                rc = EXIT_UNREACHABLE
            _emit(line)
            if args.verbose:
                for ch in c.list():
                    _emit({"sfcd": t.address, "chain": chain_to_dict(ch)})
    return rc


def cmd_watch(args, parser) -> int:
    pairs = [(a, n) for a, names in _groups(parser, args.sfcd, True) for n in names]
    rc = EXIT_OK
    orch = Orchestrator([Target(a) for a in dict.fromkeys(a for a, _ in pairs)], tls=_tls(args))
    seen = {pair: 0 for pair in pairs}
    try:
        for snap in orch.watch(pairs, args.interval_ms):
            _emit(snap)
            pair = (snap["sfcd"], snap["chain"])
            if "error" in snap:
                rc = EXIT_FAILED
                seen.pop(pair, None)  # that stream has ended
            elif pair in seen:
                seen[pair] += 1
            if args.count and all(n >= args.count for n in seen.values()):
                break
    except KeyboardInterrupt:
        pass
    finally:
        orch.close()
    return rc


def cmd_delete(args, parser) -> int:
    names = {a: n for a, n in _groups(parser, args.sfcd, True)}
    rc = EXIT_OK
    with Orchestrator([Target(a) for a in names], tls=_tls(args)) as orch:
        for address, chain, err in orch.delete(names):
            if err:
                _emit({"sfcd": address, "chain": chain, "error": err.code.name,
                       "message": err.message})
                rc = max(rc, _exit_for(err.code))
            else:
                _emit({"sfcd": address, "chain": chain, "deleted": True})
    return rc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m sfc_orchestrator",
                                     description="Drive several sfcd instances at once.")
    tls = argparse.ArgumentParser(add_help=False)
    tls.add_argument("--tls-ca", help="CA of the sfcd TCP listeners (Unix sockets need none)")
    tls.add_argument("--tls-cert", help="client certificate, for mutual TLS")
    tls.add_argument("--tls-key")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("apply", parents=[tls], help="apply chain files, every sfcd in parallel")
    p.add_argument("--sfcd", nargs="+", action="append", metavar=("ADDRESS", "FILE"),
                   help="an sfcd and the chain files it should run")
    p.add_argument("--guarded", action="store_true",
                   help="apply with the generation read just before (expected_generation): "
                        "refused if another orchestrator changed the chain in between")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(fn=cmd_apply)

    p = sub.add_parser("status", parents=[tls], help="health, version and chain generations of each sfcd")
    p.add_argument("--sfcd", nargs=1, action="append", metavar="ADDRESS")
    p.add_argument("-v", "--verbose", action="store_true", help="also every chain in full")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("watch", parents=[tls], help="merged stats streams, one JSON line per snapshot")
    p.add_argument("--sfcd", nargs="+", action="append", metavar=("ADDRESS", "CHAIN"))
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--count", type=int, default=0,
                   help="stop after this many snapshots per chain (0: until Ctrl-C)")
    p.set_defaults(fn=cmd_watch)

    p = sub.add_parser("delete", parents=[tls], help="delete chains, every sfcd in parallel")
    p.add_argument("--sfcd", nargs="+", action="append", metavar=("ADDRESS", "CHAIN"))
    p.set_defaults(fn=cmd_delete)

    args = parser.parse_args(argv)  # exits 2 on bad usage
    return args.fn(args, parser)


if __name__ == "__main__":
    sys.exit(main())
