#!/usr/bin/python3
"""sfc against the kernel's own service function chain, side by side, in one run.

Driven by bench/run.sh (which owns cleanup on any exit); see docs/PERFORMANCE.md
for what every variant and workload means. Writes one JSON document per run.

Variants (each gets a freshly built topology, alternating within every repetition):
  xdp-redirect the bare XDP forwarder: a standalone program on the SFC host's
               eth0 that rewrites the MACs and redirects everything through a
               fixed devmap port to server 1 (no sfc): the XDP ceiling
  xdp-bare     sfc chain with no VNF, fib egress: the chain's own overhead
  sfc-fib      eFW -> eFM -> eLB, fib egress (never enters the kernel stack)
  sfc-pass     the same chain, pass egress (the kernel forwards after the chain)
  kernel-fwd   plain kernel forwarding: no rules, no conntrack, to server 1
  kernel-xdp-pass  kernel-fwd with an XDP_PASS program on the SFC host's veths:
               what putting the veths in XDP mode costs the kernel path
  kernel-nft   the chain's rules in nftables (blocklist as an interval set in
               the raw prerouting hook), conntrack accounting as flow monitor,
               DNAT over numgen/jhash maps as LB
  kernel-nft-ft  kernel-nft plus a flowtable (`flow add @ft`, software fast
               path) for the flows the rules accept; needs CONFIG_NF_FLOW_TABLE
  kernel-ipt   the same rules in iptables-legacy (linear, blocklist in the raw
               table), conntrack accounting, DNAT with the statistic match
  kernel-ipset kernel-ipt with the blocklist in an ipset (hash:net): rule
               scaling only (without a blocklist it is kernel-ipt)
  kernel-nft-defoff  kernel-nft with the endpoints' default offloads (TSO/GSO,
               checksum offload, noqueue) instead of the XDP-safe settings

Rule scaling (sfc-fib and the kernel firewalls): a source blocklist of 10 to
1M prefixes (/16../32, inside the /8 of the traffic: `sfc-bench blocklist`)
ahead of the chain's rules; half the generated packets come from random
blocklisted sources (dropped), half are the client's flows to the VIP.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "sfb"          # namespaces <PREFIX>c, <PREFIX>v, <PREFIX>s1.. (--prefix)
WORK = "/tmp/sfb"       # scratch files: /tmp/<PREFIX>

ALL_VARIANTS = ["xdp-redirect", "xdp-bare", "sfc-fib", "sfc-pass", "kernel-fwd", "kernel-xdp-pass", "kernel-nft",
                "kernel-nft-ft", "kernel-ipt", "kernel-nft-defoff"]
SMOKE_VARIANTS = ["xdp-redirect", "xdp-bare", "sfc-fib", "sfc-pass", "kernel-fwd", "kernel-xdp-pass", "kernel-nft",
                  "kernel-nft-ft"]
SCALING_VARIANTS = ["sfc-fib", "kernel-nft", "kernel-nft-ft", "kernel-ipt", "kernel-ipset"]
SMOKE_SCALING_VARIANTS = ["sfc-fib", "kernel-nft", "kernel-ipt", "kernel-ipset"]
SFC_VARIANTS = {"xdp-bare", "sfc-fib", "sfc-pass"}
# Variants with no load balancer: their traffic goes to server 1 directly.
NO_LB_VARIANTS = {"xdp-redirect", "xdp-bare", "kernel-fwd", "kernel-xdp-pass"}
# Generator templates from blocklisted sources in the rule-scaling runs
# (BENCH_GEN_MAX_FRAMES / 2).
MIX_SOURCES = 4096
IPSET_NAME = "sfb-block"


class Unsupported(Exception):
    """The variant needs something this kernel or machine does not have."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout=60, check=False, input=None):
    """Runs a command (list or shell string); returns (rc, stdout+stderr)."""
    shell = isinstance(cmd, str)
    try:
        p = subprocess.run(cmd, shell=shell, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        out = p.stdout
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc = 124
    if check and rc != 0:
        raise RuntimeError(f"{cmd if shell else ' '.join(cmd)} failed ({rc}): {out.strip()[-800:]}")
    return rc, out


def first_error(text):
    """The first error line of a tool's output, without file positions."""
    for line in text.splitlines():
        if "rror" in line:
            return line.split("Error:", 1)[-1].strip()[:200]
    return text.strip()[:200]


def cpu_times(cpus):
    """Jiffies per class summed over `cpus` (/proc/stat)."""
    t = {k: 0 for k in ("user", "system", "irq", "softirq", "idle", "steal")}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if not m or int(m.group(1)) not in cpus:
                continue
            v = [int(x) for x in m.group(2).split()]
            t["user"] += v[0] + v[1]
            t["system"] += v[2]
            t["idle"] += v[3] + v[4]
            t["irq"] += v[5]
            t["softirq"] += v[6]
            t["steal"] += v[7]
    return t


def cpu_delta(a, b):
    d = {k: b[k] - a[k] for k in a}
    d["busy"] = d["user"] + d["system"] + d["irq"] + d["softirq"] + d["steal"]
    d["total"] = d["busy"] + d["idle"]
    d["hz"] = os.sysconf("SC_CLK_TCK")
    return d


def raise_priority(pid="self"):
    """nice -20 for a whole session: with autogroup scheduling (on here),
    plain nice only ranks tasks inside one session, and every shell, build
    or test run on this machine is a session of its own."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write("-20")
    except OSError:
        pass


def foreign_cpu_ticks(own_netns):
    """Clock ticks used so far by user-space processes that are not this
    benchmark's: outside its namespaces and not its descendants. Kernel
    threads are left out (ksoftirqd may be doing the benchmark's work)."""
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            netns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ppid, flags = int(fields[1]), int(fields[6])
        if flags & 0x00200000:  # PF_KTHREAD
            continue
        # utime + stime + the time of reaped children (compilers under make).
        procs[int(pid)] = (ppid, sum(int(x) for x in fields[11:15]), netns)
    mine = {os.getpid()}
    changed = True
    while changed:  # descendants of this process
        changed = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return {pid: t for pid, (_, t, ns) in procs.items() if pid not in mine and ns not in own_netns}


def foreign_delta(before, after):
    """Ticks between two foreign_cpu_ticks() samples: processes that exited
    in between are lost (an undercount), new ones count from zero."""
    return sum(t - before.get(pid, 0) for pid, t in after.items() if t >= before.get(pid, 0))


class Bench:
    def __init__(self, args):
        self.a = args
        self.build = os.path.abspath(args.build)
        self.sfcd_bin = os.path.join(self.build, "daemon/sfcd")
        self.sfcctl_bin = os.path.join(self.build, "cli/sfcctl")
        self.tool = os.path.join(self.build, "bench/sfc-bench")
        self.net = args.net
        self.n = str(args.net)
        self.root = f"/sys/fs/bpf/{PREFIX}-{os.getpid()}"
        self.sock = f"{WORK}/sfcd.sock"
        self.procs = []
        self.sfcd = None
        self.topo_up = False
        os.makedirs(WORK, exist_ok=True)
        self.chain = None          # parsed chain file (10.NET. replaced)
        self.chain_file = None
        self.fallback = False      # sfc.json could not be applied: noop stand-in
        self.vip = None
        self.variant = None
        self.blocklists = {}
        self.features = {}         # kernel features probed once: {"flowtable": (ok, why), ...}

    # ---------- addresses ----------
    def ns(self, role):
        return {"client": f"{PREFIX}c", "vm": f"{PREFIX}v", "s1": f"{PREFIX}s1", "s2": f"{PREFIX}s2"}[role]

    def ip(self, role):
        return {"client": f"10.{self.n}.1.2", "s1": f"10.{self.n}.11.2", "s2": f"10.{self.n}.12.2"}[role]

    def in_ns(self, role, cmd, timeout=60, check=False):
        return run(["ip", "netns", "exec", self.ns(role)] + (["sh", "-c", cmd] if isinstance(cmd, str) else cmd),
                   timeout=timeout, check=check)

    def spawn(self, role, cmd, logname):
        f = open(f"{WORK}/{logname}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + cmd, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
        raise_priority(p.pid)
        self.procs.append(p)
        return p

    def target(self, service_port):
        """Where the client sends: the VIP when the variant load-balances, else server 1."""
        return self.vip if self.vip and self.variant not in NO_LB_VARIANTS else self.ip("s1")

    # ---------- chain file ----------
    def load_chain(self, name):
        path = os.path.join(REPO, "bench/chains", name)
        with open(path) as f:
            text = f.read().replace("10.NET.", f"10.{self.n}.")
        return path, json.loads(text)

    def lb_services(self):
        if self.fallback:
            return []
        for v in self.chain["vnfs"]:
            if v["type"] == "loadbalancer":
                return v["config"].get("services", [])
        return []

    def fw_config(self):
        for v in self.chain["vnfs"]:
            if v["type"] == "firewall":
                return v["config"]
        return {"default": "allow", "rules": []}

    def blocklist(self, n):
        """The n-prefix blocklist and sources inside it (sfc-bench blocklist:
        the same list the micro bench uses), cached per size."""
        if n not in self.blocklists:
            path = f"{WORK}/blocklist-{n}.json"
            run([self.tool, "blocklist", "--count", str(n), "--net", self.n, "--hits", str(MIX_SOURCES),
                 "-o", path], timeout=120, check=True)
            with open(path) as f:
                self.blocklists[n] = json.load(f)
        return self.blocklists[n]

    def fw_rules(self, n_block):
        """The chain file's rules, behind an n_block-prefix source blocklist."""
        base = self.fw_config().get("rules", [])
        if not n_block:
            return base
        block = [{"id": f"block-{j}", "src": p, "action": "drop"}
                 for j, p in enumerate(self.blocklist(n_block)["prefixes"])]
        return block + base

    # ---------- topology ----------
    def topology(self, profile):
        log(f"topology up ({profile} offloads)")
        run([os.path.join(REPO, "scripts/topo.sh"), "up", PREFIX, self.n, "2"], timeout=60, check=True)
        self.topo_up = True
        for role in ("client", "vm", "s1", "s2"):
            _, devs = self.in_ns(role, "ls /sys/class/net | grep '^eth'")
            for dev in devs.split():
                # One queue per veth (topo.sh's default). Two would give each
                # sending CPU its own NAPI instance on the receiving side, but
                # on this kernel a multi-queue veth whose sender has a qdisc
                # stalls for good under TCP load (the stopped txq is never
                # woken: packets stay in the qdisc backlog), so it is not used.
                if profile == "default" and role != "vm":
                    self.in_ns(role, ["ethtool", "-K", dev, "tx", "on", "sg", "on", "tso", "on", "gso", "on"])
                    self.in_ns(role, ["tc", "qdisc", "del", "dev", dev, "root"])
        # Static neighbours: no ARP in the measured windows (and the sinks never see it).
        macs = {}
        for role, dev in (("client", "eth0"), ("s1", "eth0"), ("s2", "eth0")):
            macs[role] = self.in_ns(role, f"cat /sys/class/net/{dev}/address")[1].strip()
        for dev in ("eth0", "eth1", "eth2"):
            macs["vm-" + dev] = self.in_ns("vm", f"cat /sys/class/net/{dev}/address")[1].strip()
        self.macs = macs
        self.in_ns("vm", f"ip neigh replace {self.ip('client')} lladdr {macs['client']} dev eth0 nud permanent")
        self.in_ns("vm", f"ip neigh replace {self.ip('s1')} lladdr {macs['s1']} dev eth1 nud permanent")
        self.in_ns("vm", f"ip neigh replace {self.ip('s2')} lladdr {macs['s2']} dev eth2 nud permanent")
        self.in_ns("client", f"ip neigh replace 10.{self.n}.1.1 lladdr {macs['vm-eth0']} dev eth0 nud permanent")
        self.in_ns("s1", f"ip neigh replace 10.{self.n}.11.1 lladdr {macs['vm-eth1']} dev eth0 nud permanent")
        self.in_ns("s2", f"ip neigh replace 10.{self.n}.12.1 lladdr {macs['vm-eth2']} dev eth0 nud permanent")
        self.start_servers()

    def start_servers(self):
        www = f"{WORK}/www"
        os.makedirs(www, exist_ok=True)
        with open(f"{www}/index.html", "w") as f:
            f.write("sfc bench\n" + "x" * 1014 + "\n")  # 1 KiB body
        for s in ("s1", "s2"):
            conf = f"{WORK}/nginx-{s}.conf"
            with open(conf, "w") as f:
                f.write(f"""worker_processes 2;
daemon off;
pid {WORK}/nginx-{s}.pid;
error_log {WORK}/nginx-{s}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{ listen 80 reuseport; location / {{ root {www}; }} }}
}}
""")
            if shutil.which("nginx"):
                self.spawn(s, ["nginx", "-c", conf], f"nginx-{s}")
            else:
                self.spawn(s, ["/usr/bin/python3", "-m", "http.server", "80", "--directory", www], f"http-{s}")
        self.spawn("s1", ["iperf3", "-s", "-p", "5201"], "iperf3-s1")
        time.sleep(0.5)

    def teardown(self):
        self.stop_sfcd()
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        self.procs = []
        if self.topo_up:
            run([os.path.join(REPO, "scripts/topo.sh"), "down", PREFIX], timeout=60)
            self.topo_up = False

    def pin_servers(self, cpus):
        cl = ",".join(map(str, cpus))
        for s in ("s1", "s2"):
            _, pids = run(["ip", "netns", "pids", self.ns(s)])
            for pid in pids.split():
                run(["taskset", "-a", "-p", "-c", cl, pid])

    # ---------- sfc ----------
    def start_sfcd(self):
        os.makedirs(f"{WORK}/state", exist_ok=True)
        log_f = open(f"{WORK}/sfcd.log", "a")
        self.sfcd = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.ns('vm')}", self.sfcd_bin,
                                      "--bpffs-root", self.root, "--state-dir", f"{WORK}/state",
                                      "--listen", f"unix:{self.sock}", "--detach-on-exit", "--log-level", "warn"],
                                     stdout=log_f, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.1)
        raise RuntimeError("sfcd did not create its socket; see " + WORK + "/sfcd.log")

    def stop_sfcd(self):
        if self.sfcd is None:
            return
        self.ctl(["delete", "chain", "bench"])
        self.sfcd.terminate()
        try:
            self.sfcd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.sfcd.kill()
            self.sfcd.wait()
        self.sfcd = None
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(f"{WORK}/state", ignore_errors=True)
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass

    def ctl(self, args, timeout=120):
        return run([self.sfcctl_bin, "--server", f"unix:{self.sock}"] + args, timeout=timeout)

    def apply_chain(self, spec, dry_run=False):
        path = f"{WORK}/chain.json"
        with open(path, "w") as f:
            json.dump(spec, f)
        return self.ctl(["apply", "-f", path] + (["--dry-run"] if dry_run else []))

    def sfc_spec(self, variant, n_block=0):
        if variant == "xdp-bare":
            _, spec = self.load_chain("bare.json")
            return spec
        spec = json.loads(json.dumps(self.chain))
        spec["egress"] = {"action": "pass" if variant == "sfc-pass" else "fib"}
        if n_block and not self.fallback:
            for v in spec["vnfs"]:
                if v["type"] == "firewall":
                    v["config"]["rules"] = self.fw_rules(n_block)
                    v["config"]["max_rules"] = len(v["config"]["rules"]) + 1024
        return spec

    def choose_chain(self):
        """sfc.json when this sfcd knows its VNF types, else the noop stand-in."""
        self.chain_file, self.chain = self.load_chain("sfc.json")
        rc, out = self.apply_chain(self.chain, dry_run=True)
        if rc != 0:
            log(f"sfc.json does not apply here ({out.strip()[-300:]}); using sfc-noop.json")
            self.fallback_reason = out.strip()[-500:]
            self.chain_file, self.chain = self.load_chain("sfc-noop.json")
            self.fallback = True
        for svc in self.lb_services():
            self.vip = svc["vip"]
        log(f"chain file: {os.path.relpath(self.chain_file, REPO)}; target {self.vip or self.ip('s1')}")

    # ---------- kernel SFC ----------
    # The blocklist goes to the raw prerouting hook, ahead of conntrack: a
    # stateless source drop means the same there, and it is where a user who
    # cares about the cost would put it (a packet dropped in the filter hook
    # has paid for a conntrack entry first). sfc's firewall likewise creates
    # no connection for a dropped packet.
    def nft_ruleset(self, variant, n_block):
        vips = {s["vip"] for s in self.lb_services()}
        offload = variant == "kernel-nft-ft"
        lines = ["flush ruleset", "table ip sfb {"]
        cfg = self.fw_config()
        if n_block:
            lines.append("  set blocklist { type ipv4_addr; flags interval; elements = { " +
                         ", ".join(self.blocklist(n_block)["prefixes"]) + " } }")
            lines.append("  chain raw_pre {")
            lines.append("    type filter hook prerouting priority raw; policy accept;")
            lines.append("    ip saddr @blocklist drop")
            lines.append("  }")
        if offload:
            # Software fast path: flows the filter chain accepted skip the
            # stack from their next packet on (counter: conntrack accounting
            # keeps counting them).
            lines.append("  flowtable ft { hook ingress priority 0; devices = { eth0, eth1, eth2 }; counter; }")
        lines.append("  chain nat_pre {")
        lines.append("    type nat hook prerouting priority dstnat; policy accept;")
        for svc in self.lb_services():
            proto = svc.get("proto", "tcp")
            addrs = [b["address"] for b in svc["backends"]]
            if any(b.get("port", svc["port"]) != svc["port"] for b in svc["backends"]):
                raise RuntimeError(f"service {svc['name']}: backends on other ports are not translated")
            match = f"ip daddr {svc['vip']} {proto} dport {svc['port']}"
            if len(addrs) == 1:
                lines.append(f"    {match} dnat to {addrs[0]}")
            else:
                sel = (f"numgen inc mod {len(addrs)}" if proto == "tcp"
                       else f"jhash ip saddr . {proto} sport mod {len(addrs)}")
                m = ", ".join(f"{i} : {a}" for i, a in enumerate(addrs))
                lines.append(f"    {match} dnat to {sel} map {{ {m} }}")
        lines.append("  }")
        if offload:
            # Only what the rules accept is offloaded: every accept goes here.
            lines.append("  chain allow {")
            lines.append("    ip protocol { tcp, udp } flow add @ft")
            lines.append("    accept")
            lines.append("  }")
        lines.append("  chain filter_fwd {")
        policy = "drop" if cfg.get("default", "drop") == "drop" else "accept"
        lines.append(f"    type filter hook forward priority filter; policy {policy};")
        for r in self.fw_config().get("rules", []):
            lines.append("    " + self.nft_rule(r, vips, "goto allow" if offload else "accept"))
        lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def nft_rule(r, vips, accept="accept"):
        parts = []
        proto = r.get("proto", "any")
        if "state" in r:
            st = r["state"] if isinstance(r["state"], list) else [r["state"]]
            parts.append("ct state " + ",".join(st))
        if "src" in r:
            parts.append(f"ip saddr {r['src']}")
        if "dst" in r:
            # The filter hook runs after DNAT: a rule about the VIP is about
            # the connection's original destination.
            host = r["dst"].split("/")[0]
            parts.append(f"ct original ip daddr {r['dst']}" if host in vips else f"ip daddr {r['dst']}")
        if proto in ("tcp", "udp"):
            if "sport" in r:
                parts.append(f"{proto} sport {r['sport']}")
            if "dport" in r:
                parts.append(f"{proto} dport {r['dport']}")
            if "sport" not in r and "dport" not in r:
                parts.append(f"ip protocol {proto}")
        elif proto == "icmp":
            parts.append("ip protocol icmp")
        act = r.get("action", "drop")
        parts.append({"allow": accept, "drop": "drop"}.get(act) or
                     ("reject with tcp reset" if proto == "tcp" else "reject"))
        return " ".join(parts)

    def ipt_ruleset(self, variant, n_block):
        vips = {s["vip"] for s in self.lb_services()}
        out = []
        if n_block:
            out += ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
            if variant == "kernel-ipset":
                out.append(f"-A PREROUTING -m set --match-set {IPSET_NAME} src -j DROP")
            else:
                out += [f"-A PREROUTING -s {p} -j DROP" for p in self.blocklist(n_block)["prefixes"]]
            out.append("COMMIT")
        out += ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                ":POSTROUTING ACCEPT [0:0]"]
        for svc in self.lb_services():
            proto = svc.get("proto", "tcp")
            addrs = [b["address"] for b in svc["backends"]]
            for i, a in enumerate(addrs):
                stat = (f" -m statistic --mode nth --every {len(addrs) - i} --packet 0" if i < len(addrs) - 1 else "")
                out.append(f"-A PREROUTING -d {svc['vip']}/32 -p {proto} --dport {svc['port']}{stat} "
                           f"-j DNAT --to-destination {a}")
        out.append("COMMIT")
        cfg = self.fw_config()
        policy = "DROP" if cfg.get("default", "drop") == "drop" else "ACCEPT"
        out += ["*filter", ":INPUT ACCEPT [0:0]", f":FORWARD {policy} [0:0]", ":OUTPUT ACCEPT [0:0]"]
        for r in self.fw_config().get("rules", []):
            out.append("-A FORWARD " + self.ipt_rule(r, vips))
        out.append("COMMIT")
        return "\n".join(out) + "\n"

    @staticmethod
    def ipt_rule(r, vips):
        parts = []
        proto = r.get("proto", "any")
        if proto != "any":
            parts.append(f"-p {proto}")
        if "state" in r:
            st = r["state"] if isinstance(r["state"], list) else [r["state"]]
            parts.append("-m conntrack --ctstate " + ",".join(s.upper() for s in st))
        if "src" in r:
            parts.append(f"-s {r['src']}")
        if "dst" in r:
            host = r["dst"].split("/")[0]
            parts.append(f"-m conntrack --ctorigdst {r['dst']}" if host in vips else f"-d {r['dst']}")
        if "sport" in r:
            parts.append(f"--sport {r['sport']}")
        if "dport" in r:
            parts.append(f"--dport {r['dport']}")
        act = r.get("action", "drop")
        parts.append({"allow": "-j ACCEPT", "drop": "-j DROP"}.get(act) or
                     ("-j REJECT --reject-with tcp-reset" if proto == "tcp" else "-j REJECT"))
        return " ".join(parts)

    def ipset_fill(self, n_block):
        """Fills the blocklist ipset with n_block prefixes: a new set filled
        aside, then swapped in, so iptables never sees it half built."""
        n = max(n_block, 1)
        size = f"family inet hashsize {1 << max(10, (n - 1).bit_length())} maxelem {max(65536, 2 * n)}"
        lines = [f"create {IPSET_NAME}-next hash:net {size}"]
        lines += [f"add {IPSET_NAME}-next {p}" for p in (self.blocklist(n_block)["prefixes"] if n_block else [])]
        lines += [f"swap {IPSET_NAME}-next {IPSET_NAME}", f"destroy {IPSET_NAME}-next"]
        path = f"{WORK}/blocklist.ipset"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.in_ns("vm", f"ipset list -n {IPSET_NAME} >/dev/null 2>&1 || ipset create {IPSET_NAME} hash:net family inet; "
                         f"ipset restore < {path}", timeout=300, check=True)

    def kernel_rules(self, variant, n_block=0):
        if variant == "kernel-fwd":
            return  # no rules, no conntrack
        self.in_ns("vm", "sysctl -qw net.netfilter.nf_conntrack_acct=1", check=True)
        if variant.startswith("kernel-nft"):
            path = f"{WORK}/ruleset.nft"
            with open(path, "w") as f:
                f.write(self.nft_ruleset(variant, n_block))
            self.in_ns("vm", ["nft", "-f", path], timeout=300, check=True)
        else:
            if variant == "kernel-ipset":
                self.ipset_fill(n_block)
            path = f"{WORK}/ruleset.ipt"
            with open(path, "w") as f:
                f.write(self.ipt_ruleset(variant, n_block))
            self.in_ns("vm", f"iptables-legacy-restore < {path}", timeout=300, check=True)

    def probe_features(self):
        """What the kernel variants need that this kernel may lack, asked once
        in the SFC host's namespace: {feature: [ok, why]}."""
        path = f"{WORK}/probe.nft"
        with open(path, "w") as f:
            f.write("table ip sfbprobe {\n  flowtable ft { hook ingress priority 0; devices = { eth0 }; }\n}\n")
        rc, out = self.in_ns("vm", ["nft", "-f", path])
        self.in_ns("vm", ["nft", "delete", "table", "ip", "sfbprobe"])
        self.features["flowtable"] = [rc == 0, "" if rc == 0 else
                                      "nftables flowtables are not available on this kernel (CONFIG_NF_FLOW_TABLE; "
                                      f"nft: {first_error(out)})"]
        rc, out = self.in_ns("vm", f"ipset create {IPSET_NAME}-probe hash:net && ipset destroy {IPSET_NAME}-probe")
        self.features["ipset"] = [rc == 0, "" if rc == 0 else f"ipset hash:net is not available ({first_error(out)})"]

    def require(self, variant):
        need = {"kernel-nft-ft": "flowtable", "kernel-ipset": "ipset"}.get(variant)
        if need and not self.features.get(need, [True])[0]:
            raise Unsupported(self.features[need][1])

    # ---------- variants ----------
    def attach_xdp(self, args):
        """Runs `sfc-bench attach` in the SFC host's namespace (it holds the
        XDP links until teardown kills it) and waits until it has attached."""
        name = "attach-" + "-".join(a for a in args if a.startswith("eth"))
        p = self.spawn("vm", [self.tool, "attach"] + args, name)
        logf = f"{WORK}/{name}.log"
        for _ in range(100):
            with open(logf) as f:
                text = f.read()
            if '"attached"' in text:
                return
            if p.poll() is not None:
                raise RuntimeError(f"sfc-bench attach failed: {text.strip()[-300:]}")
            time.sleep(0.05)
        raise RuntimeError("sfc-bench attach did not report within 5 s")

    def setup_variant(self, variant, n_block=0):
        self.require(variant)
        profile = "default" if variant.endswith("-defoff") else "xdp"
        self.variant = variant
        self.topology(profile)
        if variant in SFC_VARIANTS:
            self.start_sfcd()
            rc, out = self.apply_chain(self.sfc_spec(variant, n_block))
            if rc != 0:
                raise RuntimeError("sfcctl apply failed: " + out.strip()[-500:])
        elif variant == "xdp-redirect":
            self.attach_xdp(["--prog", "redirect", "--dev", "eth0", "--out", "eth1",
                             "--dst-mac", self.macs["s1"], "--src-mac", self.macs["vm-eth1"]])
        elif variant == "kernel-xdp-pass":
            self.attach_xdp(["--prog", "pass", "--dev", "eth0", "--dev", "eth1", "--dev", "eth2"])
        else:
            self.kernel_rules(variant, n_block)
        # The path works before anything is measured.
        for _ in range(20):
            rc, _ = self.in_ns("client", f"curl -s -o /dev/null -m 2 http://{self.target(80)}/", timeout=10)
            if rc == 0:
                return profile
            time.sleep(0.25)
        raise RuntimeError(f"HTTP through {variant} does not work")

    def reconfigure_rules(self, variant, n_block):
        if variant.startswith("kernel"):
            self.kernel_rules(variant, n_block)
        else:
            rc, out = self.apply_chain(self.sfc_spec(variant, n_block))
            if rc != 0:
                raise RuntimeError("sfcctl apply failed: " + out.strip()[-500:])

    # ---------- workloads ----------
    def own_netns(self):
        out = set()
        for role in ("client", "vm", "s1", "s2"):
            try:
                out.add("net:[%d]" % os.stat(f"/run/netns/{self.ns(role)}").st_ino)
            except OSError:
                pass
        return out

    def foreign_load(self, fn):
        """Runs fn and adds how busy the rest of the machine was meanwhile:
        other work's CPU-seconds per second of run (0..number of CPUs)."""
        own = self.own_netns()
        t0, f0 = time.monotonic(), foreign_cpu_ticks(own)
        res = fn()
        dt = time.monotonic() - t0
        # Capped: a child reaped in the window brings its whole life along.
        busy = foreign_delta(f0, foreign_cpu_ticks(own)) / os.sysconf("SC_CLK_TCK") / dt if dt > 0 else 0
        res["foreign_cpus"] = min(busy, float(os.cpu_count()))
        return res

    def wait_for_quiet(self, limit_s):
        """Waits (at most limit_s) for a second in which other work uses less
        than a fifth of a CPU: builds on a shared machine come in bursts."""
        own = self.own_netns()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            f0 = foreign_cpu_ticks(own)
            time.sleep(1)
            if foreign_delta(f0, foreign_cpu_ticks(own)) / os.sysconf("SC_CLK_TCK") < 0.2:
                return True
        return False

    def measure(self, cpus, fn):
        t0, c0 = time.monotonic(), cpu_times(cpus)
        res = fn()
        if res.get("timed_out"):
            # Seen rarely on the shared machine: keep what the path looked
            # like, then try once more (the result says it was retried).
            diag = {"client_ss": self.in_ns("client", "ss -tin | head -40")[1][-2000:],
                    "vm_nstat": self.in_ns("vm", "nstat -az | grep -vE ' 0 +0.0$' | head -60")[1][-3000:],
                    "vm_conntrack": self.in_ns("vm", "conntrack -C")[1].strip()}
            t0, c0 = time.monotonic(), cpu_times(cpus)
            res = fn()
            res["retried"] = diag
        res["cpu"] = cpu_delta(c0, cpu_times(cpus))
        res.setdefault("seconds", time.monotonic() - t0)
        return res

    def tcp(self, streams, cpus, secs):
        self.pin_servers(cpus)
        cl = ",".join(map(str, cpus))

        def go():
            rc, out = self.in_ns("client", ["taskset", "-c", cl, "iperf3", "-c", self.target(5201), "-p", "5201",
                                            "-t", str(secs), "-P", str(streams), "-J"], timeout=secs + 20)
            try:
                j = json.loads(out[out.index("{"):])
            except (ValueError, json.JSONDecodeError):
                return {"error": f"iperf3 rc={rc}: {out.strip()[-300:]}", "timed_out": rc == 124}
            if "error" in j:
                return {"error": "iperf3: " + j["error"]}
            end = j["end"]
            return {"bits_per_s": end["sum_received"]["bits_per_second"],
                    "retransmits": end["sum_sent"].get("retransmits", 0),
                    "seconds": end["sum_received"]["seconds"]}
        return self.measure(cpus, go)

    def udp(self, size, cpus, secs, n_block=0):
        """UDP flood from the client; with n_block, every other packet comes
        from a random source of the n_block-prefix blocklist."""
        dst = self.target(9)
        res = None
        mix = []
        if n_block:
            path = f"{WORK}/mix-{n_block}.txt"
            with open(path, "w") as f:
                f.write("\n".join(self.blocklist(n_block)["hits"][:MIX_SOURCES]) + "\n")
            mix = ["--mix-src-file", path]
        rc, out = run([self.tool, "flood", "--client-ns", self.ns("client"),
                       "--sink", f"{self.ns('s1')}:eth0", "--sink", f"{self.ns('s2')}:eth0",
                       "--src-mac", self.macs["client"], "--dst-mac", self.macs["vm-eth0"],
                       "--src-ip", self.ip("client"), "--dst-ip", dst, "--port", "9", "--size", str(size),
                       "--flows", "256", "--cpus", ",".join(map(str, cpus)), "--seconds", str(secs),
                       "--warmup", "0.5"] + mix, timeout=secs + 30)
        try:
            res = json.loads(out[out.index("{"):])
        except (ValueError, json.JSONDecodeError):
            return {"error": f"sfc-bench flood rc={rc}: {out.strip()[-300:]}"}
        return res

    def http(self, cpus, secs):
        self.pin_servers(cpus)
        cl = ",".join(map(str, cpus))

        def go():
            rc, out = self.in_ns("client", ["taskset", "-c", cl, "wrk", "-t", str(len(cpus)), "-c", "32",
                                            "-d", f"{max(1, round(secs))}s", "--latency", f"http://{self.target(80)}/"],
                                 timeout=secs + 20)
            m = re.search(r"Requests/sec:\s+([\d.]+)", out)
            if rc != 0 or not m:
                return {"error": f"wrk rc={rc}: {out.strip()[-300:]}", "timed_out": rc == 124}
            res = {"requests_per_s": float(m.group(1))}
            unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
            for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
                lm = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
                if lm:
                    res[key] = float(lm.group(1)) * unit[lm.group(2)]
            em = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
            res["non_2xx"] = int(em.group(1)) if em else 0
            sm = re.search(r"Socket errors:(.*)", out)
            res["socket_errors"] = sm.group(1).strip() if sm else ""
            return res
        return self.measure(cpus, go)

    def workloads(self, variant):
        if self.a.smoke:
            # Every variant briefly, on what it exists for; the original
            # three on all three kinds of traffic.
            w = {"xdp-redirect": ["udp64"], "sfc-pass": ["tcp1"], "kernel-fwd": ["udp64"],
                 "kernel-xdp-pass": ["tcp1"], "kernel-nft-ft": ["udp64"]}.get(variant, ["tcp1", "udp64", "http"])
            return [(name, [0]) for name in w]
        w = []
        for cpus in ([0], [0, 1]):
            w += [("tcp1", cpus), ("tcp4", cpus), ("udp64", cpus), ("http", cpus)]
        w += [("udp512", [0]), ("udp1500", [0])]
        if variant == "xdp-redirect":
            # One-way forwarder (everything from eth0 to server 1): a packet
            # rate ceiling, not a path for TCP or HTTP.
            w = [x for x in w if x[0].startswith("udp")]
        return w

    def run_workload(self, name, cpus):
        secs = self.a.seconds
        if name.startswith("tcp"):
            return self.foreign_load(lambda: self.tcp(int(name[3:]), cpus, secs))
        if name.startswith("udp"):
            return self.foreign_load(lambda: self.udp(int(name[3:]), cpus, max(1.0, secs - 1)))
        return self.foreign_load(lambda: self.http(cpus, secs))


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    return {"cpu_model": model, "cpus": os.cpu_count(), "memory_mib": mem, "kernel": platform.release(),
            "kernel_version": platform.version(), "hostname": platform.node()}


