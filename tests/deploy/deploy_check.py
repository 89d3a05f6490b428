#!/usr/bin/env python3
"""Validation of the container and deployment files under deploy/.

No container engine or cluster is needed. Each sub-command is one ctest test:

  yaml          every YAML file parses; Kubernetes documents are well formed
                and consistent with each other and with the athmd config they
                carry; the compose file is consistent with its configs.
  references    files named by the Dockerfile and the compose file exist;
                the Dockerfile has the required shape; with --athmd/--athm,
                the runtime packages cover the binaries' shared libraries.
  nginx-syntax  `nginx -t` on every nginx config under deploy/, on a copy with
                host names, certificate and state paths pointed at a temp dir.
  nginx-proxy   runs nginx with the shipped configs against stub upstreams
                on 127.0.0.1 and checks retries, caching, auth_request and
                that X-Token-Bucket never reaches a client.
  key-sync      deploy/docker/athmd-key-sync on a directory laid out like a
                Kubernetes Secret volume.
  check-config  `athmd --check-config` on every athmd config under deploy/
                (with a key directory made by `athm keygen`).

Exit status 0 when every check passes, 1 otherwise (each failure printed).
"""

import argparse
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time

try:
    import yaml
except ImportError:  # reported as a failure, not a skip
    yaml = None


# ---------------------------------------------------------------------------
# Reporting

class Checker:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print("FAIL: " + what, flush=True)
        return cond

    def fail(self, what):
        self.check(False, what)

    def finish(self, name):
        print("%s: %d passed, %d failed" % (name, self.passed, len(self.failures)), flush=True)
        return 0 if not self.failures else 1


def rel(repo, path):
    return os.path.relpath(path, repo)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_yaml(path):
    docs = load_yaml_docs(path)
    if len(docs) != 1:
        raise ValueError("%s: expected one YAML document, found %d" % (path, len(docs)))
    return docs[0]


def mount_of(mounts, path):
    """The mount (of a {mountPath: mount} map) that holds |path|, or None."""
    best = None
    for mp, m in mounts.items():
        rel = os.path.relpath(os.path.normpath(path), os.path.normpath(mp))
        if rel == "." or not rel.startswith(".."):
            if best is None or len(mp) > len(best[0]):
                best = (mp, m)
    return best[1] if best else None


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and 0 <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def yaml_files(repo):
    out = []
    for root, dirs, files in os.walk(os.path.join(repo, "deploy")):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                out.append(os.path.join(root, name))
    return out


def is_athmd_config(doc):
    return isinstance(doc, dict) and "keys" in doc and "listeners" in doc


def athmd_configs(repo):
    """Every athmd config shipped under deploy/: (label, yaml text)."""
    out = []
    for path in yaml_files(repo):
        docs = load_yaml_docs(path)
        if len(docs) == 1 and is_athmd_config(docs[0]):
            with open(path, encoding="utf-8") as f:
                out.append((rel(repo, path), f.read()))
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
                for key, text in sorted((doc.get("data") or {}).items()):
                    if key.endswith(".yaml") and is_athmd_config(yaml.safe_load(text)):
                        out.append(("%s (ConfigMap %s, %s)" % (rel(repo, path),
                                                               dig(doc, "metadata", "name"), key), text))
    return out


def k8s_docs(repo):
    docs = []
    k8s_dir = os.path.join(repo, "deploy", "k8s")
    for name in sorted(os.listdir(k8s_dir)):
        if name.endswith((".yaml", ".yml")):
            for d in load_yaml_docs(os.path.join(k8s_dir, name)):
                docs.append((name, d))
    return docs


def find_doc(docs, kind, name):
    for _, d in docs:
        if d.get("kind") == kind and dig(d, "metadata", "name") == name:
            return d
    return None


def shutdown_grace_s(cfg):
    return dig(cfg, "server", "shutdown_grace_ms", default=10000) / 1000.0


def parse_duration_s(text):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    if not m or not any(m.groups()):
        raise ValueError("bad duration %r" % text)
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


# ---------------------------------------------------------------------------
# yaml

def check_yaml(repo, c):
    files = yaml_files(repo)
    c.check(len(files) >= 10, "expected the YAML files of deploy/ (found %d)" % len(files))
    for path in files:
        try:
            docs = load_yaml_docs(path)
            c.check(len(docs) >= 1, "%s: no YAML document" % rel(repo, path))
        except Exception as e:  # noqa: BLE001 - any parse error is the failure
            c.fail("%s: does not parse: %s" % (rel(repo, path), e))

    docs = k8s_docs(repo)
    for name, d in docs:
        c.check(isinstance(d, dict), "k8s/%s: a document is not a mapping" % name)
        if not isinstance(d, dict):
            continue
        for field in ("apiVersion", "kind"):
            c.check(isinstance(d.get(field), str) and d.get(field),
                    "k8s/%s: a document has no %s" % (name, field))
        c.check(isinstance(dig(d, "metadata", "name"), str) and dig(d, "metadata", "name"),
                "k8s/%s: %s has no metadata.name" % (name, d.get("kind")))
    check_k8s(repo, docs, c)
    check_compose(repo, c)


