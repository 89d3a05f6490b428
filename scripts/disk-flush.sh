#!/usr/bin/env bash
# The disk's flush latency as the LMDB writer meets it: in a 64 MiB file on
# the file system of DIR (default: $TMPDIR or /tmp, where the soak and load
# scripts keep their LMDB), each round writes PAGES random 4 KiB pages
# (pwrite) and then calls fdatasync, for SECONDS. Prints the count and the
# p50/p90/p99/max of one round. Nothing else should run meanwhile.
#
#   scripts/disk-flush.sh [--dir DIR] [--pages N] [--seconds S]
#
#   --pages 1    one spend committed alone (an idle writer)
#   --pages 20   as the probe behind the disk figures under "Load and soak"
#                in docs/performance.md
set -euo pipefail

DIR=${TMPDIR:-/tmp}
PAGES=1
SECONDS_=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --pages) PAGES=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
done
[[ -d $DIR ]] || { echo "disk-flush: $DIR is not a directory" >&2; exit 2; }

python3 - "$DIR" "$PAGES" "$SECONDS_" <<'EOF'
import os, random, sys, tempfile, time

directory, pages, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
size = 64 << 20
page = 4096
fd, path = tempfile.mkstemp(prefix="athm-disk-flush-", dir=directory)
try:
    block = os.urandom(1 << 20)
    for off in range(0, size, len(block)):  # allocated and on disk before timing
        os.pwrite(fd, block, off)
    os.fsync(fd)
    rng = random.Random(1)
    data = os.urandom(page)
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        for _ in range(pages):
            os.pwrite(fd, data, rng.randrange(size // page) * page)
        os.fdatasync(fd)
        times.append((time.perf_counter() - t0) * 1000.0)
finally:
    os.close(fd)
    os.unlink(path)

times.sort()
def pct(p):
    return times[min(len(times) - 1, int(len(times) * p))]
st = os.statvfs(directory)
print(f"{len(times)} rounds of {pages} x 4 KiB pwrite + fdatasync in {seconds:.0f} s on "
      f"{directory}: p50 {pct(0.50):.2f} ms, p90 {pct(0.90):.2f} ms, p99 {pct(0.99):.2f} ms, "
      f"max {times[-1]:.2f} ms (p99/p50 {pct(0.99) / pct(0.50):.1f})")
EOF