def versions():
    out = {}
    for name, cmd in (("iperf3", ["iperf3", "--version"]), ("wrk", ["wrk", "--version"]),
                      ("nginx", ["nginx", "-v"]), ("nft", ["nft", "--version"]),
                      ("iptables-legacy", ["iptables-legacy", "--version"])):
        rc, o = run(cmd, timeout=10)
        out[name] = o.strip().splitlines()[0] if o.strip() else f"rc={rc}"
    for name, cmd in (("ipset", ["ipset", "--version"]),):
        rc, o = run(cmd, timeout=10)
        out[name] = o.strip().splitlines()[0] if o.strip() else f"rc={rc}"
    out.update(provenance())
    return out


def provenance():
    """The commit measured, and whether the tree differed from it (then the
    numbers belong to no commit: the changed files are listed)."""
    rc, o = run(["git", "-C", REPO, "rev-parse", "HEAD"], timeout=10)
    commit = o.strip() if rc == 0 else None
    rc, status = run(["git", "-C", REPO, "status", "--porcelain"], timeout=30)
    changed = status.splitlines() if rc == 0 else None
    return {"sfc_commit": commit[:12] if commit else f"unknown (git rc={rc})", "sfc_commit_full": commit,
            "sfc_dirty": bool(changed) if changed is not None else None,
            "sfc_changes": (changed or [])[:100]}


