// Runs test containers with a real runtime (sandbox-native or runc, same command line)
// and cleans up after every test, checking that it did.
//
//   describe.each(runtimes())('$name', (rt) => {
//     const sandbox = useSandbox(rt);
//     test('…', async () => {
//       const line = await sandbox().probe(['syscall', 'mount']);
//     });
//   });

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { IdRangeLease } from '../../worker/src/runtime/id-ranges.js';
import { hardenedSpec, writeBundle, type HardenedSpecOptions, type OciSpec } from '../../worker/src/runtime/oci-spec.js';
import { cgroupDirsFor, mountsUnder, processesInRange, testIdRanges } from './leaks.js';
import { BUNDLES_DIR, rootfsTemplate, RUNC_BIN, SANDBOX_NATIVE_BIN, TEST_ID_PREFIX, TEST_ROOT } from './paths.js';

export type RuntimeName = 'sandbox-native' | 'runc';

export interface Runtime {
  name: RuntimeName;
  bin: string;
}

/** The runtimes under test; RUNTIMES=runc (comma-separated names) narrows it down. */
export function runtimes(): Runtime[] {
  const all: Runtime[] = [
    { name: 'sandbox-native', bin: SANDBOX_NATIVE_BIN },
    { name: 'runc', bin: RUNC_BIN },
  ];
  const wanted = process.env.RUNTIMES?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!wanted) return all;
  const unknown = wanted.filter((w) => !all.some((r) => r.name === w));
  if (unknown.length) throw new Error(`RUNTIMES names unknown runtimes: ${unknown.join(', ')}`);
  return all.filter((r) => wanted.includes(r.name));
}

export const isNative = (rt: Runtime): boolean => rt.name === 'sandbox-native';