def check_k8s(repo, docs, c):
    k8s_dir = os.path.join(repo, "deploy", "k8s")
    kust = find_doc(docs, "Kustomization", "athmd")
    if c.check(kust is not None, "k8s: kustomization.yaml missing"):
        for r in kust.get("resources", []):
            c.check(os.path.isfile(os.path.join(k8s_dir, r)), "k8s: kustomization resource %s missing" % r)
        c.check("secret.yaml" not in kust.get("resources", []),
                "k8s: the Secret template must not be applied by the kustomization")

    cm = find_doc(docs, "ConfigMap", "athmd-config")
    dep = find_doc(docs, "Deployment", "athmd")
    if not (c.check(cm is not None, "k8s: ConfigMap athmd-config missing") and
            c.check(dep is not None, "k8s: Deployment athmd missing")):
        return
    cfg = yaml.safe_load(cm["data"]["athmd.yaml"])
    c.check(is_athmd_config(cfg), "k8s: ConfigMap athmd.yaml is not an athmd config")
    pod = dep["spec"]["template"]
    labels = dig(pod, "metadata", "labels", default={})
    c.check(dep["spec"].get("replicas") == 3, "k8s: Deployment replicas must be 3")
    c.check(labels_match(dig(dep, "spec", "selector", "matchLabels"), labels),
            "k8s: Deployment selector does not match the pod labels")

    spec = pod["spec"]
    psc = spec.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001,
            "k8s: pod must run as non-root uid 10001")
    containers = {x["name"]: x for x in spec.get("containers", [])}
    all_containers = spec.get("containers", []) + spec.get("initContainers", [])
    for x in all_containers:
        sc = x.get("securityContext", {})
        c.check(sc.get("readOnlyRootFilesystem") is True, "k8s: %s: root fs must be read-only" % x["name"])
        c.check(sc.get("allowPrivilegeEscalation") is False,
                "k8s: %s: allowPrivilegeEscalation must be false" % x["name"])
        c.check(dig(sc, "capabilities", "drop") == ["ALL"], "k8s: %s: must drop ALL capabilities" % x["name"])
        for kind in ("requests", "limits"):
            res = dig(x, "resources", kind, default={})
            c.check("cpu" in res and "memory" in res, "k8s: %s: resources.%s needs cpu and memory" % (x["name"], kind))

    athmd = containers.get("athmd")
    if not c.check(athmd is not None, "k8s: no container named athmd"):
        return
    pub = dig(cfg, "listeners", "public", "port")
    internal = dig(cfg, "listeners", "internal", "port")
    c.check(container_port(athmd, "public") == pub, "k8s: containerPort public != config public port")
    c.check(container_port(athmd, "internal") == internal, "k8s: containerPort internal != config internal port")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = dig(athmd, probe, "httpGet", default={})
        c.check(get.get("path") == path and container_port(athmd, get.get("port")) == pub,
                "k8s: %s must GET %s on the public port" % (probe, path))

    args = athmd.get("args", [])
    c.check(args[:1] == ["--config"] and len(args) == 2, "k8s: athmd args must be --config FILE")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in athmd.get("volumeMounts", [])}
    if len(args) == 2:
        cfg_dir, cfg_file = os.path.split(args[1])
        m = mounts.get(cfg_dir)
        ok = m is not None and m.get("readOnly") is True and \
            dig(volumes, m["name"], "configMap", "name") == "athmd-config"
        c.check(ok, "k8s: %s must be a read-only mount of ConfigMap athmd-config" % cfg_dir)
        if ok:
            items = dig(volumes, m["name"], "configMap", "items", default=[])
            c.check(any(i.get("path") == cfg_file and i.get("key") in cm["data"] for i in items),
                    "k8s: ConfigMap volume does not provide %s" % cfg_file)

    key_dir = dig(cfg, "keys", "directory")
    km = mount_of(mounts, key_dir)
    c.check(km is not None and km.get("readOnly") is True,
            "k8s: athmd must mount keys.directory %s (or a parent) read-only" % key_dir)
    if km is not None:
        c.check("emptyDir" in volumes.get(km["name"], {}), "k8s: the key directory must be a private emptyDir")
    secret_vols = [n for n, v in volumes.items() if dig(v, "secret", "secretName") == "athmd-keys"]
    c.check(len(secret_vols) == 1, "k8s: one volume from Secret athmd-keys expected")
    c.check(all(m["name"] not in secret_vols for m in athmd.get("volumeMounts", [])),
            "k8s: athmd must not read the Secret volume directly (group-readable files)")
    # The key-sync containers copy the Secret into the key directory.
    syncs = [x for x in all_containers if "athmd-key-sync" in " ".join(x.get("command", []))]
    c.check(any(x in spec.get("initContainers", []) for x in syncs) and
            any(x in spec.get("containers", []) for x in syncs),
            "k8s: key-sync needs an init container and a sidecar")
    for x in syncs:
        cmd = x["command"]
        xm = {m["mountPath"]: m for m in x.get("volumeMounts", [])}
        c.check(cmd[-1] == key_dir and (mount_of(xm, key_dir) or {}).get("name") == (km or {}).get("name"),
                "k8s: %s must write into the athmd key directory" % x["name"])
        c.check((mount_of(xm, cmd[-2]) or {}).get("name") in secret_vols,
                "k8s: %s must read the Secret volume" % x["name"])
    # An emptyDir's own mode is 0777, which athmd refuses for a key
    # directory: keys.directory must be a subdirectory that key-sync creates.
    if km is not None and "emptyDir" in volumes.get(km["name"], {}):
        c.check(os.path.normpath(key_dir) != os.path.normpath(km["mountPath"]),
                "k8s: keys.directory %s is the emptyDir itself (mode 0777); use a subdirectory" % key_dir)

    # Graceful shutdown fits into the termination grace period.
    pre = dig(athmd, "lifecycle", "preStop", "exec", "command", default=[])
    pre_s = int(pre[1]) if len(pre) == 2 and pre[0].endswith("sleep") else 0
    c.check(pre_s > 0, "k8s: athmd needs a preStop sleep so endpoints drain before SIGTERM")
    tgps = spec.get("terminationGracePeriodSeconds", 30)
    c.check(tgps >= pre_s + shutdown_grace_s(cfg) + 1,
            "k8s: terminationGracePeriodSeconds %s < preStop %s s + shutdown_grace %s s + 1 s"
            % (tgps, pre_s, shutdown_grace_s(cfg)))

    for svc_name, port_name, port in (("athmd", "public", None), ("athmd-internal", "internal", internal)):
        svc = find_doc(docs, "Service", svc_name)
        if c.check(svc is not None, "k8s: Service %s missing" % svc_name):
            c.check(labels_match(dig(svc, "spec", "selector"), labels),
                    "k8s: Service %s selector does not match the pods" % svc_name)
            ports = dig(svc, "spec", "ports", default=[])
            c.check(len(ports) == 1 and ports[0].get("targetPort") == port_name,
                    "k8s: Service %s must target the %s port only" % (svc_name, port_name))
            if port is not None and ports:
                c.check(ports[0].get("port") == port, "k8s: Service %s port must be %s" % (svc_name, port))

    pdb = find_doc(docs, "PodDisruptionBudget", "athmd")
    if c.check(pdb is not None, "k8s: PodDisruptionBudget missing"):
        c.check(dig(pdb, "spec", "minAvailable") == 2, "k8s: PDB minAvailable must be 2")
        c.check(labels_match(dig(pdb, "spec", "selector", "matchLabels"), labels),
                "k8s: PDB selector does not match the pods")

    np = find_doc(docs, "NetworkPolicy", "athmd")
    if c.check(np is not None, "k8s: NetworkPolicy athmd missing"):
        c.check(labels_match(dig(np, "spec", "podSelector", "matchLabels"), labels),
                "k8s: NetworkPolicy does not select the athmd pods")
        c.check("Ingress" in dig(np, "spec", "policyTypes", default=[]), "k8s: NetworkPolicy must restrict Ingress")
        reached = {}
        for rule in dig(np, "spec", "ingress", default=[]):
            ports = [p.get("port") for p in rule.get("ports", [])]
            peers = rule.get("from", [])
            c.check(bool(ports) and bool(peers), "k8s: a NetworkPolicy rule without ports or peers opens every port")
            for p in ports:
                reached.setdefault(p, []).extend(peers)
        c.check(set(reached) == {pub, internal}, "k8s: NetworkPolicy must name exactly ports %s and %s" % (pub, internal))
        for peer in reached.get(internal, []):
            c.check(bool(dig(peer, "podSelector", "matchLabels")) and "ipBlock" not in peer,
                    "k8s: the internal port may only admit labelled pods")
        c.check(all(dig(p, "podSelector", "matchLabels") for p in reached.get(pub, [])),
                "k8s: the public port must admit the ingress controller's pods only")

    secret = find_doc(docs, "Secret", "athmd-keys")
    if c.check(secret is not None, "k8s: the Secret template athmd-keys is missing"):
        entries = list((secret.get("data") or {})) + list((secret.get("stringData") or {}))
        c.check(not any(e.endswith(".key") for e in entries), "k8s: the Secret template must hold no key file")

    redis_host = dig(cfg, "store", "redis", "host")
    c.check(dig(cfg, "store", "type") == "redis", "k8s: the fleet config must use the redis store")
    sts = find_doc(docs, "StatefulSet", "athmd-redis")
    if c.check(sts is not None and find_doc(docs, "Service", redis_host) is not None,
               "k8s: example Redis StatefulSet and Service %s expected" % redis_host):
        rargs = " ".join(dig(sts, "spec", "template", "spec", "containers", 0, "args", default=[]))
        check_redis_args(rargs, "k8s redis", c)


