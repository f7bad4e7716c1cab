// `compare`: the seed's table measured live. The same short benchmarks (compare-bench.sh:
// sysbench CPU, memory write and read, dd to disk, iperf3 over the loopback) run on the host,
// in a container and in a VM of one image, one after another so they do not compete for the
// cores; the table gives each machine's figures as ratios to the host's, with the lines the
// tools printed.
//
// The tools must be in the image. An image without sysbench or iperf3 (busybox) is measured
// through the bench image instead (layercake/bench: Debian with both), and the result says so:
// what the columns compare is the machine (the host's kernel directly, a container's
// namespaces and cgroups, an emulated or virtualised CPU), and the figures depend on that, not
// on which files the image holds. The host runs the host's own sysbench and iperf3 (Debian's
// same packages).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureBaseImage } from '../base-images/index.js';
import type { Containers } from '../containers/index.js';
import type { ImageStore } from '../image-store/index.js';
import { vmOfImage } from './image-run.js';
import type { Accel } from './qemu.js';
import { hostAccel, startVm, type VmHost } from './vm.js';

export type Machine = 'host' | 'container' | 'vm';
export type Metric = 'cpu' | 'memoryWrite' | 'memoryRead' | 'disk' | 'network';

/** Each benchmark: its section in the script's output, its unit, and how its figure is read. */
export const BENCHMARKS: readonly { metric: Metric; section: string; unit: string; tool: string }[] = Object.freeze([
  { metric: 'cpu', section: 'cpu', unit: 'events/s', tool: 'sysbench' },
  { metric: 'memoryWrite', section: 'memory-write', unit: 'MiB/s', tool: 'sysbench' },
  { metric: 'memoryRead', section: 'memory-read', unit: 'MiB/s', tool: 'sysbench' },
  { metric: 'disk', section: 'disk', unit: 'MB/s', tool: 'dd 32 MiB, fdatasync' },
  { metric: 'network', section: 'network', unit: 'Mbit/s', tool: 'iperf3, loopback' },
]);

export const BENCH_IMAGE = 'layercake/bench:latest';
const SCRIPT = new URL('./compare-bench.sh', import.meta.url).pathname;
/** Each timed benchmark's length (sysbench --time, iperf3 -t). */
const BENCH_SECONDS = 2;
/** One machine's whole script: five benchmarks of a few seconds, plus a VM's boot under TCG. */
const MACHINE_LIMIT_MS = { host: 90_000, container: 90_000, vm: 300_000 } as const;
/** The same for container and VM, so neither column is the other's limit. */
const MACHINE_MEMORY_BYTES = 256 * 1024 * 1024;
const MACHINE_CPUS = 1;
const RAW_KEPT_CHARS = 400;

export interface Figure {
  /** In the benchmark's unit; null when it could not run (`missing` says why). */
  value: number | null;
  /** The line(s) of the tool's output the value was read from, or its last lines when none. */
  raw: string;
  missing?: string;
}

export interface MachineRun {
  machine: Machine;
  /** The image the container or VM ran (null for the host). */
  image: string | null;
  accel?: Accel;
  ms: number;
  figures: Record<Metric, Figure>;
  /** The whole run failed (a VM that never booted): every figure is missing. */
  error?: string;
}

export interface CompareRow {
  metric: Metric;
  unit: string;
  tool: string;
  host: number | null;
  container: number | null;
  vm: number | null;
  /** The machine's figure over the host's (higher is faster for every benchmark here). */
  containerRatio: number | null;
  vmRatio: number | null;
}

export interface CompareTable {
  /** The image asked for. */
  image: string;
  /** The image the container and VM ran: `image`, or the bench image when it lacks the tools. */
  ranImage: string;
  substituted: boolean;
  accel: Accel;
  runs: MachineRun[];
  rows: CompareRow[];
}

export interface CompareDeps {
  store: ImageStore;
  /** The session's containers (the container column is one of its own, removed after). */
  containers: Containers;
  vmHost: VmHost;
  onMachine?: (machine: Machine, phase: 'start' | 'done', run?: MachineRun) => void;
  /** Aborted: the running machine is killed and the rest are not started. */
  signal?: AbortSignal;
}

// ---- reading the script's output -----------------------------------------------------------

const FIGURE_OF: Record<Metric, (text: string) => { value: number; raw: string } | null> = {
  cpu: (t) => match(t, /events per second:\s+([\d.]+)/, (m) => Number(m[1])),
  memoryWrite: (t) => match(t, /\(([\d.]+) MiB\/sec\)/, (m) => Number(m[1])),
  memoryRead: (t) => match(t, /\(([\d.]+) MiB\/sec\)/, (m) => Number(m[1])),
  // GNU dd: "67108864 bytes (67 MB, 64 MiB) copied, 0.2 s, 335 MB/s"; the rate from bytes and seconds.
  disk: (t) => match(t, /(\d+) bytes .*copied, ([\d.]+) s/, (m) => Number(m[1]) / Number(m[2]) / 1e6),
  network: (t) => match(t, /([\d.]+) Mbits\/sec.*receiver/, (m) => Number(m[1])),
};

