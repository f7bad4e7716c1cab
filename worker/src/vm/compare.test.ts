// `compare` for real: the bench image built from Debian's archive (mmdebstrap, a minute or
// more), the benchmarks on this host, in a sandbox-native container and in a qemu VM (TCG
// here), then what a compare stopped half-way leaves (nothing). The parser is checked on the
// tools' own output, captured from this machine. Nothing mocked.
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../containers/test-support/harness.js';
import { compareMachines, parseBenchOutput, type CompareDeps } from './compare.js';

const CGROUP_PARENT = `layercake-vm-test-compare-${process.pid}`;
let h: Harness;
let deps: CompareDeps;

beforeAll(async () => {
  h = await createHarness('compare');
  deps = { store: h.store, containers: h.containers(), vmHost: { dataDir: h.dataDir, idRanges: h.idRanges, log: pino({ level: 'warn' }), cgroupParent: CGROUP_PARENT } };
}, 120_000);

afterAll(async () => {
  const left = leftovers();
  for (const c of ['memory', 'pids', 'cpu', '']) {
    const dir = join('/sys/fs/cgroup', c, CGROUP_PARENT);
    if (existsSync(dir)) rmdirSync(dir);
  }
  await h.close();
  expect(left).toEqual([]);
}, 120_000);

/** A VM's leftovers (the harness checks the container's): qemu of this harness's uids, its cgroup, its scratch disk. */
function leftovers(): string[] {
  const found: string[] = [];
  const [low, high] = [h.idRanges.baseId, h.idRanges.baseId + 64 * 65536];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let status = '';
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    if (uid >= low && uid < high) found.push(`process ${pid} (${/^Name:\s+(.*)$/m.exec(status)?.[1]})`);
  }
  for (const c of ['memory', 'pids', 'cpu', '']) {
    const dir = join('/sys/fs/cgroup', c, CGROUP_PARENT);
    if (existsSync(dir)) for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) found.push(`cgroup ${join(dir, e.name)}`);
  }
  const scratch = join(h.dataDir, 'vm', 'scratch');
  if (existsSync(scratch)) for (const f of readdirSync(scratch)) found.push(`scratch disk ${f}`);
  const vmDir = join(h.dataDir, 'vm');
  if (existsSync(vmDir)) for (const f of readdirSync(vmDir)) if (f.startsWith('compare-')) found.push(`host work dir ${f}`);
  return found;
}

describe('reading the benchmarks’ output', () => {
  it('takes each figure from its tool’s own line, and says why a figure is missing', () => {
    const out = [
      '@@lc-bench begin cpu', 'CPU speed:', '    events per second:  3062.42', '@@lc-bench end cpu 0',
      '@@lc-bench begin memory-write', '16588.00 MiB transferred (16568.83 MiB/sec)', '@@lc-bench end memory-write 0',
      // The serial console's line ends.
      '@@lc-bench begin memory-read\r', '32461.00 MiB transferred (32421.75 MiB/sec)\r', '@@lc-bench end memory-read 0\r',
      '@@lc-bench begin disk', "dd: failed to open '/x': Read-only file system", '@@lc-bench end disk 1',
      '@@lc-bench missing network iperf3',
    ].join('\n');
    const f = parseBenchOutput(out);
    expect(f.cpu).toEqual({ value: 3062.42, raw: 'events per second:  3062.42' });
    expect(f.memoryWrite.value).toBe(16568.83);
    expect(f.memoryRead.value).toBe(32421.75);
    expect(f.disk).toMatchObject({ value: null, missing: 'failed (exit 1)', raw: expect.stringContaining('Read-only') });
    expect(f.network).toMatchObject({ value: null, missing: 'iperf3 is not in the image' });
    // dd's rate is computed from its bytes and seconds; iperf3's from the receiver's line.
    const g = parseBenchOutput(
      '@@lc-bench begin disk\n33554432 bytes (34 MB, 32 MiB) copied, 0.5 s, 67 MB/s\n@@lc-bench end disk 0\n@@lc-bench begin network\n[  5]   0.00-2.00   sec   926 MBytes  3882 Mbits/sec                  receiver\n',
    );
    expect(g.disk.value).toBeCloseTo(67.11, 1);
    expect(g.network.value).toBe(3882);
    // A section that never ended: cut off at its limit; one that never began: the machine ended first.
    expect(parseBenchOutput('@@lc-bench begin network\nConnecting to host 127.0.0.1\n').network.missing).toBe('cut off (the time limit)');
    expect(parseBenchOutput('').cpu.missing).toMatch(/did not run/);
  });
});

describe('compare busybox', () => {
  it('measures host, container and VM with the bench image’s tools (busybox has none), as ratios to the host', async () => {
    const phases: string[] = [];
    const table = await compareMachines({ ...deps, onMachine: (m, p) => phases.push(`${m}:${p}`) }, 'busybox');
    expect(phases).toEqual(['host:start', 'host:done', 'container:start', 'container:done', 'vm:start', 'vm:done']);
    expect(table).toMatchObject({ image: 'busybox', ranImage: 'layercake/bench:latest', substituted: true });
    expect(table.runs.map((r) => [r.machine, r.error])).toEqual([['host', undefined], ['container', undefined], ['vm', undefined]]);
    for (const row of table.rows) {
      // Every benchmark ran on every machine, and each ratio is that machine's figure over the host's.
      expect(row.host, row.metric).toBeGreaterThan(0);
      expect(row.container, row.metric).toBeGreaterThan(0);
      expect(row.vm, row.metric).toBeGreaterThan(0);
      expect(row.containerRatio).toBeCloseTo(row.container! / row.host!, 2);
      expect(row.vmRatio).toBeCloseTo(row.vm! / row.host!, 2);
    }
    // The raw figures are the tools' lines.
    expect(table.runs[2]!.figures.cpu.raw).toMatch(/events per second/);
    expect(table.runs[2]!.figures.network.raw).toMatch(/receiver/);
    // Under emulation the guest's CPU is far slower than the host's; a container's is the host's.
    if (table.accel === 'tcg') expect(table.rows[0]!.vmRatio!).toBeLessThan(0.5);
    expect(table.rows[0]!.containerRatio!).toBeGreaterThan(0.5);
    expect(leftovers()).toEqual([]);
    expect(await h.leftovers()).toEqual([]);
  }, 900_000);

  it('stopped while the VM runs, it ends at once and leaves no VM, container or file behind', async () => {
    const abort = new AbortController();
    const started = compareMachines(
      { ...deps, signal: abort.signal, onMachine: (m, p) => m === 'vm' && p === 'start' && setTimeout(() => abort.abort(), 3_000) },
      'busybox',
    );
    const t0 = Date.now();
    const table = await started;
    const vm = table.runs.find((r) => r.machine === 'vm')!;
    expect(vm.error).toBeDefined();
    expect(vm.figures.cpu.value).toBeNull();
    expect(Date.now() - t0).toBeLessThan(120_000);
    expect(leftovers()).toEqual([]);
    expect(await h.leftovers()).toEqual([]);
  }, 300_000);
});
