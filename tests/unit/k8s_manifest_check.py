#!/usr/bin/python3
"""Client-side check of deploy/kubernetes/sfcd-daemonset.yaml. kubectl is not
installable on the machines this suite runs on, and there is no cluster: the
manifest is parsed with python3-yaml and its structure checked against what
Kubernetes requires and what sfcd accepts. This does NOT prove it deploys.

usage: k8s_manifest_check.py SOURCE_DIR BUILD_DIR"""
import os
import re
import subprocess
import sys

import yaml

src, build = sys.argv[1], sys.argv[2]
path = os.path.join(src, "deploy", "kubernetes", "sfcd-daemonset.yaml")
failures = 0


def check(what, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    failures += 0 if ok else 1


text = open(path).read()
check("says it is an unexercised example", "NOT EXERCISED" in text.upper())
docs = [d for d in yaml.safe_load_all(text) if d is not None]
kinds = {d.get("kind"): d for d in docs}
for d in docs:
    check(f"{d.get('kind')} has apiVersion, kind, metadata.name",
          all(k in d for k in ("apiVersion", "kind", "metadata")) and "name" in d["metadata"])
check("has a Namespace, a ConfigMap and a DaemonSet",
      {"Namespace", "ConfigMap", "DaemonSet"} <= set(kinds), sorted(kinds))

ns = kinds["Namespace"]["metadata"]["name"]
ds = kinds["DaemonSet"]
cm = kinds["ConfigMap"]
check("DaemonSet is apps/v1", ds["apiVersion"] == "apps/v1", ds["apiVersion"])
for d in (ds, cm):
    check(f"{d['kind']} lives in namespace {ns}", d["metadata"].get("namespace") == ns)

spec = ds["spec"]
tmpl = spec["template"]
labels = tmpl["metadata"].get("labels", {})
sel = spec["selector"].get("matchLabels", {})
check("selector matches the pod template's labels",
      sel and all(labels.get(k) == v for k, v in sel.items()), f"{sel} vs {labels}")

pod = tmpl["spec"]
check("pod is not on the host network (the VF is moved into its own)",
      not pod.get("hostNetwork", False))
check("Multus annotation asks for the SR-IOV network",
      "k8s.v1.cni.cncf.io/networks" in tmpl["metadata"].get("annotations", {}))
containers = pod["containers"]
check("one container", len(containers) == 1)
c = containers[0]
check("container has name and image", bool(c.get("name")) and bool(c.get("image")))

# Extended resources (the VF) must be requested and limited alike.
req = c.get("resources", {}).get("requests", {})
lim = c.get("resources", {}).get("limits", {})
ext = [r for r in set(req) | set(lim) if "/" in r]
check("requests one SR-IOV VF", len(ext) == 1, ext)
for r in ext:
    check(f"extended resource {r}: request == limit", req.get(r) == lim.get(r), (req, lim))

# sfcd's arguments: every flag exists (sfcd --help), $(VAR)s come from the ConfigMap.
args = c.get("args", [])
help_text = subprocess.run([os.path.join(build, "daemon", "sfcd"), "--help"],
                           capture_output=True, text=True).stdout
flags = {a.split("=", 1)[0] for a in args}
for f in sorted(flags):
    check(f"sfcd knows {f}", re.search(rf"^\s+{re.escape(f)}\b", help_text, re.M) is not None)
cm_keys = set(cm.get("data", {}))
env_from = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
check("envFrom names the ConfigMap", env_from == [cm["metadata"]["name"]], env_from)
for var in re.findall(r"\$\((\w+)\)", " ".join(args)):
    check(f"$({var}) is defined by the ConfigMap", var in cm_keys)


def arg(name):
    vals = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    return [cm["data"].get(v[2:-1], v) if v.startswith("$(") else v for v in vals]


listens = arg("--listen")
tcp = [l for l in listens if not l.startswith("unix:")]
unix = [l[5:] for l in listens if l.startswith("unix:")]
check("listens on a Unix socket (for the probes)", len(unix) == 1, listens)
check("a TCP listener comes with --tls-cert and --tls-key (sfcd refuses it otherwise)",
      not tcp or (arg("--tls-cert") and arg("--tls-key")))
ports = [p["containerPort"] for p in c.get("ports", [])]
for l in tcp:
    check(f"TCP listener {l} is a declared containerPort", int(l.rsplit(":", 1)[1]) in ports, ports)

root = arg("--bpffs-root")
state = arg("--state-dir")
check("bpffs root is below /sys/fs/bpf", len(root) == 1 and root[0].startswith("/sys/fs/bpf/"))

# Mounts: every mount has its volume; bpffs and state are the host's.
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
for p, name in mounts.items():
    check(f"mount {p} has volume {name}", name in volumes)
bpffs = volumes.get(mounts.get("/sys/fs/bpf", ""), {})
check("host bpffs at /sys/fs/bpf (pins outlive the pod)",
      bpffs.get("hostPath", {}).get("path") == "/sys/fs/bpf", bpffs)
st = volumes.get(mounts.get(state[0] if state else "", ""), {})
check("state dir is a hostPath (specs survive the pod)", "hostPath" in st, st)
sock_dir = os.path.dirname(unix[0]) if unix else ""
check("socket directory is mounted writable", sock_dir in mounts)
tls_files = arg("--tls-cert") + arg("--tls-key") + arg("--tls-client-ca")
for f in tls_files:
    check(f"{f} is under a mounted volume",
          any(f.startswith(p.rstrip("/") + "/") for p in mounts))

# Capabilities as the systemd unit bounds them.
sc = c.get("securityContext", {})
caps = set(sc.get("capabilities", {}).get("add", []))
check("adds BPF, PERFMON, NET_ADMIN, SYS_ADMIN", {"BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN"} <= caps,
      caps)
check("drops the rest", sc.get("capabilities", {}).get("drop") == ["ALL"])
check("not privileged", sc.get("privileged") is False)

# Probes: the health of sfcd's API over its Unix socket.
for probe in ("readinessProbe", "livenessProbe"):
    cmd = c.get(probe, {}).get("exec", {}).get("command", [])
    check(f"{probe} runs sfcctl against the Unix socket",
          cmd[:1] == ["/usr/bin/sfcctl"] and f"unix:{unix[0] if unix else ''}" in cmd, cmd)

print(f"{failures} failed")
sys.exit(1 if failures else 0)