def check_redis_args(args, where, c):
    c.check("--appendonly yes" in args, "%s: appendonly must be on" % where)
    c.check("--appendfsync always" in args, "%s: appendfsync must be always" % where)
    c.check("--maxmemory-policy noeviction" in args, "%s: maxmemory-policy must be noeviction" % where)


def nginx_upstreams(text):
    """{upstream name: [(host, port), ...]} from an nginx config."""
    out = {}
    for m in re.finditer(r"upstream\s+(\S+)\s*\{(.*?)\}", text, re.S):
        out[m.group(1)] = [(h, int(p)) for h, p in re.findall(r"^\s*server\s+([^\s:;]+):(\d+)", m.group(2), re.M)]
    return out


def check_compose(repo, c):
    cdir = os.path.join(repo, "deploy", "compose")
    comp = load_yaml(os.path.join(cdir, "compose.yaml"))
    services = comp.get("services", {})
    replicas = sorted(n for n in services if re.fullmatch(r"athmd-\d+", n))
    c.check(replicas == ["athmd-1", "athmd-2", "athmd-3"], "compose: three athmd replicas expected, got %s" % replicas)
    cfg_file = dig(comp, "configs", "athmd", "file")
    cfg = load_yaml(os.path.join(cdir, cfg_file)) if cfg_file else {}
    c.check(is_athmd_config(cfg), "compose: the athmd config is missing")
    key_dir = dig(cfg, "keys", "directory")
    for n in replicas:
        s = services[n]
        c.check(dig(s, "build", "dockerfile") == "deploy/Dockerfile", "compose: %s must build deploy/Dockerfile" % n)
        cmd = s.get("command", [])
        targets = {x.get("target"): x.get("source") for x in s.get("configs", [])}
        c.check(len(cmd) == 2 and cmd[0] == "--config" and targets.get(cmd[1]) == "athmd",
                "compose: %s must run --config on the mounted athmd config" % n)
        vols = [v for v in s.get("volumes", []) if isinstance(v, dict) and v.get("target") == key_dir]
        c.check(len(vols) == 1 and vols[0].get("read_only") is True and vols[0].get("source") == "./keys",
                "compose: %s must bind ./keys read-only at %s" % (n, key_dir))
        c.check(s.get("read_only") is True, "compose: %s root fs must be read-only" % n)
        c.check(parse_duration_s(s.get("stop_grace_period", "10s")) > shutdown_grace_s(cfg),
                "compose: %s stop_grace_period must exceed server.shutdown_grace_ms" % n)
    c.check(dig(cfg, "store", "type") == "redis" and dig(cfg, "store", "redis", "host") == "redis"
            and "redis" in services, "compose: replicas must share the redis service")
    check_redis_args(" ".join(dig(services, "redis", "command", default=[])), "compose redis", c)

    # The attester trusts nginx's fixed address, inside the network's subnet.
    import ipaddress
    nginx_ip = dig(services, "nginx", "networks", "athmd", "ipv4_address")
    subnet = dig(comp, "networks", "athmd", "ipam", "config", 0, "subnet")
    trusted = dig(cfg, "attester", "header", "trusted_cidrs", default=[])
    if c.check(nginx_ip and subnet, "compose: nginx needs a fixed address in a fixed subnet"):
        addr = ipaddress.ip_address(nginx_ip)
        c.check(addr in ipaddress.ip_network(subnet), "compose: nginx address outside the subnet")
        c.check(dig(cfg, "attester", "type") != "header" or
                any(addr in ipaddress.ip_network(t) for t in trusted),
                "compose: the header attester must trust nginx's address")
    c.check(dig(services, "nginx", "ports") == ["8443:443"], "compose: only nginx's TLS port is published")
    for n, s in services.items():
        if n != "nginx":
            c.check("ports" not in s, "compose: %s must not publish ports" % n)

    # nginx balances over exactly the replicas, on the ports they listen on.
    with open(os.path.join(cdir, dig(comp, "configs", "nginx", "file")), encoding="utf-8") as f:
        ups = nginx_upstreams(f.read())
    pub = dig(cfg, "listeners", "public", "port")
    internal = dig(cfg, "listeners", "internal", "port")
    c.check(ups.get("athmd_public") == [(n, pub) for n in replicas],
            "compose: nginx upstream athmd_public must list every replica on port %s" % pub)
    c.check(ups.get("athmd_internal") == [(n, internal) for n in replicas],
            "compose: nginx upstream athmd_internal must list every replica on port %s" % internal)


# ---------------------------------------------------------------------------
# references

def dockerfile_stages(path):
    """[(base image, [(instruction, args), ...]), ...] with ARG defaults expanded."""
    args = {}
    stages = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        rest = rest.strip()
        if instr == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
            continue
        if instr == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest.split()[0])
            stages.append((image, []))
            continue
        if stages:
            stages[-1][1].append((instr, rest))
    return stages


# Library packages every debian:12 image has: the essential set depends on
# them (libc6, libgcc-s1, zlib1g) and so does apt (libstdc++6).
DEBIAN_BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def runtime_packages(stage):
    for instr, rest in stage[1]:
        if instr == "RUN" and "apt-get install" in rest:
            tail = rest.split("apt-get install", 1)[1].split("&&")[0]
            return [w for w in tail.split() if not w.startswith("-")]
    return []


