#!/usr/bin/env python3
"""Turns crypto_bench JSON output into multiples of one variable-base
EC_POINT_mul measured in the same run, and the speed-up over the oracle.

  build/tests/bench/crypto_bench --benchmark_format=json > bench.json
  python3 tests/bench/ratios.py bench.json
"""
import json
import sys


def main(path):
    with open(path) as f:
        data = json.load(f)
    cpu = {}
    for b in data["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
        cpu[b["name"]] = b["cpu_time"] * unit  # microseconds
    var = cpu["BM_ec_mul_variable_base"]
    print(f"one variable-base EC_POINT_mul: {var:.1f} us (CPU)")
    print(f"{'benchmark':32} {'us':>10} {'x var-mul':>10}")
    for name, us in cpu.items():
        print(f"{name:32} {us:10.1f} {us / var:10.2f}")
    print()
    for n in (2, 4, 8):
        resp = cpu.get(f"BM_token_response/{n}")
        orc = cpu.get(f"BM_oracle_token_response/{n}")
        ver = cpu.get(f"BM_verify_token/{n}")
        over = cpu.get(f"BM_oracle_verify_token/{n}")
        if resp and orc:
            print(f"n={n}: TokenResponse {resp / var:.2f} x var-mul, oracle {orc / var:.2f}, "
                  f"speed-up {orc / resp:.2f}x; VerifyToken {ver / var:.2f} (oracle {over / var:.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin")
