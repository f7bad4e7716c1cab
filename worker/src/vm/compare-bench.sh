#!/bin/sh
# The benchmarks of `layercake compare`, the same script on the host, in a container and in a
# VM (compare.ts runs it with sh). Each benchmark is short and bounded by timeout(1); the
# tool's own output goes between two marker lines, and compare.ts reads the figures from it:
#   @@lc-bench begin <name>   …tool output…   @@lc-bench end <name> <status>
#   @@lc-bench missing <name> <tool>          (the image has no such tool)
# Settings: LC_BENCH_SECONDS (each timed benchmark), LC_BENCH_DISK (dd's target: a file, or
# the VM's scratch disk), LC_BENCH_PORT (iperf3's port on the loopback).
secs=${LC_BENCH_SECONDS:-2}
disk=${LC_BENCH_DISK:-/lc-bench.dd}
port=${LC_BENCH_PORT:-5201}
limit=$((secs + 20))
mark() { echo "@@lc-bench $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

if have sysbench; then
  mark begin cpu
  timeout "$limit" sysbench cpu --threads=1 --time="$secs" run 2>&1
  mark end cpu $?
  for oper in write read; do
    mark begin "memory-$oper"
    # 1 MiB blocks over a total no run reaches in time: the time is the bound, not the size.
    timeout "$limit" sysbench memory --threads=1 --time="$secs" --memory-block-size=1M \
      --memory-total-size=10000G --memory-oper="$oper" run 2>&1
    mark end "memory-$oper" $?
  done
else
  mark missing cpu sysbench; mark missing memory-write sysbench; mark missing memory-read sysbench
fi

if have dd; then
  mark begin disk
  # 32 MiB written and flushed to the disk (fdatasync), not just to the page cache.
  timeout "$limit" dd if=/dev/zero of="$disk" bs=1M count=32 conv=fdatasync 2>&1
  mark end disk $?
  [ -f "$disk" ] && rm -f "$disk"
else
  mark missing disk dd
fi

if have iperf3; then
  iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  server=$!
  mark begin network
  # The server may still be starting (slowly, under emulation): try again for a few seconds.
  tries=0
  until timeout "$limit" iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -f m 2>&1; do
    tries=$((tries + 1)); [ $tries -ge 10 ] && break; sleep 1
  done
  mark end network $?
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
else
  mark missing network iperf3
fi
mark done