function match(text: string, re: RegExp, value: (m: RegExpExecArray) => number) {
  const lines = text.split('\n').filter((l) => re.test(l));
  const last = lines.at(-1);
  const m = last ? re.exec(last) : null;
  if (!m) return null;
  const v = value(m);
  return Number.isFinite(v) && v > 0 ? { value: Math.round(v * 100) / 100, raw: last!.trim().slice(0, RAW_KEPT_CHARS) } : null;
}

/** The figures in one machine's output (the serial console's \r\n included). */
export function parseBenchOutput(output: string): Record<Metric, Figure> {
  const text = output.replace(/\r/g, '');
  const sections = new Map<string, { lines: string[]; status: string | null; missing?: string }>();
  let current: string[] | null = null;
  for (const line of text.split('\n')) {
    const m = /^@@lc-bench (begin|end|missing) (\S+)(?: (\S+))?/.exec(line.trim());
    if (m) {
      const [, what, name, arg] = m;
      if (what === 'begin') sections.set(name!, { lines: (current = []), status: null });
      else if (what === 'end') {
        const s = sections.get(name!);
        if (s) s.status = arg ?? null;
        current = null;
      } else sections.set(name!, { lines: [], status: null, missing: `${arg ?? 'the tool'} is not in the image` });
    } else if (current && current.length < 400) current.push(line);
  }
  const figures = {} as Record<Metric, Figure>;
  for (const b of BENCHMARKS) {
    const s = sections.get(b.section);
    if (!s) figures[b.metric] = { value: null, raw: '', missing: 'did not run (the machine ended before it)' };
    else if (s.missing) figures[b.metric] = { value: null, raw: '', missing: s.missing };
    else {
      const found = FIGURE_OF[b.metric](s.lines.join('\n'));
      figures[b.metric] = found ?? {
        value: null,
        raw: s.lines.filter((l) => l.trim()).slice(-3).join('\n').slice(0, RAW_KEPT_CHARS),
        missing: s.status === null ? 'cut off (the time limit)' : `failed (exit ${s.status})`,
      };
    }
  }
  return figures;
}

function allMissing(why: string): Record<Metric, Figure> {
  return Object.fromEntries(BENCHMARKS.map((b) => [b.metric, { value: null, raw: '', missing: why }])) as Record<Metric, Figure>;
}

// ---- the machines ----------------------------------------------------------------------------

function benchEnv(disk: string, port: number): string[] {
  return [`LC_BENCH_SECONDS=${BENCH_SECONDS}`, `LC_BENCH_DISK=${disk}`, `LC_BENCH_PORT=${port}`];
}

/** The host: the script as root with the host's tools, dd on the engine's data disk. */
async function onHost(script: string, workDir: string, signal?: AbortSignal): Promise<string> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  // A port of its own on the host's loopback, away from the usual 5201 another iperf3 may hold.
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], {
      cwd: workDir,
      detached: true, // its own process group, so the limit kills iperf3's server too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...Object.fromEntries(benchEnv(join(workDir, 'bench.dd'), port).map((e) => e.split('=') as [string, string])) },
    });
    let out = '';
    const take = (d: Buffer) => (out.length < 256 * 1024 ? (out += d.toString()) : undefined);
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const killAll = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(killAll, MACHINE_LIMIT_MS.host);
    signal?.addEventListener('abort', killAll);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', killAll);
      killAll(); // the iperf3 server of a run cut short
      resolve(out);
    });
  });
}

/** A container of the image (1 CPU, 256 MiB, like the VM), removed when it exits. */
async function inContainer(containers: Containers, image: string, script: string, signal?: AbortSignal): Promise<string> {
  const { container, attachment } = await containers.run(
    {
      image,
      entrypoint: ['sh', '-c', script],
      env: benchEnv('/lc-bench.dd', 5201),
      autoRemove: true,
      limits: { memoryBytes: MACHINE_MEMORY_BYTES, cpus: MACHINE_CPUS },
    },
    { attach: true },
  );
  let out = '';
  attachment!.on('output', (_s, d: Buffer) => (out.length < 256 * 1024 ? (out += d.toString()) : undefined));
  const kill = () => void containers.kill(container.id).catch(() => {});
  const timer = setTimeout(kill, MACHINE_LIMIT_MS.container);
  signal?.addEventListener('abort', kill);
  await new Promise<void>((resolve) => attachment!.on('close', () => resolve()));
  clearTimeout(timer);
  signal?.removeEventListener('abort', kill);
  // --rm removes it once its exit is seen; remove it now, so the session is as it was.
  await containers.remove(container.id, { force: true }).catch(() => {});
  return out;
}