def run_variants(b, args, doc, save):
    """Every variant on every workload, alternating, args.reps times."""
    variants = [v for v in args.variants.split(",") if v]
    for rep in range(args.reps):
        # Alternate the order between repetitions so slow drifts of the
        # machine do not always hit the same variant.
        order = variants if rep % 2 == 0 else list(reversed(variants))
        for variant in order:
            log(f"rep {rep + 1}/{args.reps}: {variant}")
            try:
                profile = b.setup_variant(variant)
                if args.quiet_wait > 0 and not b.wait_for_quiet(args.quiet_wait):
                    log(f"  the machine stayed busy for {args.quiet_wait} s; measuring anyway")
                for name, cpus in b.workloads(variant):
                    res = b.run_workload(name, cpus)
                    res.update({"variant": variant, "profile": profile, "rep": rep, "workload": name,
                                "cpus": len(cpus)})
                    log(f"  {name} cpus={len(cpus)}: " + ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()
                        if k in ("pps", "bits_per_s", "requests_per_s", "p99_ms", "error")))
                    doc["runs"].append(res)
                if variant in ("kernel-fwd", "kernel-xdp-pass"):
                    # Evidence of "no conntrack": the SFC host tracked nothing.
                    _, n = b.in_ns("vm", "conntrack -C")
                    doc["meta"].setdefault("conntrack_entries", {})[variant] = n.strip()
                elif variant.startswith("kernel") and rep == 0:
                    # Evidence that the kernel's flow monitor counted: one
                    # accounted conntrack entry per protocol.
                    _, ct = b.in_ns("vm", "conntrack -L 2>/dev/null | grep -m1 '^tcp.*bytes='; "
                                          "conntrack -L 2>/dev/null | grep -m1 '^udp.*bytes='")
                    doc["meta"].setdefault("kernel_flow_accounting", {})[variant] = ct.strip().splitlines()
            except Unsupported as e:
                log(f"  {variant} cannot run here: {e}")
                doc["runs"].append({"variant": variant, "rep": rep, "unsupported": str(e)})
            except Exception as e:  # noqa: BLE001 - a broken variant is a result, not a crash
                log(f"  {variant} failed: {e}")
                doc["runs"].append({"variant": variant, "rep": rep, "error": str(e)})
            finally:
                b.teardown()
            save()


