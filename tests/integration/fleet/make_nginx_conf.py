#!/usr/bin/env python3
"""Writes the nginx config of the fleet test: the shipped
deploy/compose/nginx.conf, adapted to loopback by tests/deploy/deploy_check.py
(adapt_nginx, make_cert), plus what only the test needs:

  - a plain-HTTP listener on the public server, next to the TLS one, so the
    test client (plain HTTP) goes through the same locations;
  - the example origin ("app:80") as an nginx server that answers 200 and
    echoes the X-Token-Bucket it was given.

  make_nginx_conf.py --repo R --dir D --replicas P1:I1,P2:I2,P3:I3
                     --tls-port T --plain-port H --internal-port N
                     --origin-port O

Writes D/nginx.conf (and D/tls/, D/log/, D/cache/). Prints nothing; exit
status 1 with a message on failure.
"""

import argparse
import importlib.util
import os
import re
import sys


def load_deploy_check(repo):
    path = os.path.join(repo, "tests", "deploy", "deploy_check.py")
    spec = importlib.util.spec_from_file_location("deploy_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--replicas", required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--plain-port", type=int, required=True)
    ap.add_argument("--internal-port", type=int, required=True)
    ap.add_argument("--origin-port", type=int, required=True)
    a = ap.parse_args()

    dc = load_deploy_check(a.repo)
    with open(os.path.join(a.repo, "deploy", "compose", "nginx.conf"), encoding="utf-8") as f:
        text = f.read()

    hosts = {"app:80": "127.0.0.1:%d" % a.origin_port}
    for i, pair in enumerate(a.replicas.split(","), start=1):
        pub, internal = pair.split(":")
        hosts["athmd-%d:8080" % i] = "127.0.0.1:%s" % pub
        hosts["athmd-%d:8081" % i] = "127.0.0.1:%s" % internal
    dc.make_cert(a.dir)
    text = dc.adapt_nginx(text, a.dir, True, hosts=hosts,
                          listens={443: a.tls_port, 8081: a.internal_port})

    tls_listen = "listen 127.0.0.1:%d ssl;" % a.tls_port
    if text.count(tls_listen) != 1:
        sys.exit("make_nginx_conf: expected one '%s' in the adapted config" % tls_listen)
    text = text.replace(tls_listen, tls_listen + "\n    listen 127.0.0.1:%d;" % a.plain_port)

    origin = (
        "  # Test-only stand-in for the example origin application.\n"
        "  server {\n"
        "    listen 127.0.0.1:%d;\n"
        "    location / {\n"
        "      add_header X-Origin-Saw-Bucket \"$http_x_token_bucket\" always;\n"
        "      return 200 \"origin bucket=$http_x_token_bucket\\n\";\n"
        "    }\n"
        "  }\n" % a.origin_port)
    # Before the closing brace of the http block (the last line of the file).
    text, n = re.subn(r"\}\s*\Z", origin + "}\n", text)
    if n != 1:
        sys.exit("make_nginx_conf: no closing brace of the http block")

    with open(os.path.join(a.dir, "nginx.conf"), "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