def dpkg_owner(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    for p in candidates:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def check_references(repo, c, athmd, athm):
    dockerfile = os.path.join(repo, "deploy", "Dockerfile")
    stages = dockerfile_stages(dockerfile)
    c.check(len(stages) == 2, "Dockerfile: two stages expected")
    c.check(all(s[0] in ("debian:12", "debian:bookworm") for s in stages), "Dockerfile: every stage on debian:12")
    for _, instrs in stages:
        for instr, rest in instrs:
            if instr != "COPY" or "--from=" in rest:
                continue
            words = [w for w in rest.split() if not w.startswith("--")]
            for src in words[:-1]:
                c.check(os.path.exists(os.path.join(repo, src)), "Dockerfile: COPY source %s missing" % src)
    if len(stages) != 2:
        return
    build = " ".join(r for i, r in stages[0][1] if i == "RUN")
    c.check("scripts/install-deps.sh" in build and "scripts/build.sh" in build,
            "Dockerfile: the build stage must run scripts/install-deps.sh and scripts/build.sh")
    rt = stages[1][1]
    last = {}
    for instr, rest in rt:
        last[instr] = rest
    c.check(last.get("USER", "").split(":")[0] == "10001", "Dockerfile: runtime USER must be 10001")
    c.check(last.get("ENTRYPOINT") == '["/usr/local/bin/athmd"]', "Dockerfile: ENTRYPOINT must be athmd")
    c.check(last.get("CMD") == '["--config", "/etc/athmd/athmd.yaml"]', "Dockerfile: CMD must be --config /etc/athmd/athmd.yaml")
    c.check(set(last.get("EXPOSE", "").split()) == {"8080", "8081"}, "Dockerfile: EXPOSE 8080 8081")
    c.check("/healthz" in last.get("HEALTHCHECK", ""), "Dockerfile: HEALTHCHECK on /healthz")
    vols = last.get("VOLUME", "")
    c.check("/var/lib/athmd/keys" in vols and "/etc/athmd/tls" in vols, "Dockerfile: keys and TLS are volumes")
    conf_copies = [r for i, r in rt if i == "COPY" and r.split()[-1] == "/etc/athmd/athmd.yaml"]
    c.check(len(conf_copies) == 1 and "--chmod=0644" in conf_copies[0] and "--chown" not in conf_copies[0],
            "Dockerfile: the config is COPY'd root-owned with mode 0644")
    c.check(not any(i == "COPY" and ".key" in r for i, r in rt), "Dockerfile: no key is baked into the image")
    pkgs = runtime_packages(stages[1])
    c.check("curl" in pkgs, "Dockerfile: curl (HEALTHCHECK) missing from the runtime packages")
    for p in pkgs:
        known = subprocess.run(["dpkg-query", "-W", p], capture_output=True).returncode == 0 or \
            subprocess.run(["apt-cache", "show", p], capture_output=True).returncode == 0
        c.check(known, "Dockerfile: runtime package %s is unknown to Debian's package tools here" % p)
    for binary in (b for b in (athmd, athm) if b):
        r = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if not c.check(r.returncode == 0, "ldd %s failed" % binary):
            continue
        c.check("not found" not in r.stdout, "ldd %s: unresolved library:\n%s" % (binary, r.stdout))
        for lib in re.findall(r"=>\s+(/\S+)", r.stdout):
            owner = dpkg_owner(lib)
            if not c.check(owner is not None, "%s: no Debian package owns %s" % (os.path.basename(binary), lib)):
                continue
            c.check(owner in pkgs or owner in DEBIAN_BASE_PACKAGES,
                    "Dockerfile: %s needs %s (package %s), not in the runtime stage" %
                    (os.path.basename(binary), lib, owner))
        rp = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout
        c.check("/usr/lib/x86_64-linux-gnu/android" in rp,
                "%s: no rpath to BoringSSL's directory" % os.path.basename(binary))

    di = os.path.join(repo, ".dockerignore")
    if c.check(os.path.isfile(di), ".dockerignore missing"):
        with open(di, encoding="utf-8") as f:
            entries = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        c.check({".git", "build", "build-*"} <= entries, ".dockerignore must exclude .git and build dirs")

    cdir = os.path.join(repo, "deploy", "compose")
    comp = load_yaml(os.path.join(cdir, "compose.yaml"))
    for name, s in comp.get("services", {}).items():
        b = s.get("build")
        if b:
            ctx = os.path.normpath(os.path.join(cdir, b.get("context", ".")))
            c.check(os.path.isdir(ctx), "compose: %s build context missing" % name)
            c.check(os.path.isfile(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))),
                    "compose: %s Dockerfile missing" % name)
        for v in s.get("volumes", []):
            if isinstance(v, str):
                src = v.split(":")[0]
                bind = src.startswith((".", "/"))
            else:
                src = v.get("source", "")
                bind = v.get("type") == "bind"
            if bind:
                c.check(os.path.exists(os.path.join(cdir, src)), "compose: %s volume source %s missing" % (name, src))
            else:
                c.check(src in (comp.get("volumes") or {}), "compose: %s named volume %s undeclared" % (name, src))
        for cf in s.get("configs", []):
            c.check(cf.get("source") in (comp.get("configs") or {}),
                    "compose: %s config %s undeclared" % (name, cf.get("source")))
    for name, cf in (comp.get("configs") or {}).items():
        c.check(os.path.isfile(os.path.join(cdir, cf.get("file", ""))), "compose: config %s file missing" % name)


# ---------------------------------------------------------------------------
# nginx

def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def make_cert(tmp):
    tls = os.path.join(tmp, "tls")
    os.makedirs(tls, exist_ok=True)
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", os.path.join(tls, "privkey.pem"), "-out", os.path.join(tls, "fullchain.pem")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl req failed: " + r.stderr)
    return tls


def nginx_configs(repo):
    """(path, is_main) for every nginx config under deploy/."""
    out = []
    for root, dirs, files in os.walk(os.path.join(repo, "deploy")):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".conf"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    out.append((path, re.search(r"^http\s*\{", f.read(), re.M) is not None))
    return out