def run_scaling(b, args, doc, save):
    """The blocklist sizes, each variant through all of them on one topology."""
    counts = [int(n) for n in args.rule_counts.split(",") if n]
    variants = [v for v in args.scaling_variants.split(",") if v]
    for rep in range(args.reps):
        for variant in (variants if rep % 2 == 0 else list(reversed(variants))):
            log(f"rule scaling rep {rep + 1}/{args.reps}: {variant}")
            try:
                b.setup_variant(variant, counts[0])
                for n in counts:
                    load_s = None
                    if n != counts[0]:
                        t0 = time.monotonic()
                        b.reconfigure_rules(variant, n)
                        load_s = time.monotonic() - t0
                    res = b.foreign_load(lambda: b.udp(64, [0], max(1.0, args.seconds - 1), n_block=n))
                    res.update({"variant": variant, "rep": rep, "rules": n,
                                "total_rules": n + len(b.fw_config().get("rules", [])), "load_s": load_s})
                    log(f"  {n} rules: pps={res.get('pps', 0):.4g} {res.get('error', '')}")
                    doc["scaling"].append(res)
            except Unsupported as e:
                log(f"  {variant} cannot run here: {e}")
                doc["scaling"].append({"variant": variant, "rep": rep, "unsupported": str(e)})
            except Exception as e:  # noqa: BLE001
                log(f"  {variant} failed: {e}")
                doc["scaling"].append({"variant": variant, "rep": rep, "error": str(e)})
            finally:
                b.teardown()
            save()
    if b.blocklists:
        doc["meta"]["blocklist"] = {str(n): {"lengths": bl["lengths"],
                                             "mixed_sources": min(MIX_SOURCES, len(bl["hits"]))}
                                    for n, bl in sorted(b.blocklists.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--smoke", action="store_true",
                    help="short run (< 2 min): 1 rep, every variant briefly, 1 CPU, two blocklist sizes")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="per traffic run")
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS))
    ap.add_argument("--time-limit", type=float, default=2700, help="stop (cleanly) after this many seconds")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=8.0,
                    help="before each variant, wait up to S seconds for other work on the machine to pause")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--scaling-variants", default=",".join(SCALING_VARIANTS))
    ap.add_argument("--rule-counts", default="10,1000,10000,100000,1000000",
                    help="blocklist sizes of the rule-scaling runs")
    ap.add_argument("--net", type=int, default=213, help="topology addresses 10.NET.0.0/16")
    ap.add_argument("--prefix", default="sfb", help="namespace name prefix (also /tmp/PREFIX, pins)")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    global PREFIX, WORK
    PREFIX, WORK = args.prefix, f"/tmp/{args.prefix}"
    if args.smoke:
        args.reps, args.seconds = 1, 1.5
        args.variants = ",".join(SMOKE_VARIANTS)
        args.scaling_variants = ",".join(SMOKE_SCALING_VARIANTS)
        args.rule_counts = "10,1000"
        args.quiet_wait = 0

    # SIGTERM/SIGINT unwind through the finally blocks (teardown) instead of
    # leaving namespaces, sfcd and pins behind; run.sh's trap is the backstop.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    signal.alarm(max(1, int(args.time_limit)))
    # If run.sh goes away (killed, its terminal closed), stop too: the kernel
    # sends SIGTERM when the parent exits (PR_SET_PDEATHSIG).
    parent = os.getppid()
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        sys.exit(143)

    # A session (and so a scheduling autogroup) of our own, raised above the
    # rest of the machine for the duration of the run.
    try:
        os.setsid()
    except OSError:
        pass
    raise_priority()

    b = Bench(args)
    started = time.time()
    doc = {"meta": {"started": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
                    "command": " ".join(sys.argv), "smoke": args.smoke, "reps": args.reps,
                    "seconds": args.seconds, "machine": machine(), "versions": versions()},
           "micro": None, "runs": [], "scaling": []}

    def save():
        doc["meta"]["duration_s"] = round(time.time() - started, 1)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, args.out)

    # Which chain this build can run (sfcd must know the VNF types).
    try:
        b.topology("xdp")
        b.probe_features()
        b.start_sfcd()
        b.choose_chain()
    finally:
        b.teardown()
    doc["meta"]["kernel_features"] = b.features
    doc["meta"]["chain_file"] = os.path.relpath(b.chain_file, REPO)
    doc["meta"]["chain_fallback"] = b.fallback
    if b.fallback:
        doc["meta"]["chain_fallback_reason"] = b.fallback_reason
    doc["meta"]["chain"] = b.chain
    doc["meta"]["target"] = b.vip or b.ip("s1")

    if not args.no_micro:
        log("microbenchmarks (BPF_PROG_TEST_RUN)")
        out = f"{WORK}/micro.json"
        cmd = [b.tool, "micro", "--chain", b.chain_file, "--net", b.n, "-o", out] + (["--quick"] if args.smoke else [])
        rc, text = run(cmd, timeout=1200)
        if rc == 0:
            with open(out) as f:
                doc["micro"] = json.load(f)
            # The tool records the path it was given; the report shows it repo-relative.
            opts = doc["micro"].get("options", {})
            if "chain_file" in opts:
                opts["chain_file"] = os.path.relpath(opts["chain_file"], REPO)
        else:
            doc["micro"] = {"error": f"sfc-bench micro rc={rc}: {text.strip()[-500:]}"}
        save()

    run_variants(b, args, doc, save)
    if not args.no_scaling:
        run_scaling(b, args, doc, save)

    doc["meta"]["finished"] = datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z"
    save()
    log(f"results: {args.out} ({doc['meta']['duration_s']} s)")


if __name__ == "__main__":
    main()
