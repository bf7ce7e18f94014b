#!/usr/bin/python3
"""Turns one bench results file into docs/PERFORMANCE.md and PNG figures.

usage: report.py RESULTS.json --doc PERFORMANCE.md --figures DIR

Everything in the document is computed from the results file: medians over
the repetitions with [min-max] spread, CPU split, cost per unit of work,
sfc/kernel ratios and the targets of the benchmark issue, met or not.
"""
import argparse
import json
import os
import statistics
import sys

VARIANT_TEXT = {
    "xdp-bare": "sfc chain with no VNF, `fib` egress: entry parse + FIB + redirect (the XDP limit)",
    "sfc-fib": "sfc eFW → eFM → eLB, `fib` egress: never enters the kernel stack",
    "sfc-pass": "sfc eFW → eFM → eLB, `pass` egress: the kernel routes after the chain",
    "kernel-nft": "nftables: same rules (blocklist as a set), conntrack accounting, DNAT numgen/jhash maps",
    "kernel-ipt": "iptables-legacy: same rules (linear), conntrack accounting, DNAT with `statistic`",
    "kernel-nft-defoff": "kernel-nft with the endpoints' default offloads (TSO/GSO, checksum offload, noqueue)",
}
WORKLOAD_TEXT = {
    "tcp1": "iperf3 TCP, 1 stream", "tcp4": "iperf3 TCP, 4 streams",
    "udp64": "UDP 64 B frames", "udp512": "UDP 512 B frames", "udp1500": "UDP 1500 B frames",
    "http": "wrk HTTP/1.1, 32 connections, 1 KiB responses",
}
VARIANT_ORDER = ["xdp-bare", "sfc-fib", "sfc-pass", "kernel-nft", "kernel-ipt", "kernel-nft-defoff"]
WORKLOAD_ORDER = ["tcp1", "tcp4", "udp64", "udp512", "udp1500", "http"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=3):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def spread(values, scale=1.0, digits=3):
    values = [v * scale for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} [{fmt(min(values), digits)}–{fmt(max(values), digits)}]"


def primary(run):
    """(value, unit label) of a run's headline metric."""
    w = run.get("workload", "")
    if w.startswith("tcp"):
        return run.get("bits_per_s", 0) / 1e9
    if w.startswith("udp"):
        return run.get("pps", 0) / 1e6
    return run.get("requests_per_s", 0) / 1e3


UNIT = {"tcp": "Gbit/s", "udp": "Mpps", "http": "k req/s"}


def unit_of(w):
    return UNIT["tcp" if w.startswith("tcp") else "udp" if w.startswith("udp") else "http"]


def own_cpu_s(run):
    """CPU-seconds the run's own work used. UDP runs do no user-space work at
    all (generator and sinks are XDP), so their user time is someone else's."""
    c = run.get("cpu") or {}
    hz = c.get("hz", 100) or 100
    if run.get("workload", "").startswith("udp"):
        return (c.get("system", 0) + c.get("softirq", 0) + c.get("irq", 0)) / hz
    return c.get("busy", 0) / hz


def efficiency(run):
    """CPU cost per unit of work: µs per packet (UDP), s per GB (TCP), ms per 1k requests (HTTP)."""
    w = run.get("workload", "")
    secs = run.get("seconds") or 0
    cpu = own_cpu_s(run)
    if w.startswith("udp"):
        pk = run.get("delivered", 0)
        return cpu / (pk / 1e6) if pk else None  # CPU-s per million packets
    if w.startswith("tcp"):
        gb = run.get("bits_per_s", 0) * secs / 8 / 1e9
        return cpu / gb if gb else None
    req = run.get("requests_per_s", 0) * secs
    return cpu * 1e3 / (req / 1e3) if req else None


EFF_UNIT = {"tcp": "CPU-s/GB", "udp": "CPU-s/Mpkt", "http": "CPU-ms/1k req"}


def cpu_split(runs):
    """Median shares of user/system/softirq of the CPUs' time."""
    out = {}
    for k in ("user", "system", "softirq", "idle"):
        vals = [r["cpu"][k] / r["cpu"]["total"] * 100 for r in runs if r.get("cpu") and r["cpu"].get("total")]
        out[k] = med(vals)
    return out