/** A VM of the image (1 vCPU, 256 MiB), dd to a scratch disk of its own on the engine's data disk. */
async function inVm(host: VmHost, store: ImageStore, imageId: string, script: string, signal?: AbortSignal): Promise<{ output: string; error?: string }> {
  const { image, settings } = await vmOfImage(store, imageId);
  const vm = await startVm(host, image, { ...settings, args: ['sh', '-c', script], env: [...settings.env, ...benchEnv('/dev/lc-scratch', 5201)] }, {
    memoryBytes: MACHINE_MEMORY_BYTES,
    cpus: MACHINE_CPUS,
    timeoutMs: MACHINE_LIMIT_MS.vm,
    scratchDiskBytes: 48 * 1024 * 1024,
  });
  let output = '';
  vm.terminal.on('output', (_s, d: Buffer) => (output.length < 256 * 1024 ? (output += d.toString()) : undefined));
  const kill = () => vm.kill();
  signal?.addEventListener('abort', kill);
  const end = await vm.ended;
  signal?.removeEventListener('abort', kill);
  return end.reason === 'exited' ? { output } : { output, error: end.detail ?? end.reason };
}

/** Whether every layer stack holds the tools the script needs (sysbench and iperf3; dd comes with them). */
async function hasBenchTools(layers: string[]): Promise<boolean> {
  const has = async (tool: string) => {
    for (const layer of layers)
      for (const dir of ['usr/bin', 'bin', 'usr/local/bin'])
        if (await lstat(join(layer, dir, tool)).then(() => true, () => false)) return true;
    return false;
  };
  return (await has('sysbench')) && (await has('iperf3'));
}

function ratio(value: number | null, host: number | null): number | null {
  return value !== null && host !== null && host > 0 ? Math.round((value / host) * 1000) / 1000 : null;
}

/** Runs the benchmarks on the host, in a container and in a VM of `imageRef` (a resolved image id or a name the store knows). */
export async function compareMachines(deps: CompareDeps, imageRef: string, imageName = imageRef): Promise<CompareTable> {
  const script = await readFile(SCRIPT, 'utf8');
  let ran = await deps.store.inspect(imageRef);
  let ranImage = imageName;
  const substituted = !(await hasBenchTools(await deps.store.layerDirs(ran.id)));
  if (substituted) {
    ran = await ensureBaseImage(deps.store, BENCH_IMAGE);
    ranImage = BENCH_IMAGE;
  }
  const accel = await hostAccel(deps.vmHost);
  const runs: MachineRun[] = [];
  const measure = async (machine: Machine, what: () => Promise<{ output: string; error?: string }>) => {
    if (deps.signal?.aborted) throw new Error('compare stopped');
    deps.onMachine?.(machine, 'start');
    const t0 = Date.now();
    let run: MachineRun;
    try {
      const { output, error } = await what();
      const figures = parseBenchOutput(output);
      run = { machine, image: machine === 'host' ? null : ranImage, ms: Date.now() - t0, figures, ...(error ? { error } : {}) };
    } catch (err) {
      // A machine that could not start (a full session, a missing launcher) leaves its column empty, not the table.
      const error = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err);
      run = { machine, image: machine === 'host' ? null : ranImage, ms: Date.now() - t0, figures: allMissing(error), error };
    }
    if (machine === 'vm') run.accel = accel;
    runs.push(run);
    deps.onMachine?.(machine, 'done', run);
  };
  const workDir = join(deps.vmHost.dataDir, 'vm', `compare-${randomBytes(4).toString('hex')}`);
  try {
    await measure('host', async () => ({ output: await onHost(script, workDir, deps.signal) }));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  await measure('container', async () => ({ output: await inContainer(deps.containers, ran.id, script, deps.signal) }));
  await measure('vm', () => inVm(deps.vmHost, deps.store, ran.id, script, deps.signal));

  const of = (m: Machine) => runs.find((r) => r.machine === m)!.figures;
  const rows = BENCHMARKS.map((b): CompareRow => {
    const host = of('host')[b.metric].value;
    const container = of('container')[b.metric].value;
    const vm = of('vm')[b.metric].value;
    return { metric: b.metric, unit: b.unit, tool: b.tool, host, container, vm, containerRatio: ratio(container, host), vmRatio: ratio(vm, host) };
  });
  return { image: imageName, ranImage, substituted, accel, runs, rows };
}