def adapt_nginx(text, tmp, is_main, hosts=None, listens=None):
    """A copy of an nginx config that runs in |tmp|: certificate, cache and log
    paths in |tmp|; upstream host:port pairs mapped by |hosts| ({"name:port":
    "127.0.0.1:port"}, default: every name to 127.0.0.1 with its port);
    listen ports mapped by |listens| ({port: new port}, on 127.0.0.1)."""
    for d in ("cache", "log", "tls"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    text = text.replace("/etc/nginx/tls/", os.path.join(tmp, "tls") + "/")
    text = text.replace("/var/cache/nginx", os.path.join(tmp, "cache"))
    text = text.replace("/var/log/nginx", os.path.join(tmp, "log"))

    def server_line(m):
        hp = m.group(2)
        if hosts is not None:
            if hp not in hosts:
                raise KeyError("no mapping for upstream %s" % hp)
            return m.group(1) + hosts[hp]
        host, port = hp.rsplit(":", 1)
        return m.group(1) + "127.0.0.1:" + port
    text = re.sub(r"(^\s*server\s+)([\w.-]+:\d+)", server_line, text, flags=re.M)
    if hosts is not None:
        text = re.sub(r"(proxy_pass\s+http://)([\w.-]+:\d+)",
                      lambda m: m.group(1) + hosts.get(m.group(2), m.group(2)), text)
    if listens is not None:
        text = re.sub(r"(^\s*listen\s+)(\d+)", lambda m: m.group(1) + "127.0.0.1:%d" % listens[int(m.group(2))],
                      text, flags=re.M)
    temp_paths = "".join("  %s_temp_path %s;\n" % (k, os.path.join(tmp, "temp-" + k))
                         for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if not is_main or "access_log" not in text:
        # Instead of the compiled-in default, which only root may open.
        temp_paths += "  access_log %s;\n" % os.path.join(tmp, "log", "access.log")
    if is_main:
        return re.sub(r"^http\s*\{\n", lambda m: m.group(0) + temp_paths, text, count=1, flags=re.M)
    inc = os.path.join(tmp, "snippet.conf")
    with open(inc, "w", encoding="utf-8") as f:
        f.write(text)
    return "events {}\nhttp {\n%s  include %s;\n}\n" % (temp_paths, inc)


def new_tmp():
    tmp = tempfile.mkdtemp(prefix="athm-deploy-")
    os.chmod(tmp, 0o755)  # nginx workers (an unprivileged user) read and write below it
    return tmp


def check_nginx_syntax(repo, c):
    nginx = nginx_binary()
    if not c.check(nginx is not None, "nginx is not installed (scripts/install-deps.sh installs it)"):
        return
    confs = nginx_configs(repo)
    c.check(len(confs) >= 3, "expected the nginx configs of deploy/ (found %d)" % len(confs))
    for path, is_main in confs:
        tmp = new_tmp()
        try:
            make_cert(tmp)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            # nginx -t binds the listeners: use free loopback ports instead.
            listens = {int(p): free_port() for p in re.findall(r"^\s*listen\s+(\d+)", text, re.M)}
            text = adapt_nginx(text, tmp, is_main, listens=listens)
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text)
            r = subprocess.run([nginx, "-t", "-q", "-c", conf, "-p", tmp + "/", "-e", "stderr",
                                "-g", "pid %s/nginx.pid;" % tmp], capture_output=True, text=True)
            c.check(r.returncode == 0, "nginx -t %s:\n%s%s" % (rel(repo, path), r.stdout, r.stderr))
            c.check("[warn]" not in r.stderr, "nginx -t %s warns:\n%s" % (rel(repo, path), r.stderr))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stub:
    """An HTTP/1.1 server on 127.0.0.1 that records requests and answers with
    |respond(method, path, headers, body) -> (status, headers, body)|."""

    def __init__(self, respond):
        self.requests = []
        self.lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = {"method": self.command, "path": self.path,
                       "headers": self.headers, "body": body}
                with stub.lock:
                    stub.requests.append(rec)
                status, headers, out = respond(self.command, self.path, self.headers, body)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_HEAD = do_PUT = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, path=None):
        with self.lock:
            return sum(1 for r in self.requests if path is None or r["path"].split("?")[0] == path)

    def last(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"].split("?")[0] == path][-1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


GOOD_TOKEN = "PrivateToken token=Z29vZC10b2tlbi1mb3ItdGVzdHM"
CHALLENGE = "PrivateToken challenge=AAAAstubchallenge, token-key=stubtokenkey"
DIRECTORY = b'{"issuer-request-uri":"https://localhost/request","token-keys":[]}'


def issuer_respond(method, path, headers, body):
    if path == "/.well-known/private-token-issuer-directory":
        return 200, [("Content-Type", "application/private-token-issuer-directory"),
                     ("Cache-Control", "max-age=300"), ("ETag", '"dir-1"'),
                     ("X-Token-Bucket", "7")], DIRECTORY
    if path == "/request" and method == "POST":
        return 200, [("Content-Type", "application/private-token-response"), ("X-Token-Bucket", "7")], b"resp"
    if path == "/healthz":
        return 200, [("Content-Type", "text/plain")], b"ok\n"
    return 404, [], b""


def internal_respond(method, path, headers, body):
    if path == "/auth":
        if headers.get("Authorization") == GOOD_TOKEN:
            return 200, [("X-Token-Bucket", "2")], b""
        return 401, [("WWW-Authenticate", CHALLENGE)], b""
    if path == "/redeem" and method == "POST":
        return 200, [("Content-Type", "application/json"), ("X-Token-Bucket", "2")], b'{"bucket":2}'
    return 404, [], b""


def unavailable_respond(method, path, headers, body):
    return 503, [("Content-Type", "text/plain")], b"draining\n"


def app_respond(method, path, headers, body):
    got = headers.get_all("X-Token-Bucket") or []
    # A careless application echoing the header: the proxy must drop it.
    return 200, [("Content-Type", "text/plain"), ("X-Token-Bucket", ",".join(got))], \
        ("bucket=%s" % ",".join(got)).encode()


class Nginx:
    def __init__(self, nginx, conf, tmp):
        self.tmp = tmp
        self.proc = subprocess.Popen([nginx, "-c", conf, "-p", tmp + "/", "-e", os.path.join(tmp, "error.log"),
                                      "-g", "daemon off; pid %s/nginx.pid;" % tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_port(self, port, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode(errors="replace") +
                                   self.error_log())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen on %d" % port)

    def error_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(port, method, path, headers=None, body=None, tls=True):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def check_auth_flow(c, where, port, internal, app):
    """auth_request semantics through nginx on |port| (TLS)."""
    seen = []

    def req(*a, **k):
        st, h, b = request(port, *a, **k)
        seen.append(h)
        return st, h, b

    n_app = app.count()
    st, h, b = req("GET", "/app/page?ref=secret-query", {"Authorization": GOOD_TOKEN, "X-Token-Bucket": "9"})
    c.check(st == 200 and b == b"bucket=2", "%s: valid token: got %s %r" % (where, st, b))
    if app.count() == n_app + 1:
        got = app.last("/app/page")["headers"]
        c.check(got.get_all("X-Token-Bucket") == ["2"], "%s: origin must get X-Token-Bucket 2 only, got %s"
                % (where, got.get_all("X-Token-Bucket")))
        c.check(got.get("Authorization") is None, "%s: the token must not reach the origin" % where)
    else:
        c.fail("%s: the origin was not called once" % where)
    a = internal.last("/auth")
    c.check(a["method"] == "GET" and a["body"] == b"", "%s: /auth must get a bodiless GET" % where)
    c.check(a["headers"].get("Authorization") == GOOD_TOKEN, "%s: /auth must get the Authorization header" % where)

    st, h, b = req("POST", "/app/form", {"Authorization": GOOD_TOKEN, "Content-Type": "text/plain"}, b"hello")
    c.check(st == 200, "%s: POST with a valid token: %s" % (where, st))
    a = internal.last("/auth")
    c.check(a["method"] == "GET" and a["body"] == b"", "%s: /auth for a POST must still be a bodiless GET" % where)

    n_app = app.count()
    for hdrs in ({"Authorization": "PrivateToken token=spent"}, {}):
        st, h, b = req("GET", "/app/page", hdrs)
        c.check(st == 401, "%s: bad or missing token must be 401, got %s" % (where, st))
        c.check(h.get_all("WWW-Authenticate") == [CHALLENGE],
                "%s: 401 must carry athmd's challenge once, got %s" % (where, h.get_all("WWW-Authenticate")))
    c.check(app.count() == n_app, "%s: the origin must not be called without a valid token" % where)
    return seen


def check_nginx_proxy(repo, c):
    nginx = nginx_binary()
    if not c.check(nginx is not None, "nginx is not installed (scripts/install-deps.sh installs it)"):
        return
    stubs = []
    try:
        # Compose fleet: replica 1 drains (503), replica 2 is down (refused),
        # replica 3 serves. Same for the internal listeners.
        pub_busy, pub_ok = Stub(unavailable_respond), Stub(issuer_respond)
        int_busy, int_ok = Stub(unavailable_respond), Stub(internal_respond)
        app = Stub(app_respond)
        stubs += [pub_busy, pub_ok, int_busy, int_ok, app]
        down1, down2 = free_port(), free_port()
        hosts = {"athmd-1:8080": "127.0.0.1:%d" % pub_busy.port, "athmd-2:8080": "127.0.0.1:%d" % down1,
                 "athmd-3:8080": "127.0.0.1:%d" % pub_ok.port,
                 "athmd-1:8081": "127.0.0.1:%d" % int_busy.port, "athmd-2:8081": "127.0.0.1:%d" % down2,
                 "athmd-3:8081": "127.0.0.1:%d" % int_ok.port,
                 "app:80": "127.0.0.1:%d" % app.port}
        listens = {443: free_port(), 8081: free_port()}
        seen = run_fleet_case(repo, c, nginx, hosts, listens, pub_ok, int_ok, app)

        # Single node: deploy/nginx/athmd-nginx.conf.
        node_pub, node_int, node_app = Stub(issuer_respond), Stub(internal_respond), Stub(app_respond)
        stubs += [node_pub, node_int, node_app]
        hosts = {"127.0.0.1:8080": "127.0.0.1:%d" % node_pub.port,
                 "127.0.0.1:8081": "127.0.0.1:%d" % node_int.port,
                 "127.0.0.1:9000": "127.0.0.1:%d" % node_app.port}
        seen += run_single_case(repo, c, nginx, hosts, {443: free_port()}, node_pub, node_int, node_app)
        c.check(len(seen) > 10, "too few responses examined")
        for h in seen:
            c.check(h.get("X-Token-Bucket") is None, "X-Token-Bucket reached a client")
    finally:
        for s in stubs:
            s.stop()


def start_nginx(repo, c, nginx, relpath, hosts, listens):
    tmp = new_tmp()
    make_cert(tmp)
    with open(os.path.join(repo, relpath), encoding="utf-8") as f:
        text = f.read()
    is_main = re.search(r"^http\s*\{", text, re.M) is not None
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(adapt_nginx(text, tmp, is_main, hosts, listens))
    ng = Nginx(nginx, conf, tmp)
    try:
        for p in listens.values():
            ng.wait_port(p)
    except Exception:
        ng.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ng


def run_fleet_case(repo, c, nginx, hosts, listens, pub_ok, int_ok, app):
    where = "compose/nginx.conf"
    ng = start_nginx(repo, c, nginx, "deploy/compose/nginx.conf", hosts, listens)
    seen = []
    port = listens[443]
    try:
        # Issuance: a POST, retried past the 503 and the refused replica.
        for i in range(6):
            st, h, b = request(port, "POST", "/request",
                               {"Content-Type": "application/private-token-request", "X-Athm-Bucket": "3"},
                               b"token-request-%d" % i)
            seen.append(h)
            c.check(st == 200 and b == b"resp", "%s: POST /request %d must reach the serving replica: %s" % (where, i, st))
        c.check(pub_ok.count("/request") == 6, "%s: each issuance must be answered once" % where)
        last = pub_ok.last("/request")
        c.check(last["headers"].get_all("X-Athm-Bucket") == ["0"],
                "%s: athmd must get nginx's bucket (0 for loopback), not the client's: %s"
                % (where, last["headers"].get_all("X-Athm-Bucket")))
        c.check(last["body"] == b"token-request-5", "%s: the request body must be forwarded" % where)

        # Directory: proxied, then cached; conditional requests get 304.
        n = pub_ok.count("/.well-known/private-token-issuer-directory")
        for _ in range(3):
            st, h, b = request(port, "GET", "/.well-known/private-token-issuer-directory", {"X-Athm-Bucket": "3"})
            seen.append(h)
            c.check(st == 200 and b == DIRECTORY, "%s: directory: %s" % (where, st))
            c.check(h.get("ETag") == '"dir-1"', "%s: the directory ETag must pass" % where)
        c.check(pub_ok.count("/.well-known/private-token-issuer-directory") == n + 1,
                "%s: the directory must be served from nginx's cache after the first fetch" % where)
        d = pub_ok.last("/.well-known/private-token-issuer-directory")
        c.check(d["headers"].get("X-Athm-Bucket") is None, "%s: a client's X-Athm-Bucket must be dropped" % where)
        st, h, b = request(port, "GET", "/.well-known/private-token-issuer-directory", {"If-None-Match": '"dir-1"'})
        seen.append(h)
        c.check(st == 304, "%s: If-None-Match must give 304, got %s" % (where, st))
        st, h, b = request(port, "POST", "/.well-known/private-token-issuer-directory", {}, b"x")
        c.check(st == 403, "%s: POST to the directory must be refused, got %s" % (where, st))

        for path, want in (("/healthz", 200), ("/readyz", 404), ("/redeem", 404), ("/metrics", 404)):
            st, h, b = request(port, "GET", path)
            seen.append(h)
            c.check(st == want, "%s: public GET %s must be %s, got %s" % (where, path, want, st))

        seen += check_auth_flow(c, where, port, int_ok, app)

        # Internal server: /redeem (POST retried on 503) and /auth.
        st, h, b = request(listens[8081], "POST", "/redeem",
                           {"Content-Type": "application/private-token"}, b"t" * 132, tls=False)
        c.check(st == 200 and b == b'{"bucket":2}', "%s: internal /redeem: %s %r" % (where, st, b))
        c.check(int_ok.last("/redeem")["body"] == b"t" * 132, "%s: /redeem body must be forwarded" % where)
        st, h, b = request(listens[8081], "GET", "/auth", {"Authorization": GOOD_TOKEN}, tls=False)
        c.check(st == 200 and h.get("X-Token-Bucket") == "2",
                "%s: internal /auth must answer with the bucket: %s" % (where, st))
        st, h, b = request(listens[8081], "GET", "/metrics", tls=False)
        c.check(st == 404, "%s: internal server must not proxy /metrics, got %s" % (where, st))

        with open(os.path.join(ng.tmp, "log", "access.log"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        c.check("/app/page" in log, "%s: the access log must record requests" % where)
        for secret in ("secret-query", "Z29vZC10b2tlbi1mb3ItdGVzdHM", "token-request"):
            c.check(secret not in log, "%s: the access log must not hold %r" % (where, secret))
    except Exception as e:  # noqa: BLE001
        c.fail("%s: %s\n%s" % (where, e, ng.error_log()))
    finally:
        ng.stop()
        shutil.rmtree(ng.tmp, ignore_errors=True)
    return seen


def run_single_case(repo, c, nginx, hosts, listens, pub, internal, app):
    where = "nginx/athmd-nginx.conf"
    ng = start_nginx(repo, c, nginx, "deploy/nginx/athmd-nginx.conf", hosts, listens)
    seen = []
    port = listens[443]
    try:
        st, h, b = request(port, "POST", "/request",
                           {"Content-Type": "application/private-token-request", "X-Athm-Bucket": "3"}, b"req")
        seen.append(h)
        c.check(st == 200, "%s: POST /request: %s" % (where, st))
        c.check(pub.last("/request")["headers"].get("X-Athm-Bucket") is None,
                "%s: a client's X-Athm-Bucket must be dropped" % where)
        st, h, b = request(port, "GET", "/.well-known/private-token-issuer-directory")
        seen.append(h)
        c.check(st == 200 and b == DIRECTORY, "%s: directory: %s" % (where, st))
        seen += check_auth_flow(c, where, port, internal, app)
    except Exception as e:  # noqa: BLE001
        c.fail("%s: %s\n%s" % (where, e, ng.error_log()))
    finally:
        ng.stop()
        shutil.rmtree(ng.tmp, ignore_errors=True)
    return seen


# ---------------------------------------------------------------------------
# key-sync

def check_key_sync(repo, c, athm):
    script = os.path.join(repo, "deploy", "docker", "athmd-key-sync")
    c.check(os.access(script, os.X_OK), "athmd-key-sync must be executable")
    tmp = tempfile.mkdtemp(prefix="athm-keysync-")
    try:
        src = os.path.join(tmp, "secret")
        dst = os.path.join(tmp, "keys")
        os.makedirs(src)
        os.makedirs(dst)
        # Key files: real ones when athm is available.
        contents = {}
        gen = os.path.join(tmp, "gen")
        if athm:
            for _ in range(3):
                r = subprocess.run([athm, "keygen", "--dir", gen, "--buckets", "4", "--deployment-id", "sync-test"],
                                   capture_output=True, text=True)
                c.check(r.returncode == 0, "athm keygen failed: %s" % r.stderr)
            for name in sorted(os.listdir(gen)):
                if name.endswith(".key"):
                    with open(os.path.join(gen, name), "rb") as f:
                        contents[name] = f.read()
        else:
            for i in range(3):
                contents["%016x.key" % (i + 1)] = b"key %d\n" % i
        names = sorted(contents)
        if not c.check(len(names) == 3, "three key files expected"):
            return

        def publish(version, files):
            """Lays out |files| like the kubelet: ..<version>/ + ..data symlink + per-file symlinks."""
            vdir = os.path.join(src, ".." + version)
            os.makedirs(vdir)
            for n, data in files.items():
                with open(os.path.join(vdir, n), "wb") as f:
                    f.write(data)
                os.chmod(os.path.join(vdir, n), 0o440)
            tmp_link = os.path.join(src, "..data_tmp")
            os.symlink(".." + version, tmp_link)
            os.replace(tmp_link, os.path.join(src, "..data"))
            for n in os.listdir(src):
                if not n.startswith("..") and n not in files:
                    os.remove(os.path.join(src, n))
            for n in files:
                if not os.path.lexists(os.path.join(src, n)):
                    os.symlink(os.path.join("..data", n), os.path.join(src, n))

        def run(*args):
            return subprocess.run([script] + list(args), capture_output=True, text=True, timeout=60)

        def dst_state():
            out = {}
            for n in os.listdir(dst):
                p = os.path.join(dst, n)
                st = os.lstat(p)
                with open(p, "rb") as f:
                    out[n] = (stat.S_IMODE(st.st_mode), stat.S_ISREG(st.st_mode), f.read(), st.st_ino)
            return out

        first = {names[0]: contents[names[0]], names[1]: contents[names[1]], "README.txt": b"not a key\n"}
        publish("v1", first)
        r = run("--once", src, dst)
        c.check(r.returncode == 0, "key-sync --once failed: %s" % r.stderr)
        s = dst_state()
        c.check(sorted(s) == names[:2], "key-sync must copy exactly the *.key entries, got %s" % sorted(s))
        for n in names[:2]:
            if n in s:
                c.check(s[n][0] == 0o600 and s[n][1], "%s must be a regular file with mode 0600" % n)
                c.check(s[n][2] == contents[n], "%s content differs" % n)
        secrets = [l for n in names for l in contents[n].decode(errors="replace").splitlines() if len(l) >= 16]
        c.check(bool(secrets) or not athm, "key files must have content to look for")
        c.check(not any(l in r.stderr + r.stdout for l in secrets), "key-sync must not print key material")
        if athm:
            r = subprocess.run([athm, "list", "--dir", dst], capture_output=True, text=True)
            c.check(r.returncode == 0 and all(n[:16] in r.stdout for n in names[:2]),
                    "athm list on the synced directory: %s%s" % (r.stdout, r.stderr))

        # Unchanged source: nothing rewritten.
        before = dst_state()
        r = run("--once", src, dst)
        c.check(r.returncode == 0 and dst_state() == before, "an unchanged source must leave DST untouched")

        # Rotation: a new version adds one key and drops another.
        publish("v2", {names[1]: contents[names[1]], names[2]: contents[names[2]]})
        r = run("--once", src, dst)
        s = dst_state()
        c.check(r.returncode == 0 and sorted(s) == names[1:], "rotation: expected %s, got %s" % (names[1:], sorted(s)))
        c.check(not any(n.startswith(".") for n in os.listdir(dst)), "no temporary file may be left behind")

        # A changed file is replaced by rename (new inode), not rewritten in place.
        ino = s[names[2]][3] if names[2] in s else None
        publish("v3", {names[1]: contents[names[1]], names[2]: contents[names[0]]})
        r = run("--once", src, dst)
        s = dst_state()
        c.check(r.returncode == 0 and s.get(names[2], (0, 0, b""))[2] == contents[names[0]],
                "a changed key file must be updated")
        c.check(s.get(names[2], (0, 0, b"", ino))[3] != ino, "updates must be atomic renames")

        # A missing DST is created with mode 0700 (a subdirectory of a 0777
        # emptyDir); a missing parent is not.
        sub = os.path.join(tmp, "shared", "private")
        os.makedirs(os.path.dirname(sub))
        os.chmod(os.path.dirname(sub), 0o777)
        r = run("--once", src, sub)
        c.check(r.returncode == 0 and os.path.isdir(sub), "key-sync must create a missing DST: %s" % r.stderr)
        if os.path.isdir(sub):
            c.check(stat.S_IMODE(os.stat(sub).st_mode) == 0o700, "a created DST must have mode 0700")
            c.check(sorted(os.listdir(sub)) == sorted(dst_state()), "the created DST must get the keys")
        r = run("--once", src, os.path.join(tmp, "absent", "private"))
        c.check(r.returncode == 1 and not os.path.exists(os.path.join(tmp, "absent")),
                "a DST whose parent is missing must fail: %s" % r.stderr)

        # An emptied Secret does not wipe the keys.
        before = dst_state()
        publish("v4", {"README.txt": b"empty\n"})
        r = run("--once", src, dst)
        c.check(r.returncode == 1 and dst_state() == before, "an empty source must fail and keep DST")

        # Usage errors.
        for args in (["--once"], ["--interval", "0", src, dst], ["--bogus", src, dst]):
            c.check(run(*args).returncode == 2, "usage error expected for %s" % args)
        c.check(run("--once", os.path.join(tmp, "missing"), dst).returncode == 1, "a missing source must fail")

        # Loop mode follows changes and stops on SIGTERM.
        publish("v5", {names[0]: contents[names[0]]})
        p = subprocess.Popen([script, "--interval", "1", src, dst], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and sorted(os.listdir(dst)) != [names[0]]:
                time.sleep(0.1)
            c.check(sorted(os.listdir(dst)) == [names[0]], "loop mode must apply the new Secret version")
            publish("v6", {names[0]: contents[names[0]], names[2]: contents[names[2]]})
            while time.monotonic() < end and sorted(os.listdir(dst)) != [names[0], names[2]]:
                time.sleep(0.1)
            c.check(sorted(os.listdir(dst)) == [names[0], names[2]], "loop mode must keep following the Secret")
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
        c.check(rc == 0, "loop mode must exit 0 on SIGTERM, got %s" % rc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# check-config

def check_configs(repo, c, athmd, athm):
    if not (c.check(athmd and os.access(athmd, os.X_OK), "athmd binary missing: %s" % athmd) and
            c.check(athm and os.access(athm, os.X_OK), "athm binary missing: %s" % athm)):
        return
    configs = athmd_configs(repo)
    labels = [l for l, _ in configs]
    for expected in ("deploy/config/athmd.yaml", "deploy/config/athmd-fleet.yaml", "deploy/docker/athmd.yaml",
                     "deploy/compose/configs/athmd.yaml"):
        c.check(expected in labels, "athmd config %s not found" % expected)
    c.check(any("ConfigMap" in l for l in labels), "the Kubernetes ConfigMap's athmd.yaml not found")
    tmp = tempfile.mkdtemp(prefix="athm-checkcfg-")
    try:
        keys = os.path.join(tmp, "keys")
        r = subprocess.run([athm, "keygen", "--dir", keys, "--buckets", "4", "--deployment-id", "deploy-test"],
                           capture_output=True, text=True)
        if not c.check(r.returncode == 0, "athm keygen: %s%s" % (r.stdout, r.stderr)):
            return
        tls = make_cert(tmp)
        for i, (label, text) in enumerate(configs):
            cfg = yaml.safe_load(text)
            subst = {dig(cfg, "keys", "directory"): keys}
            lmdb = dig(cfg, "store", "lmdb", "path")
            if lmdb:
                subst[lmdb] = os.path.join(tmp, "spent-%d" % i)
            for lst in (dig(cfg, "listeners", default={}) or {}).values():
                for k, v in (dig(lst, "tls", default={}) or {}).items():
                    subst[v] = os.path.join(tls, "fullchain.pem" if k == "cert_file" else "privkey.pem")
            for old in sorted(subst, key=len, reverse=True):
                text = re.sub(r"(:\s*)" + re.escape(old) + r"(\s|$)", lambda m: m.group(1) + subst[old] + m.group(2),
                              text)
            path = os.path.join(tmp, "config-%d.yaml" % i)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            r = subprocess.run([athmd, "--check-config", path], capture_output=True, text=True, timeout=60)
            c.check(r.returncode == 0, "athmd --check-config %s:\n%s%s" % (label, r.stdout, r.stderr))
            # The check is real: the same file with an unknown key is rejected.
            with open(path, "a", encoding="utf-8") as f:
                f.write("\nnot_a_section: 1\n")
            r = subprocess.run([athmd, "--check-config", path], capture_output=True, text=True, timeout=60)
            c.check(r.returncode != 0 and "not_a_section" in (r.stdout + r.stderr),
                    "athmd --check-config %s with an unknown key must fail naming it" % label)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["yaml", "references", "nginx-syntax", "nginx-proxy", "key-sync",
                                      "check-config"])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--athmd")
    ap.add_argument("--athm")
    a = ap.parse_args()
    c = Checker()
    if yaml is None:
        c.fail("python3 'yaml' module missing (Debian package python3-yaml; scripts/install-deps.sh)")
        return c.finish(a.check)
    repo = os.path.abspath(a.repo)
    try:
        if a.check == "yaml":
            check_yaml(repo, c)
        elif a.check == "references":
            check_references(repo, c, a.athmd, a.athm)
        elif a.check == "nginx-syntax":
            check_nginx_syntax(repo, c)
        elif a.check == "nginx-proxy":
            check_nginx_proxy(repo, c)
        elif a.check == "key-sync":
            check_key_sync(repo, c, a.athm)
        elif a.check == "check-config":
            check_configs(repo, c, a.athmd, a.athm)
    except Exception as e:  # noqa: BLE001 - an unexpected error is a failure with its trace
        import traceback
        traceback.print_exc()
        c.fail("%s: unexpected error: %s" % (a.check, e))
    return c.finish(a.check)


if __name__ == "__main__":
    sys.exit(main())
