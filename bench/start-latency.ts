// Start-to-exit latency of /bin/true in a busybox rootfs, with every hardening on (all
// namespaces, uid mapping, cgroup limits, seccomp, masked paths, capabilities), for
// sandbox-native and for Debian's runc, same config, same run. hyperfine does the timing
// (it subtracts nothing and runs each command without a shell).
//
// Run: npx tsx bench/start-latency.ts [runs]     (as root; `npm run bench` runs every bench)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statfsSync, symlinkSync, copyFileSync, existsSync } from 'node:fs';

const TMPFS_MAGIC = 0x01021994;
import { join } from 'node:path';
import { hardenedSpec, writeBundle } from '../worker/src/runtime/oci-spec.js';

const runs = Number(process.argv[2] ?? 60);
const repo = new URL('..', import.meta.url).pathname;
const launcher = join(repo, 'sandbox-native/build/sandbox-native');
const runc = '/usr/sbin/runc';
const dir = '/run/layercake-bench/start-latency';
// Container state lives on tmpfs on a real host (/run). Where /run is a disk (this VM), keep
// both runtimes' state on /dev/shm so neither pays for disk metadata writes.
const stateDir = statfsSync('/run').type === TMPFS_MAGIC ? dir : '/dev/shm/layercake-bench-state';

function busyboxRootfs(root: string): void {
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  for (const applet of ['sh', 'true']) symlinkSync('busybox', join(root, 'bin', applet));
}

function bundle(name: string, hostId: number): string {
  const b = join(dir, name);
  busyboxRootfs(join(b, 'rootfs'));
  const spec = hardenedSpec({
    containerId: `bench-${name}`,
    rootfsPath: 'rootfs',
    args: ['/bin/true'],
    idRange: { hostId },
    memoryBytes: 256 * 1024 * 1024,
    pidsMax: 128,
    cpuQuotaMicros: 50_000,
    cgroupsPath: `/layercake-bench/${name}`,
  });
  writeBundle(b, spec);
  return b;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

if (!existsSync(launcher)) throw new Error(`build the launcher first: make -C sandbox-native (${launcher} is missing)`);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const sn = bundle('native', 1_900_000_000);
const rc = bundle('runc', 1_900_065_536);
const out = join(dir, 'hyperfine.json');
execFileSync(
  'hyperfine',
  [
    '-N', '--warmup', '5', '--runs', String(runs), '--export-json', out, '--style', 'none',
    '-n', 'sandbox-native', `${launcher} --root ${stateDir}/state-native run --bundle ${sn} bench-native`,
    '-n', 'runc', `${runc} --root ${stateDir}/state-runc run --bundle ${rc} bench-runc`,
    // The machine's floor: the same namespaces around /bin/true with nothing else (no rootfs,
    // mounts, cgroups or seccomp), so the figures above can be read against this host.
    '-n', 'floor: unshare', 'unshare --user --map-root-user --mount --pid --fork --net --uts --ipc --cgroup /bin/true',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const results = JSON.parse(readFileSync(out, 'utf8')).results as { command: string; times: number[]; exit_codes: number[] }[];
const rows = results.map((r) => {
  if (r.exit_codes.some((c) => c !== 0)) throw new Error(`${r.command}: some runs failed (exit codes ${[...new Set(r.exit_codes)]})`);
  const ms = r.times.map((t) => t * 1000).sort((a, b) => a - b);
  return { name: r.command, p50: percentile(ms, 50), p99: percentile(ms, 99), n: ms.length };
});
const [native, peer, floor] = rows;
console.log('start-to-exit latency of /bin/true, all hardening on');
for (const r of rows) console.log(`  ${r.name.padEnd(15)} p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   (${r.n} runs)`);
console.log(`  ratio p50 sandbox-native/runc = ${(native!.p50 / peer!.p50).toFixed(3)}  (target ≤ 0.333, and p50 ≤ 10 ms)`);
console.log(`  sandbox-native above the bare-namespace floor: ${(native!.p50 - floor!.p50).toFixed(2)} ms`);
rmSync(dir, { recursive: true, force: true });
rmSync(stateDir, { recursive: true, force: true });