/** One JSON line printed by the probe. */
export interface ProbeLine {
  case: string;
  ok: boolean;
  errno?: number;
  error?: string;
  [field: string]: unknown;
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunResult extends ProcessResult {
  /** Every probe line on stdout. */
  lines: ProbeLine[];
  /** The one probe line; throws (with the runtime's stderr) if there is none. */
  probe(): ProbeLine;
}

export interface BundleOptions {
  /** The container's command. */
  args: string[];
  /** Options for hardenedSpec, over the suite's defaults. */
  spec?: Partial<HardenedSpecOptions>;
  /** Raw edits of config.json after it is built, for cases hardenedSpec would refuse. */
  edit?: (spec: OciSpec) => void;
  /** Changes to this container's copy of the rootfs. */
  rootfs?: (rootfsDir: string) => void;
  /** Share another bundle's id range (to test that a runtime refuses it). */
  idRange?: IdRangeLease;
}

export interface Bundle {
  id: string;
  dir: string;
  rootfs: string;
  spec: OciSpec;
  /** The host ids the container maps to. */
  range: IdRangeLease;
  /** This bundle's own lease (the same as range unless it borrows another's). */
  lease: IdRangeLease;
}

export interface SpawnOptions {
  /** Runtime flags after the verb, before the id (e.g. ['--keep']). */
  flags?: string[];
  /** Descriptors handed to the launcher as fd 3, 4, … */
  extraFds?: (number | 'pipe')[];
  stdin?: string;
  /** Kill the launcher (SIGKILL) after this long. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
let stateRootSeq = 0;

// Mount points must exist in the rootfs: runc, as the container's root, cannot create
// them in a rootfs owned by host root. Created component by component, and never through
// a symlink, so a test's planted symlink stays for the runtime to deal with.
function ensureMountPoint(rootfs: string, destination: string): void {
  let path = rootfs;
  for (const part of destination.split('/').filter(Boolean)) {
    path = join(path, part);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      mkdirSync(path, { mode: 0o755 });
      continue;
    }
    if (!st.isDirectory()) return;
  }
}

function parseProbeLines(stdout: string): ProbeLine[] {
  const lines: ProbeLine[] = [];
  for (const text of stdout.split('\n')) {
    if (!text.startsWith('{"case":')) continue;
    try {
      lines.push(JSON.parse(text) as ProbeLine);
    } catch {
      // a line cut short (process killed mid-write): not a probe line
    }
  }
  return lines;
}

function withProbe(result: ProcessResult): RunResult {
  const lines = parseProbeLines(result.stdout);
  return {
    ...result,
    lines,
    probe() {
      const line = lines[0];
      if (!line || lines.length !== 1) {
        throw new Error(
          `expected one probe line, got ${lines.length} (exit ${result.code}, signal ${result.signal})\n` +
            `stdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr.slice(0, 2000)}`,
        );
      }
      return line;
    },
  };
}

/** A launched runtime process whose output is collected as it comes. */
export class Launched {
  stdout = '';
  stderr = '';
  readonly exited: Promise<ProcessResult>;
  private readonly started = Date.now();
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess, timeoutMs: number) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    // 'close' waits for the pipes too: with create/--detach the container holds them, so
    // exitedOnly() below is what "the launcher returned" means there.
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.notify();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.started });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves when the launcher process itself has exited, whoever still holds its pipes. */
  exitedOnly(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve({ code: this.child.exitCode, signal: this.child.signalCode });
    }
    return new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Wait until stdout matches `pattern` (a probe line when given a case name). */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.stdout);
      if (m) return m[0];
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        // One last look: output may have arrived with the exit.
        await new Promise((r) => setTimeout(r, 50));
        const last = pattern.exec(this.stdout);
        if (last) return last[0];
        throw new Error(`exited before ${pattern} appeared\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The first probe line on stdout, once it has arrived. */
  async probeLine(timeoutMs = 10_000): Promise<ProbeLine> {
    return JSON.parse(await this.waitFor(/^\{"case":.*\}$/m, timeoutMs)) as ProbeLine;
  }

  write(data: string): void {
    this.child.stdin?.write(data);
  }

  /** Write to the launcher's fd `fd` (one of the extraFds passed as 'pipe'). */
  writeFd(fd: number, data: string): void {
    const stream = this.child.stdio[fd];
    if (!stream || !('write' in stream)) throw new Error(`fd ${fd} was not passed as a pipe`);
    stream.write(data);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** One test's containers: a private state root, bundles, id ranges, and their cleanup. */
export class Sandbox {
  readonly stateRoot: string;
  private readonly bundles: Bundle[] = [];
  private readonly launched: Launched[] = [];
  private readonly ranges = testIdRanges();

  constructor(readonly rt: Runtime) {
    this.stateRoot = join(TEST_ROOT, rt.name, `${process.pid}-${++stateRootSeq}`);
    mkdirSync(this.stateRoot, { recursive: true, mode: 0o700 });
  }

  /** A fresh bundle: a copy of the test rootfs and a hardened config.json. */
  bundle(options: BundleOptions): Bundle {
    const id = `${TEST_ID_PREFIX}${randomBytes(5).toString('hex')}`;
    // Every bundle holds a lease under its own id, even one that borrows another's range:
    // the lease is what tells a concurrent run's sweeper that this bundle is in use.
    const lease = this.ranges.allocate(id);
    const range = options.idRange ?? lease;
    const dir = join(BUNDLES_DIR, id);
    const rootfs = join(dir, 'rootfs');
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    const bundle: Bundle = { id, dir, rootfs, range, lease, spec: undefined as unknown as OciSpec };
    this.bundles.push(bundle); // registered before anything can fail, so cleanup sees it
    cpSync(rootfsTemplate(), rootfs, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    options.rootfs?.(rootfs);
    const spec = hardenedSpec({
      containerId: id,
      rootfsPath: rootfs,
      args: options.args,
      idRange: { hostId: range.hostId, size: range.size },
      // Runc sees a root-owned rootfs as owned by nobody: a tmpfs gives containers a
      // place they may write in.
      mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=67108864'] }],
      ...options.spec,
    });
    options.edit?.(spec);
    for (const m of spec.mounts) if (m.type === 'tmpfs' || m.type === 'bind') ensureMountPoint(rootfs, m.destination);
    writeBundle(dir, spec);
    bundle.spec = spec;
    return bundle;
  }

  /** Start the runtime with `args` after `--root <stateRoot>`. */
  launch(args: string[], options: SpawnOptions = {}): Launched {
    const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...(options.extraFds ?? [])];
    const child = spawn(this.rt.bin, ['--root', this.stateRoot, ...args], { stdio });
    const launched = new Launched(child, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.launched.push(launched);
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    // Keep a dead pipe from crashing the test process.
    child.stdin?.on('error', () => {});
    return launched;
  }

  /** A runtime command that does not leave a container process holding its pipes. */
  async command(args: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ProcessResult> {
    return this.launch(args, { timeoutMs, stdin: '' }).exited;
  }

  /** `run` in the foreground; resolves when the launcher exits and its pipes close. */
  async run(bundle: Bundle, options: SpawnOptions = {}): Promise<RunResult> {
    const launched = this.start(bundle, options);
    if (options.stdin === undefined) launched.child.stdin?.end();
    return withProbe(await launched.exited);
  }

  /** `run` in the foreground, returning at once, for tests that act while it runs. */
  start(bundle: Bundle, options: SpawnOptions = {}): Launched {
    return this.launch(['run', ...(options.flags ?? []), '--bundle', bundle.dir, bundle.id], options);
  }

  /** A bundle running `/probe ARGS…`, and the probe's line. */
  async probe(args: string[], options: Omit<BundleOptions, 'args'> = {}): Promise<ProbeLine> {
    const bundle = this.bundle({ ...options, args: ['/probe', ...args] });
    return (await this.run(bundle)).probe();
  }

  /** `create`: the container waits, set up, for `start`. Its stdio are the pipes of `launched`. */
  async create(bundle: Bundle): Promise<Launched> {
    const launched = this.launch(['create', '--bundle', bundle.dir, bundle.id]);
    launched.child.stdin?.end();
    const { code, signal } = await launched.exitedOnly();
    if (code !== 0) {
      await launched.exited;
      throw new Error(`create failed (exit ${code}, signal ${signal}): ${launched.stderr}`);
    }
    return launched;
  }

  async state(id: string): Promise<Record<string, unknown>> {
    const r = await this.command(['state', id]);
    if (r.code !== 0) throw new Error(`state ${id} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** Host pid of the container's init, from `state`. */
  async initPid(id: string): Promise<number> {
    return Number((await this.state(id)).pid);
  }

  /**
   * Remove every container of this test and check nothing is left: no process in its
   * uid ranges, no cgroup, no mount under the test root. Returns what it had to clean
   * up by force (a non-empty list fails the test).
   */
  async cleanup(): Promise<string[]> {
    const leaks: string[] = [];
    for (const b of this.bundles) {
      if (existsSync(this.rt.bin)) await this.command(['delete', '--force', b.id], 15_000).catch(() => undefined);
    }
    for (const l of this.launched) if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
    await Promise.all(this.launched.map((l) => l.exited));

    for (const b of this.bundles) {
      const lo = b.range.hostId;
      const hi = lo + b.range.size;
      let procs = processesInRange(lo, hi);
      // Dying processes need a moment to be reaped (a launcher SIGKILLed leaves its init to pid 1).
      for (let i = 0; i < 50 && procs.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        procs = processesInRange(lo, hi);
      }
      for (const p of procs) {
        leaks.push(`${b.id}: process ${p.pid} (${p.cmd}, state ${p.state}) survived delete --force`);
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      for (const dir of cgroupDirsFor(b.id)) {
        leaks.push(`${b.id}: cgroup ${dir} left behind`);
        try {
          rmSync(dir, { recursive: false });
        } catch {
          // rmdir of a cgroup may fail while it is populated; findLeaks reports it again
        }
      }
      for (const m of mountsUnder(b.dir)) leaks.push(`${b.id}: host mount ${m.line}`);
      // sandbox-native's overlay of a plain rootfs keeps its lower and work dirs beside it
      // (.rootfs.overlay-ID) only while the container exists.
      for (const name of existsSync(b.dir) ? readdirSync(b.dir) : []) {
        if (name.startsWith('.rootfs.overlay-')) leaks.push(`${b.id}: ${join(b.dir, name)} left beside the rootfs`);
      }
    }
    for (const b of this.bundles) {
      if (mountsUnder(b.dir).length === 0) rmSync(b.dir, { recursive: true, force: true });
      this.ranges.release(b.lease);
    }
    if (mountsUnder(this.stateRoot).length === 0) rmSync(this.stateRoot, { recursive: true, force: true });
    return leaks;
  }
}

/** A fresh Sandbox for each test of the enclosing describe, cleaned and checked after it. */
export function useSandbox(rt: Runtime): () => Sandbox {
  let current: Sandbox | undefined;
  beforeEach(() => {
    if (!existsSync(rt.bin)) {
      throw new Error(`${rt.name} is not built at ${rt.bin} (make -C sandbox-native); RUNTIMES=runc runs the suite against runc only`);
    }
    current = new Sandbox(rt);
  });
  afterEach(async () => {
    const sandbox = current;
    current = undefined;
    if (!sandbox) return;
    const leaks = await sandbox.cleanup();
    if (leaks.length) throw new Error(`test left things behind:\n  ${leaks.join('\n  ')}`);
  });
  return () => {
    if (!current) throw new Error('sandbox() used outside a test');
    return current;
  };
}