class Report:
    def __init__(self, doc, fig_dir, doc_path):
        self.d = doc
        self.fig_dir = fig_dir
        self.doc_dir = os.path.dirname(os.path.abspath(doc_path))
        self.runs = [r for r in doc.get("runs", []) if "workload" in r and "error" not in r]
        self.failed = [r for r in doc.get("runs", []) if "error" in r]
        self.lines = []
        self.figs = []
        self.ncpus = float(doc.get("meta", {}).get("machine", {}).get("cpus") or 2)

    def w(self, s=""):
        self.lines.append(s)

    def group(self, variant, workload, cpus):
        return [r for r in self.runs if r["variant"] == variant and r["workload"] == workload and r["cpus"] == cpus]

    def median_of(self, variant, workload, cpus):
        return med([primary(r) for r in self.group(variant, workload, cpus)])

    def variants(self):
        seen = {r["variant"] for r in self.d.get("runs", [])}
        return [v for v in VARIANT_ORDER if v in seen]

    def micro_case(self, name):
        m = self.d.get("micro") or {}
        for c in m.get("cases", []):
            if c.get("name") == name:
                return c
        return None

    # ------------------------------------------------------------------
    def header(self):
        m = self.d["meta"]
        mach = m.get("machine", {})
        v = m.get("versions", {})
        self.w("# Performance")
        self.w()
        self.w("<!-- Generated by bench/report.py from docs/perf/latest.json; edit bench/report.py, not this file. -->")
        self.w()
        self.w("sfc's XDP chain against the kernel's own service function chain (netfilter firewall, conntrack")
        self.w("accounting, nftables/iptables DNAT) on the same namespaced topology, in the same run, alternating;")
        self.w("plus per-packet costs from `BPF_PROG_TEST_RUN`. Reproduce with `make bench` (or `bench/run.sh`;")
        self.w("`bench/run.sh --smoke` is the 2-minute version the test suite runs).")
        self.w()
        self.w("| | |")
        self.w("|---|---|")
        self.w(f"| run | {m.get('started', '?')} → {m.get('finished', '(unfinished)')}, {m.get('duration_s', '?')} s |")
        self.w(f"| command | `{m.get('command', '?')}` |")
        self.w(f"| machine | {mach.get('cpu_model', '?')}, {mach.get('cpus', '?')} vCPUs, "
               f"{mach.get('memory_mib', 0) // 1024} GiB, shared with other work |")
        self.w(f"| kernel | {mach.get('kernel', '?')} ({mach.get('kernel_version', '')}) |")
        self.w(f"| sfc | commit {v.get('sfc_commit', '?')}, chain file `{m.get('chain_file', '?')}`"
               + (" (**stand-in: the build lacked the real VNF types**)" if m.get("chain_fallback") else "") + " |")
        self.w(f"| tools | {v.get('iperf3', '?')}; {v.get('wrk', '?')}; {v.get('nginx', '?')}; "
               f"{v.get('nft', '?')}; {v.get('iptables-legacy', '?')} |")
        self.w(f"| repetitions | {m.get('reps')} × {m.get('seconds')} s per traffic run; figures are medians "
               "with [min–max] over the repetitions |")
        self.w()

    def testbed(self):
        self.w("## Testbed")
        self.w()
        self.w("`scripts/topo.sh`: a client namespace, the SFC host (\"VM\") namespace with `eth0` toward the client")
        self.w("and `eth1`/`eth2` toward two server namespaces, veth pairs with one queue each. Every variant")
        self.w("gets a freshly built topology (no state, conntrack entries or netfilter hooks carried over), and the")
        self.w("variants alternate inside every repetition (order reversed on odd repetitions).")
        self.w()
        self.w("| variant | what runs on the SFC host |")
        self.w("|---|---|")
        for v in self.variants():
            self.w(f"| `{v}` | {VARIANT_TEXT.get(v, v)} |")
        self.w()
        self.w("The firewall rules, the load-balancer services and backends come from one file,")
        self.w(f"`{self.d['meta'].get('chain_file', 'bench/chains/sfc.json')}`; `bench/bench.py` translates them to")
        self.w("nftables and iptables (a rule about the VIP becomes `ct original ip daddr`/`--ctorigdst`, because")
        self.w("netfilter's filter hook runs after DNAT). The kernel's flow monitor is conntrack accounting")
        self.w("(`nf_conntrack_acct=1`), which costs the kernel path almost nothing beyond the conntrack it already")
        self.w("needs for NAT. **There is no IPVS on this kernel** (`CONFIG_IP_VS` is not set), so the kernel load")
        self.w("balancer is nftables/iptables DNAT.")
        self.w()
        acct = self.d["meta"].get("kernel_flow_accounting") or {}
        sample = next((lines for lines in acct.values() if lines), None)
        if sample:
            self.w("A conntrack entry with its accounting after a kernel run (the kernel's flow record):")
            self.w()
            self.w("```")
            for line in sample[:2]:
                self.w(line)
            self.w("```")
            self.w()
        self.w("Offloads. The XDP path needs the sending endpoints' checksum offload off (a frame XDP redirects loses")
        self.w("its `CHECKSUM_PARTIAL` state and arrives with a bad checksum, see docs/deployment.md), which also turns off TSO: the client and servers")
        self.w("send MTU-sized segments, with a `pfifo` qdisc. Every variant runs with those settings (`xdp` profile),")
        self.w("and `kernel-nft-defoff` repeats the kernel path with the veth defaults (TSO/GSO and checksum offload on,")
        self.w("`noqueue`), where the kernel moves 64 KB segments end to end.")
        self.w()
        self.w("Workloads: iperf3 TCP (1 and 4 streams) through the VIP to server 1; UDP at 64/512/1500 B from an")
        self.w("in-kernel generator (`sfc-bench flood`: `BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES` and")
        self.w("`XDP_TX` out of the client's veth, 256 flows) to the VIP's UDP service, counted and dropped by an XDP")
        self.w("sink on both servers; wrk against nginx on both servers behind the VIP. `xdp-bare` has no load")
        self.w("balancer and targets server 1 directly.")
        self.w()
        self.w("**What \"limited to N CPUs\" means on veth.** A veth transmit does not hand the frame to another")
        self.w("CPU: it schedules the peer's NAPI on the sending CPU, so the SFC host's forwarding (XDP or the kernel")
        self.w("stack), and the server's receive, run in softirq on the CPU of whoever sent the frame. Limiting the")
        self.w("SFC host to N CPUs therefore means pinning the traffic's senders (generator threads, iperf3, wrk,")
        self.w("nginx, iperf3 server) to N CPUs with `taskset`. Client, SFC host and servers share those N CPUs:")
        self.w("the numbers are for the whole path, and the CPU figures are the N CPUs' `/proc/stat` deltas over")
        self.w("the run. The veths have one queue, so each interface's receive work runs in one NAPI instance at a")
        self.w("time: a second CPU parallelizes the endpoints and the two directions (client→server frames are")
        self.w("received on the SFC host's `eth0`, replies on `eth1`/`eth2`), not one interface's packets. Two")
        self.w("queues would split that too, but on this kernel a multi-queue veth whose sender has a qdisc stalls")
        self.w("for good under TCP load (the stopped transmit queue is never woken; seen while building this")
        self.w("benchmark), so the benchmark stays with one. For UDP with 2 CPUs, both generator threads feed the")
        self.w("same ring, and what the receiving NAPI cannot take is dropped at the ring (offered > delivered).")
        self.w()

    # ------------------------------------------------------------------
    def targets(self):
        self.w("## Targets")
        self.w()
        self.w("Against the better of the two kernel variants in each row; `sfc-pass` counts for throughput.")
        self.w()
        self.w("| target | measured | met |")
        self.w("|---|---|---|")
        bare = self.micro_case("xdp_pass")
        full = self.micro_case("full_chain")
        if bare and full and "single" in full and "error" not in full:
            r = full["single"]["ns"] / bare["single"]["ns"]
            net = full["single"]["ns"] - bare["single"]["ns"]
            extra = ""
            if "repeat" in bare:
                # The single-run timing carries the kernel's timer; XDP_PASS
                # timed both ways shows how much.
                timer = bare["single"]["ns"] - bare["repeat"]["ns"]
                extra = (f" ({(full['single']['ns'] - timer) / bare['repeat']['ns']:.0f}× with the timer's "
                         f"{fmt(timer)} ns taken out)")
            self.w(f"| full chain ≤ 2.5× bare XDP_PASS per packet | {fmt(full['single']['ns'])} ns vs "
                   f"{fmt(bare['single']['ns'])} ns (single-run timing): **{r:.1f}×**{extra}; the chain's own work "
                   f"is {fmt(net)} ns/packet, see *Where the time goes* | {'yes' if r <= 2.5 else 'no'} |")
        e10, e100k = self.micro_case("efw_rules_10"), self.micro_case("efw_rules_100000")
        if e10 and e100k and "repeat" in e10 and "repeat" in e100k:
            r = e100k["repeat"]["ns"] / e10["repeat"]["ns"]
            ipt, top = self.scaling_ratio("kernel-ipt")
            extra = f"; iptables from 10 to {top:,} rules: pps ×{ipt:.3g}" if ipt else ""
            self.w(f"| eFW at 100k rules within 1.5× of 10 rules, while iptables degrades | "
                   f"{fmt(e100k['repeat']['ns'])} vs {fmt(e10['repeat']['ns'])} ns: **{r:.2f}×**{extra} | "
                   f"{'yes' if r <= 1.5 else 'no'} |")
        for cpus in (1, 2):
            s = self.median_of("sfc-fib", "udp64", cpus)
            k, kv = max(((self.median_of(v, "udp64", cpus) or 0, v) for v in ("kernel-nft", "kernel-ipt")))
            if s and k:
                se = med([efficiency(r) for r in self.group("sfc-fib", "udp64", cpus)])
                ke = med([efficiency(r) for r in self.group(kv, "udp64", cpus)])
                ok = s >= 3 * k and se is not None and ke is not None and se <= ke / 2
                self.w(f"| small-packet pps of sfc ≥ 3× kernel SFC at ≤ half its CPU ({cpus} CPU) | "
                       f"sfc-fib {fmt(s)} vs {kv} {fmt(k)} Mpps (**{s / k:.2f}×**), {fmt(se)} vs {fmt(ke)} "
                       f"CPU-s/Mpkt (**{se / ke if se and ke else float('nan'):.2f}×**) | {'yes' if ok else 'no'} |")
        for w in ("tcp1", "tcp4", "http"):
            for cpus in (1, 2):
                s = self.median_of("sfc-fib", w, cpus)
                best = max(((self.median_of(v, w, cpus) or 0, v) for v in ("kernel-nft", "kernel-ipt")), default=(0, ""))
                p = self.median_of("sfc-pass", w, cpus)
                if s and best[0]:
                    pass_txt = f"; sfc-pass {fmt(p)}" if p else ""
                    ok = max(s, p or 0) > best[0]
                    self.w(f"| {WORKLOAD_TEXT[w]} ahead of the kernel SFC ({cpus} CPU) | sfc-fib {fmt(s)}{pass_txt} vs "
                           f"{best[1]} {fmt(best[0])} {unit_of(w)} | {'yes' if ok else 'no'} |")
        self.w()

    def scaling_ratio(self, variant):
        """pps at the largest rule count measured over pps at 10 rules, and that count."""
        rows = [r for r in self.d.get("scaling", []) if r.get("variant") == variant and "pps" in r]
        top = max((r["rules"] for r in rows), default=10000)
        lo = med([r["pps"] for r in rows if r.get("rules") == 10])
        hi = med([r["pps"] for r in rows if r.get("rules") == top])
        return (hi / lo if lo and hi is not None else None), top

    # ------------------------------------------------------------------
    def micro(self):
        m = self.d.get("micro")
        self.w("## Per-packet cost (`BPF_PROG_TEST_RUN`)")
        self.w()
        if not m or "cases" not in m:
            self.w(f"Not run ({(m or {}).get('error', 'skipped')}).")
            self.w()
            return
        self.w("`sfc-bench micro` loads each chain through the real chain engine, unattached, and times a 64 B UDP")
        self.w("frame from the client to the VIP's UDP service. Two timings: *repeat* (one call, many runs, the")
        self.w("kernel's average: only where no program rewrites the frame, since the kernel does not restore it")
        self.w("between runs) and *single* (many calls of one run each, median; includes the kernel's timer, so it")
        self.w("is compared with XDP_PASS timed the same way). Chains here end with `pass` egress.")
        self.w()
        bare = self.micro_case("xdp_pass")
        b_single = bare["single"]["ns"] if bare and "single" in bare else None
        b_repeat = bare["repeat"]["ns"] if bare and "repeat" in bare else None
        self.w("| case | single ns (p10–p90) | × XDP_PASS | repeat ns | × XDP_PASS | verdict |")
        self.w("|---|---|---|---|---|---|")
        for c in m["cases"]:
            if c["name"].startswith(("efw_rules", "efm_flows", "elb_")) or c["name"] == "full_chain_split":
                continue
            self.micro_row(c, b_single, b_repeat)
        self.w()
        split = self.micro_case("full_chain_split")
        if split and "per_vnf" in split:
            self.w("Where the time goes: the full chain again with `\"timing\": true` (each VNF reads the clock")
            self.w("on entry and exit, which itself costs; the split is what matters):")
            self.w()
            self.w("| VNF | type | ns/packet |")
            self.w("|---|---|---|")
            for name, v in split["per_vnf"].items():
                self.w(f"| {name} | {v.get('type', '?')} | {fmt(v.get('ns'))} |")
            if "single" in split:
                self.w(f"| (whole chain, timing on) | | {fmt(split['single']['ns'])} |")
            self.w()
        rows = [c for c in m["cases"] if c["name"].startswith("efw_rules")]
        if rows:
            self.w("eFW against rule count (blocklist rules, distinct /32 sources, ahead of the chain file's rules, so")
            self.w("the frame is tested against all of them):")
            self.w()
            self.w("| rules | repeat ns | single ns | × 10 rules | load + compile s |")
            self.w("|---|---|---|---|---|")
            base = next((c for c in rows if c.get("rules") == 10 and "repeat" in c), None)
            for c in rows:
                if "error" in c:
                    self.w(f"| {c.get('rules')} | error: {c['error'][:120]} | | | |")
                    continue
                ratio = c["repeat"]["ns"] / base["repeat"]["ns"] if base else None
                self.w(f"| {c['rules']:,} | {fmt(c['repeat']['ns'])} | {fmt(c['single']['ns'])} | "
                       f"{fmt(ratio)} | {fmt(c.get('load_s'))} |")
            self.w()
        rows = [c for c in m["cases"] if c["name"].startswith("efm_flows")]
        if rows:
            n = (m.get("options") or {}).get("distinct_flows", 0)
            self.w(f"eFM against flow-table size (the table filled with N flows first, then a walk over up to {n:,}")
            self.w("of them, one run per call, so large tables are measured cache-cold; XDP_PASS walked alike):")
            self.w()
            self.w("| flows | ns (p10–p90) | XDP_PASS ns | fill s |")
            self.w("|---|---|---|---|")
            for c in rows:
                if "error" in c:
                    self.w(f"| {c.get('flows')} | error: {c['error'][:120]} | | |")
                    continue
                s = c["single"]
                self.w(f"| {c['flows']:,} | {fmt(s['ns'])} ({fmt(s['p10'])}–{fmt(s['p90'])}) | "
                       f"{fmt(c['xdp_pass_single']['ns'])} | {fmt(c.get('populate_s'))} |")
            self.w()
        rows = [c for c in m["cases"] if c["name"].startswith("elb_")]
        if rows:
            self.w("eLB alone, first packet of a connection (Maglev lookup + connection insert) against packets of")
            n = (m.get("options") or {}).get("distinct_flows", 0)
            self.w(f"known connections (one lookup), over {n:,} connections:")
            self.w()
            self.w("| case | ns (p10–p90) | XDP_PASS ns |")
            self.w("|---|---|---|")
            for c in rows:
                if "error" in c:
                    self.w(f"| {c['name']} | error: {c['error'][:120]} | |")
                    continue
                s = c["single"]
                self.w(f"| {c['name']} | {fmt(s['ns'])} ({fmt(s['p10'])}–{fmt(s['p90'])}) | "
                       f"{fmt(c['xdp_pass_single']['ns'])} |")
            self.w()
        self.plot_efw(m)

    def micro_row(self, c, b_single, b_repeat):
        if "error" in c:
            self.w(f"| {c['name']} | error: {c['error'][:150]} | | | | |")
            return
        s, r = c.get("single"), c.get("repeat")
        s_ns = s["ns"] if s and "ns" in s else None
        r_ns = r["ns"] if r and "ns" in r else None
        self.w(f"| {c['name']}: {c.get('what', '')} | {fmt(s_ns)} ({fmt(s.get('p10') if s else None)}–"
               f"{fmt(s.get('p90') if s else None)}) | {fmt(s_ns / b_single if s_ns and b_single else None)} | "
               f"{fmt(r_ns)} | {fmt(r_ns / b_repeat if r_ns and b_repeat else None)} | {c.get('action', '')} |")

    # ------------------------------------------------------------------
    def e2e(self):
        self.w("## End to end")
        self.w()
        if self.failed:
            self.w("Variants that failed in this run (their rows are missing):")
            self.w()
            for r in self.failed:
                self.w(f"- `{r['variant']}` rep {r.get('rep')}: {r['error'][:300]}")
            self.w()
        workloads = [w for w in WORKLOAD_ORDER if any(r["workload"] == w for r in self.runs)]
        for w in workloads:
            cpus_list = sorted({r["cpus"] for r in self.runs if r["workload"] == w})
            kind = "tcp" if w.startswith("tcp") else "udp" if w.startswith("udp") else "http"
            self.w(f"### {WORKLOAD_TEXT.get(w, w)}")
            self.w()
            extra = " | p50 ms | p99 ms" if kind == "http" else ""
            self.w(f"| variant | CPUs | {UNIT[kind]} | × kernel-nft{extra} | {EFF_UNIT[kind]} | "
                   "usr / sys / softirq / idle % | other work, CPUs |")
            self.w(f"|---|---|---|---|{'---|---|' if kind == 'http' else ''}---|---|---|")
            for cpus in cpus_list:
                ref = self.median_of("kernel-nft", w, cpus)
                for v in self.variants():
                    g = self.group(v, w, cpus)
                    if not g:
                        continue
                    val = med([primary(r) for r in g])
                    ratio = fmt(val / ref) if ref and val is not None else "–"
                    lat = ""
                    if kind == "http":
                        lat = f" | {spread([r.get('p50_ms') for r in g])} | {spread([r.get('p99_ms') for r in g])}"
                    split = cpu_split(g)
                    cs = " / ".join(fmt(split[k], 2) for k in ("user", "system", "softirq", "idle"))
                    self.w(f"| `{v}` | {cpus} | {spread([primary(r) for r in g])} | {ratio}{lat} | "
                           f"{spread([efficiency(r) for r in g])} | {cs} | "
                           f"{fmt(med([min(r['foreign_cpus'], self.ncpus) for r in g if 'foreign_cpus' in r]), 2)} |")
            self.w()
            self.plot_workload(w, cpus_list, kind)
        self.w("CPU cost columns: CPU-seconds of the N CPUs over the run divided by the work done. UDP runs do no")
        self.w("user-space work (generator and sinks are XDP programs), so their cost counts system + softirq only")
        self.w("and any user time in their split is other work on this shared machine, i.e. noise. \"Other work\"")
        self.w("is the CPU time that processes outside the benchmark used during the run, per second, over the")
        self.w(f"whole machine (0 to {self.ncpus:.0f}): where it is high, the row is slowed by a neighbour, not by")
        self.w("its variant.")
        self.w()

    def scaling(self):
        rows = [r for r in self.d.get("scaling", []) if "rules" in r and "pps" in r]
        if not rows:
            return
        self.w("## Firewall rules at line rate (UDP 64 B, 1 CPU)")
        self.w()
        self.w("The same blocklist added ahead of the chain's rules: eFW rules in sfc, a set in nftables (one")
        self.w("lookup), linear rules in iptables-legacy (what most iptables rule sets are).")
        self.w()
        counts = sorted({r["rules"] for r in rows})
        variants = [v for v in ("sfc-fib", "kernel-nft", "kernel-ipt") if any(r["variant"] == v for r in rows)]
        self.w("| variant | " + " | ".join(f"{n:,} rules (Mpps)" for n in counts) + " |")
        self.w("|---|" + "---|" * len(counts))
        for v in variants:
            cells = [spread([r["pps"] / 1e6 for r in rows if r["variant"] == v and r["rules"] == n]) for n in counts]
            self.w(f"| `{v}` | " + " | ".join(cells) + " |")
        self.w()
        self.plot_scaling(rows, counts, variants)

    def analysis(self):
        self.w("## Reading the numbers")
        self.w()
        # fib against pass, per workload.
        lines = []
        for w in WORKLOAD_ORDER:
            for cpus in (1, 2):
                f, p = self.median_of("sfc-fib", w, cpus), self.median_of("sfc-pass", w, cpus)
                if f and p:
                    win = "fib" if f > p else "pass"
                    lines.append(f"{WORKLOAD_TEXT[w]}, {cpus} CPU: **{win}** ({fmt(f)} vs {fmt(p)} {unit_of(w)})")
        if lines:
            self.w("**`fib` against `pass` egress.** " + "; ".join(lines) + ".")
            self.w()
            self.w("Why: XDP runs before GRO, once per 1.5 KB frame. With `fib`, every frame then goes through the FIB")
            self.w("and a redirect on its own (a redirected frame carries no GSO metadata). With `pass`, the frame goes")
            self.w("on to the SFC host's GRO (on, on its veths), which merges consecutive segments, so routing, the")
            self.w("qdisc and the transmit to the server run once per aggregate of up to 64 KB; that is where bulk TCP")
            self.w("can favour `pass`. Small packets do not aggregate, and there `fib` skips the skb allocation, the IP")
            self.w("stack and the qdisc for every packet.")
            self.w()
        k1, f1 = self.median_of("kernel-nft", "tcp1", 1), self.median_of("sfc-fib", "tcp1", 1)
        if k1 and f1:
            self.w(f"**Bulk TCP against the kernel** ({fmt(f1)} Gbit/s for `sfc-fib` against {fmt(k1)} for")
            self.w("`kernel-nft` on one stream and one CPU). The kernel's SFC runs netfilter, conntrack and NAT after")
            self.w("GRO, i.e. once per aggregate of ~44 frames, while every XDP VNF runs once per frame: per frame,")
            self.w("the kernel path pays GRO and little else, sfc pays the whole chain (see the per-packet cost")
            self.w("above). On veth nothing else is expensive enough to hide that. On a NIC or VF the picture changes")
            self.w("(GRO/LRO and TSO in hardware, and the per-frame cost of the kernel's receive path is higher), but")
            self.w("this benchmark cannot show it; the small-packet rows are the ones where per-frame cost decides.")
            self.w()
        self.packet_budget()
        d = self.median_of("kernel-nft-defoff", "tcp1", 1)
        k = self.median_of("kernel-nft", "tcp1", 1)
        if d and k:
            self.w(f"**Offloads.** The kernel path with default offloads does {fmt(d)} Gbit/s on one TCP stream and")
            self.w(f"one CPU, against {fmt(k)} Gbit/s with the XDP-safe settings: TSO lets the client hand 64 KB")
            self.w("segments to its veth, which stay 64 KB through the kernel's forwarding. No XDP program can see")
            self.w("those (attaching XDP to a veth turns TSO off on its peer), which is the price of the XDP path on")
            self.w("veth; SR-IOV VFs and physical NICs segment in hardware after the chain instead.")
            self.w()
        split = self.micro_case("full_chain_split")
        bare = self.micro_case("xdp_pass")
        entry = self.micro_case("entry_only")
        if split and bare and entry and "per_vnf" in split and "single" in entry:
            parts = ", ".join(f"{n} {fmt(v.get('ns'))} ns" for n, v in split["per_vnf"].items())
            self.w(f"**Where the time goes per packet.** XDP_PASS alone {fmt(bare['single']['ns'])} ns (single-run")
            self.w(f"timing, mostly the test harness); the entry program (parse, context, tail call) and the egress")
            self.w(f"stage bring that to {fmt(entry['single']['ns'])} ns; then the VNFs: {parts}. A VNF's time includes")
            self.w("its map lookups (conntrack, rule tables, flow table, connection table, each a hash or LPM lookup")
            self.w("with the spectre mitigations of this kernel) and its tail call.")
            self.w()

    def packet_budget(self):
        """CPU time per 64 B packet on one CPU, end to end, against the bare
        XDP forwarder: what the chain (or the kernel path) adds per packet."""
        rows = []
        for v in self.variants():
            g = self.group(v, "udp64", 1)
            e = med([efficiency(r) for r in g])
            if e:
                rows.append((v, e * 1e3))  # CPU-s per Mpkt = µs per packet -> ns
        bare = next((ns for v, ns in rows if v == "xdp-bare"), None)
        if not rows:
            return
        self.w("**Per-packet budget (UDP 64 B, 1 CPU).** CPU time per delivered packet over the whole path")
        self.w("(generator transmit, the SFC host, the server's veth receive and XDP sink), and what each variant")
        self.w("adds to the bare XDP forwarder. The difference for `sfc-fib` is the chain's VNFs at line rate,")
        full, entry = self.micro_case("full_chain"), self.micro_case("entry_only")
        if full and entry and "single" in full and "single" in entry:
            self.w(f"to compare with {fmt(full['single']['ns'] - entry['single']['ns'])} ns from `BPF_PROG_TEST_RUN`"
                   " (full chain minus entry only).")
        else:
            self.w("to compare with the microbenchmarks above.")
        self.w()
        self.w("| variant | ns CPU / packet | + over xdp-bare |")
        self.w("|---|---|---|")
        for v, ns in rows:
            self.w(f"| `{v}` | {fmt(ns)} | {fmt(ns - bare) if bare else '–'} |")
        self.w()
        d = dict(rows)
        kern = min((ns for v, ns in rows if v.startswith("kernel")), default=None)
        if bare and kern and "sfc-fib" in d:
            budget = kern / 3 - bare
            chain = d["sfc-fib"] - bare
            self.w(f"For 3× the kernel's packet rate on the same CPU, a packet may cost {fmt(kern / 3)} ns in all,")
            self.w(f"which leaves {fmt(budget)} ns for the chain's VNFs over the bare forwarder; they take {fmt(chain)} ns.")
            if chain > budget:
                self.w("The chain machinery (entry, tail calls, egress: the `xdp-bare` row) fits; the VNFs do not, and")
                self.w("the per-VNF split (*Where the time goes*) says which to make cheaper.")
            else:
                self.w("The chain fits the budget.")
            self.w()

    # ------------------------------------------------------------------
    def plot_workload(self, w, cpus_list, kind):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        variants = [v for v in self.variants() if any(self.group(v, w, c) for c in cpus_list)]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.8 / max(1, len(cpus_list))
        for i, cpus in enumerate(cpus_list):
            vals = [self.median_of(v, w, cpus) or 0 for v in variants]
            lo = [v - min([primary(r) for r in self.group(var, w, cpus)] or [v]) for v, var in zip(vals, variants)]
            hi = [max([primary(r) for r in self.group(var, w, cpus)] or [v]) - v for v, var in zip(vals, variants)]
            xs = [j + i * width for j in range(len(variants))]
            ax.bar(xs, vals, width, yerr=[lo, hi], capsize=3, label=f"{cpus} CPU")
        ax.set_xticks([j + width * (len(cpus_list) - 1) / 2 for j in range(len(variants))])
        ax.set_xticklabels(variants, rotation=20, fontsize=8)
        ax.set_ylabel(UNIT[kind])
        ax.set_title(WORKLOAD_TEXT.get(w, w))
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.save(fig, f"{w}.png", plt)

    def plot_efw(self, m):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        rows = [c for c in m["cases"] if c["name"].startswith("efw_rules") and "repeat" in c]
        if len(rows) < 2:
            return
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot([c["rules"] for c in rows], [c["repeat"]["ns"] for c in rows], marker="o", label="eFW alone")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("rules")
        ax.set_ylabel("ns / packet")
        ax.set_title("eFW per-packet cost against rule count")
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.save(fig, "efw_rules.png", plt)

    def plot_scaling(self, rows, counts, variants):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        fig, ax = plt.subplots(figsize=(6, 3))
        for v in variants:
            ax.plot(counts, [med([r["pps"] / 1e6 for r in rows if r["variant"] == v and r["rules"] == n]) or 0
                             for n in counts], marker="o", label=v)
        ax.set_xscale("log")
        ax.set_xlabel("firewall rules")
        ax.set_ylabel("Mpps (64 B, 1 CPU)")
        ax.set_title("Forwarding rate against rule count")
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.save(fig, "rules_pps.png", plt)

    def save(self, fig, name, plt):
        os.makedirs(self.fig_dir, exist_ok=True)
        path = os.path.join(self.fig_dir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.figs.append(os.path.relpath(path, self.doc_dir))
        self.w(f"![{name}]({os.path.relpath(path, self.doc_dir)})")
        self.w()

    def caveats(self):
        self.w("## Caveats")
        self.w()
        fl = [r.get("foreign_cpus") for r in self.runs if r.get("foreign_cpus") is not None]
        busy = f" During this run other work used {fmt(med(fl), 2)} CPUs (median over runs)." if fl else ""
        self.w("- Two vCPUs shared with other work: the bench raises its scheduling autogroup to nice -20 and")
        self.w("  waits (briefly) for quiet before each variant, but other jobs still take time on the measured CPUs;")
        self.w(f"  hence repetitions, medians and spreads, and the \"other work\" column.{busy}")
        self.w("- veth is not a NIC: no DMA, no interrupts, every hop costs the sender's CPU. Absolute numbers are")
        self.w("  this machine's; the ratios between variants are the result.")
        self.w("- The generator shares the CPUs it loads (it is the client). It costs tens of ns per frame, small")
        self.w("  next to the forwarding it measures, and it is the same for every variant.")
        self.w("- iperf3 3.12 is single-threaded: 4 streams add parallel flows, not sending threads.")
        self.w(f"- Raw results: `docs/perf/latest.json` (every run, with CPU jiffies per class).")
        self.w()

    def render(self):
        self.header()
        self.targets()
        self.testbed()
        self.micro()
        self.e2e()
        self.scaling()
        self.analysis()
        self.caveats()
        return "\n".join(self.lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--doc", required=True)
    ap.add_argument("--figures", required=True)
    a = ap.parse_args()
    with open(a.results) as f:
        doc = json.load(f)
    text = Report(doc, a.figures, a.doc).render()
    os.makedirs(os.path.dirname(os.path.abspath(a.doc)), exist_ok=True)
    with open(a.doc, "w") as f:
        f.write(text)
    print(f"report: {a.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
