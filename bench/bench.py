#!/usr/bin/python3
"""sfc against the kernel's own service function chain, side by side, in one run.

Driven by bench/run.sh (which owns cleanup on any exit); see docs/PERFORMANCE.md
for what every variant and workload means. Writes one JSON document per run.

Variants (each gets a freshly built topology, alternating within every repetition):
  xdp-bare     sfc chain with no VNF, fib egress: the XDP forwarding limit
  sfc-fib      eFW -> eFM -> eLB, fib egress (never enters the kernel stack)
  sfc-pass     the same chain, pass egress (the kernel forwards after the chain)
  kernel-nft   the same rules in nftables (blocklist as a set), conntrack
               accounting as flow monitor, DNAT over numgen/jhash maps as LB
  kernel-ipt   the same rules in iptables-legacy (linear), conntrack accounting,
               DNAT with the statistic match
  kernel-nft-defoff  kernel-nft with the endpoints' default offloads (TSO/GSO,
               checksum offload, noqueue) instead of the XDP-safe settings
"""
import argparse
import datetime
import ipaddress
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

ALL_VARIANTS = ["xdp-bare", "sfc-fib", "sfc-pass", "kernel-nft", "kernel-ipt", "kernel-nft-defoff"]


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
        return self.vip if self.vip and self.variant != "xdp-bare" else self.ip("s1")

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

    @staticmethod
    def blocklist(n_total, base_count):
        """Blocklist rules that bring the firewall to n_total rules (distinct
        sources in 100.64.0.0/10, UDP port 7, drop), placed first."""
        base = int(ipaddress.IPv4Address("100.64.0.0"))
        return [{"id": f"block-{j}", "src": str(ipaddress.IPv4Address(base + j + 1)), "proto": "udp", "dport": 7,
                 "action": "drop"} for j in range(max(0, n_total - base_count))]

    def fw_rules(self, n_rules):
        base = self.fw_config().get("rules", [])
        return self.blocklist(n_rules, len(base)) + base if n_rules else base

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

    def sfc_spec(self, variant, n_rules=0):
        if variant == "xdp-bare":
            _, spec = self.load_chain("bare.json")
            return spec
        spec = json.loads(json.dumps(self.chain))
        spec["egress"] = {"action": "pass" if variant == "sfc-pass" else "fib"}
        if n_rules and not self.fallback:
            for v in spec["vnfs"]:
                if v["type"] == "firewall":
                    v["config"]["rules"] = self.fw_rules(n_rules)
                    v["config"]["max_rules"] = max(len(v["config"]["rules"]), 1024)
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
    def nft_ruleset(self, n_rules):
        vips = {s["vip"] for s in self.lb_services()}
        lines = ["flush ruleset", "table ip sfb {"]
        cfg = self.fw_config()
        rules = self.fw_rules(n_rules)
        block = [r for r in rules if r["id"].startswith("block-")]
        if block:
            lines.append("  set blocklist { type ipv4_addr; elements = { " +
                         ", ".join(r["src"] for r in block) + " } }")
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
        lines.append("  chain filter_fwd {")
        policy = "drop" if cfg.get("default", "drop") == "drop" else "accept"
        lines.append(f"    type filter hook forward priority filter; policy {policy};")
        if block:
            lines.append("    ip saddr @blocklist udp dport 7 drop")
        for r in rules:
            if r["id"].startswith("block-"):
                continue
            lines.append("    " + self.nft_rule(r, vips))
        lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def nft_rule(r, vips):
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
        parts.append({"allow": "accept", "drop": "drop"}.get(act) or
                     ("reject with tcp reset" if proto == "tcp" else "reject"))
        return " ".join(parts)

    def ipt_ruleset(self, n_rules):
        vips = {s["vip"] for s in self.lb_services()}
        out = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
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
        for r in self.fw_rules(n_rules):
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

    def kernel_rules(self, variant, n_rules=0):
        self.in_ns("vm", "sysctl -qw net.netfilter.nf_conntrack_acct=1", check=True)
        if variant.startswith("kernel-nft"):
            path = f"{WORK}/ruleset.nft"
            with open(path, "w") as f:
                f.write(self.nft_ruleset(n_rules))
            self.in_ns("vm", ["nft", "-f", path], timeout=300, check=True)
        else:
            path = f"{WORK}/ruleset.ipt"
            with open(path, "w") as f:
                f.write(self.ipt_ruleset(n_rules))
            self.in_ns("vm", f"iptables-legacy-restore < {path}", timeout=300, check=True)

    # ---------- variants ----------
    def setup_variant(self, variant, n_rules=0):
        profile = "default" if variant.endswith("-defoff") else "xdp"
        self.variant = variant
        self.topology(profile)
        if variant in ("xdp-bare", "sfc-fib", "sfc-pass"):
            self.start_sfcd()
            rc, out = self.apply_chain(self.sfc_spec(variant, n_rules))
            if rc != 0:
                raise RuntimeError("sfcctl apply failed: " + out.strip()[-500:])
        else:
            self.kernel_rules(variant, n_rules)
        # The path works before anything is measured.
        for _ in range(20):
            rc, _ = self.in_ns("client", f"curl -s -o /dev/null -m 2 http://{self.target(80)}/", timeout=10)
            if rc == 0:
                return profile
            time.sleep(0.25)
        raise RuntimeError(f"HTTP through {variant} does not work")

    def reconfigure_rules(self, variant, n_rules):
        if variant.startswith("kernel"):
            self.kernel_rules(variant, n_rules)
        else:
            rc, out = self.apply_chain(self.sfc_spec(variant, n_rules))
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

    def udp(self, size, cpus, secs):
        dst = self.target(9)
        res = None
        rc, out = run([self.tool, "flood", "--client-ns", self.ns("client"),
                       "--sink", f"{self.ns('s1')}:eth0", "--sink", f"{self.ns('s2')}:eth0",
                       "--src-mac", self.macs["client"], "--dst-mac", self.macs["vm-eth0"],
                       "--src-ip", self.ip("client"), "--dst-ip", dst, "--port", "9", "--size", str(size),
                       "--flows", "256", "--cpus", ",".join(map(str, cpus)), "--seconds", str(secs),
                       "--warmup", "0.5"], timeout=secs + 30)
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

    def workloads(self):
        s = self.a
        if s.smoke:
            return [("tcp1", [0]), ("udp64", [0]), ("http", [0])]
        w = []
        for cpus in ([0], [0, 1]):
            w += [("tcp1", cpus), ("tcp4", cpus), ("udp64", cpus), ("http", cpus)]
        w += [("udp512", [0]), ("udp1500", [0])]
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
    rc, o = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], timeout=10)
    out["sfc_commit"] = o.strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--smoke", action="store_true", help="short run (< 2 min): 1 rep, 3 variants, 1 CPU")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="per traffic run")
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS))
    ap.add_argument("--time-limit", type=float, default=1800, help="stop (cleanly) after this many seconds")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=8.0,
                    help="before each variant, wait up to S seconds for other work on the machine to pause")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--net", type=int, default=213, help="topology addresses 10.NET.0.0/16")
    ap.add_argument("--prefix", default="sfb", help="namespace name prefix (also /tmp/PREFIX, pins)")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    global PREFIX, WORK
    PREFIX, WORK = args.prefix, f"/tmp/{args.prefix}"
    if args.smoke:
        args.reps, args.seconds = 1, 1.5
        args.variants = "xdp-bare,sfc-fib,kernel-nft"
        args.no_scaling = True
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
        b.start_sfcd()
        b.choose_chain()
    finally:
        b.teardown()
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
        rc, text = run(cmd, timeout=900)
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
                for name, cpus in b.workloads():
                    res = b.run_workload(name, cpus)
                    res.update({"variant": variant, "profile": profile, "rep": rep, "workload": name,
                                "cpus": len(cpus)})
                    log(f"  {name} cpus={len(cpus)}: " + ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()
                        if k in ("pps", "bits_per_s", "requests_per_s", "p99_ms", "error")))
                    doc["runs"].append(res)
                if variant.startswith("kernel") and rep == 0:
                    # Evidence that the kernel's flow monitor counted: one
                    # accounted conntrack entry per protocol.
                    _, ct = b.in_ns("vm", "conntrack -L 2>/dev/null | grep -m1 '^tcp.*bytes='; "
                                          "conntrack -L 2>/dev/null | grep -m1 '^udp.*bytes='")
                    doc["meta"].setdefault("kernel_flow_accounting", {})[variant] = ct.strip().splitlines()
            except Exception as e:  # noqa: BLE001 - a broken variant is a result, not a crash
                log(f"  {variant} failed: {e}")
                doc["runs"].append({"variant": variant, "rep": rep, "error": str(e)})
            finally:
                b.teardown()
            save()

    if not args.no_scaling:
        # iptables-legacy loads 1M linear rules in ~2 s and nft a 1M-element set
        # in ~3 s here, so every variant runs the whole range.
        counts = [10, 1000, 10000, 100000, 1000000]
        for rep in range(args.reps):
            for variant in (["sfc-fib", "kernel-ipt", "kernel-nft"] if rep % 2 == 0
                            else ["kernel-nft", "kernel-ipt", "sfc-fib"]):
                log(f"rule scaling rep {rep + 1}/{args.reps}: {variant}")
                try:
                    b.setup_variant(variant, counts[0])
                    for n in counts:
                        if n != counts[0]:
                            b.reconfigure_rules(variant, n)
                        res = b.foreign_load(lambda: b.udp(64, [0], max(1.0, args.seconds - 1)))
                        res.update({"variant": variant, "rep": rep, "rules": n})
                        log(f"  {n} rules: pps={res.get('pps', 0):.4g} {res.get('error', '')}")
                        doc["scaling"].append(res)
                except Exception as e:  # noqa: BLE001
                    log(f"  {variant} failed: {e}")
                    doc["scaling"].append({"variant": variant, "rep": rep, "error": str(e)})
                finally:
                    b.teardown()
                save()

    doc["meta"]["finished"] = datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z"
    save()
    log(f"results: {args.out} ({doc['meta']['duration_s']} s)")


if __name__ == "__main__":
    main()
