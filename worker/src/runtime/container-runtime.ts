// The engine's one door to a container launcher. sandbox-native is the production
// implementation; runc speaks the same command line and stands in for comparison
// (OCI runtime CLI: https://github.com/opencontainers/runtime-spec/blob/main/runtime.md).
//
// Two ways to run: `run` keeps the container in the foreground of its launcher process (a build
// step: the launcher stays beside it as its monitor and dies with the worker, --die-with-parent,
// taking the container with it); `create` puts it under a detached monitor that outlives the
// worker (a learner's container). Failures come back as the launcher's record
// (launcher-error.ts), never as English to match.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connectAttachment, type Attachment } from './attachment.js';
import { describeFailure, isNoSuchContainer, launcherFailure, type LauncherFailure } from './launcher-error.js';

export type { Attachment } from './attachment.js';

export interface ExitInfo {
  exitCode: number;
  /** Name of the signal that ended it (KILL, TERM…), when one did. */
  signal?: string;
  oomKilled: boolean;
  timedOut: boolean;
}

export interface ContainerProcess {
  /** The launcher's pid (its monitor), not the container's. */
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** With a terminal, everything arrives on stdout; stderr carries only launcher messages. */
  readonly stderr: Readable;
  /** Resolves once the container has exited and its resources are released. */
  readonly exited: Promise<ExitInfo>;
  resize(rows: number, cols: number): void;
  /** Signal the container's init (forwarded by the launcher). */
  signal(signal: NodeJS.Signals): void;
}

export interface RunOptions {
  id: string;
  bundleDir: string;
  /** Relay a terminal (process.terminal must be true in config.json). */
  tty?: boolean;
}

export interface ExecOptions {
  id: string;
  args: string[];
  /**
   * With `bundleDir`, the process's whole environment, in its order; without, entries merged
   * into the container's own (runc's `exec --env`).
   */
  env?: string[];
  /**
   * The container's bundle: the process is its config.json's with args, env, cwd, user and the
   * terminal replaced, handed over as a file (`exec --process`), as Docker's daemon hands runc a
   * whole process: nothing of the container's own environment (its HOME) is merged in.
   */
  bundleDir?: string;
  cwd?: string;
  /** additionalGids: supplementary groups (runc's `exec --additional-gids`). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  tty?: { rows: number; cols: number };
}

export interface RuntimeState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  exitCode?: number;
  signal?: string;
  oomKilled?: boolean;
  timedOut?: boolean;
  cgroup?: { version: number; paths: Record<string, string> };
  /** sandbox-native's extension: the pid of the monitor holding the container, 0 once it is gone. */
  monitorPid?: number;
  /** When the monitor recorded the container's end (RFC 3339), once it has. */
  finished?: string;
}

export interface CreateOptions {
  id: string;
  bundleDir: string;
  /** The monitor holds the container's stdio, logs its output here and serves attach. */
  outputFile: string;
}

export interface ContainerRuntime {
  readonly name: string;
  run(options: RunOptions): ContainerProcess;
  /** Create a container under a detached monitor that outlives this process. */
  create(options: CreateOptions): Promise<void>;
  start(id: string): Promise<void>;
  /** The container's stdio; with `watch`, only its exit (for waiting, without holding it back). */
  attach(id: string, options?: { watch?: boolean }): Promise<Attachment>;
  exec(options: ExecOptions): ContainerProcess;
  state(id: string): Promise<RuntimeState | null>;
  kill(id: string, signal?: NodeJS.Signals, all?: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Remove what is left of a container (with force: kill it first). Missing is fine. */
  delete(id: string, force?: boolean): Promise<void>;
  list(): Promise<string[]>;
}

export class RuntimeError extends Error {
  /** The launcher's failure record, when it wrote one (sandbox-native does; runc does not). */
  readonly failure: LauncherFailure | null;
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
    this.failure = launcherFailure(stderr);
  }
}

/** A RuntimeError from what a launcher process left: its record's words when it wrote one. */
function launcherError(verb: string, code: number | null, stderr: string): RuntimeError {
  const failure = launcherFailure(stderr);
  const said = failure ? describeFailure(failure) : `the launcher failed (exit ${code})`;
  return new RuntimeError(`${verb}: ${said}`, code, stderr);
}

/** The process file of `exec --process`: the bundle's process with this exec's fields, beside its config.json. */
function writeExecProcess(bundleDir: string, o: ExecOptions): string {
  const spec = JSON.parse(readFileSync(join(bundleDir, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
  const { consoleSize: _size, ...base } = spec.process;
  const process = {
    ...base,
    args: o.args,
    env: o.env ?? [],
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.user ? { user: { uid: o.user.uid, gid: o.user.gid, additionalGids: o.user.additionalGids ?? [] } } : {}),
    terminal: !!o.tty,
    ...(o.tty ? { consoleSize: { height: o.tty.rows, width: o.tty.cols } } : {}),
  };
  const file = join(bundleDir, `exec-${randomBytes(6).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(process), { mode: 0o600, flag: 'wx' });
  return file;
}

interface CliFlavour {
  /** `run --keep`: the stopped state (exit code, OOM) survives until delete. */
  keep: boolean;
  /** `--control-fd N` for terminal resizes. */
  controlFd: boolean;
  dieWithParent: boolean;
}

/** A runtime driven through runc's command line. */
export class OciCliRuntime implements ContainerRuntime {
  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly stateRoot: string,
    private readonly flavour: CliFlavour,
  ) {}

  private args(...rest: string[]): string[] {
    return ['--root', this.stateRoot, ...rest];
  }

  private async cli(...rest: string[]): Promise<string> {
    try {
      const { stdout } = await promisify(execFile)(this.binary, this.args(...rest), { maxBuffer: 4 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { code?: number | string; stderr?: string };
      // A string code is spawn's own failure (ENOENT: no launcher at that path).
      if (typeof e.code === 'string') throw new RuntimeError(`${this.name} ${rest[0]}: cannot start ${this.binary} (${e.code})`, null, '');
      throw launcherError(`${this.name} ${rest[0]}`, e.code ?? null, e.stderr ?? '');
    }
  }

  run(options: RunOptions): ContainerProcess {
    const args = ['run', '--bundle', options.bundleDir];
    if (this.flavour.keep) args.push('--keep');
    if (this.flavour.dieWithParent) args.push('--die-with-parent');
    const control = options.tty && this.flavour.controlFd;
    if (control) args.push('--control-fd', '3');
    args.push(options.id);
    const child = spawn(this.binary, this.args(...args), {
      stdio: ['pipe', 'pipe', 'pipe', control ? 'pipe' : 'ignore'],
    });
    return this.wrap(child, control ? (child.stdio[3] as Writable) : null, async (code, signal, stderr) => {
      if (!this.flavour.keep) return exitFromStatus(code, signal);
      const state = await this.state(options.id).catch(() => null);
      await this.delete(options.id).catch(() => {});
      // No stopped state: the launcher never started the container; its record says why.
      if (!state || state.exitCode === undefined) throw launcherError(`${this.name} run`, code, stderr);
      return {
        exitCode: state.exitCode,
        ...(state.signal ? { signal: state.signal } : {}),
        oomKilled: state.oomKilled ?? false,
        timedOut: state.timedOut ?? false,
      };
    });
  }

  async create(options: CreateOptions): Promise<void> {
    if (!this.flavour.keep) throw new Error(`${this.name} cannot hold a detached container's output`);
    await this.cli('create', '--output', options.outputFile, '--bundle', options.bundleDir, options.id);
  }

  async start(id: string): Promise<void> {
    await this.cli('start', id);
  }

  attach(id: string, options: { watch?: boolean } = {}): Promise<Attachment> {
    return connectAttachment(join(this.stateRoot, id, 'attach.sock'), options);
  }

  exec(options: ExecOptions): ContainerProcess {
    const args = ['exec'];
    const processFile = options.bundleDir === undefined ? null : writeExecProcess(options.bundleDir, options);
    if (processFile !== null) args.push('--process', processFile);
    else {
      if (options.tty) args.push('--tty');
      if (options.cwd) args.push('--cwd', options.cwd);
      for (const e of options.env ?? []) args.push('--env', e);
      if (options.user) args.push('--user', `${options.user.uid}:${options.user.gid}`);
      for (const gid of options.user?.additionalGids ?? []) args.push('--additional-gids', String(gid));
    }
    const control = !!options.tty && this.flavour.controlFd;
    if (control) args.push('--control-fd', '3', '--console-size', `${options.tty!.rows},${options.tty!.cols}`);
    args.push(options.id, ...options.args);
    const child = spawn(this.binary, this.args(...args), {
      stdio: ['pipe', 'pipe', 'pipe', control ? 'pipe' : 'ignore'],
    });
    const proc = this.wrap(child, control ? (child.stdio[3] as Writable) : null, async (code, signal, stderr) => {
      if (processFile !== null) rmSync(processFile, { force: true });
      // The exec'd process's status, unless the launcher's record says the launcher failed
      // with exactly this status (the process then never ran).
      const failure = launcherFailure(stderr);
      if (code !== null && failure && failure.exitStatus === code) throw launcherError(`${this.name} exec`, code, stderr);
      return exitFromStatus(code, signal);
    });
    return proc;
  }

  private wrap(
    child: ChildProcess,
    control: Writable | null,
    finish: (code: number | null, signal: NodeJS.Signals | null, stderr: string) => Promise<ExitInfo>,
  ): ContainerProcess {
    // The launcher's last words, for errors; callers may read stderr too.
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4096)));
    const exited = new Promise<ExitInfo>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        control?.end();
        finish(code, signal, stderr).then(resolve, reject);
      });
    });
    // A resize that arrives after exit must not throw into the caller.
    control?.on('error', () => {});
    child.stdin?.on('error', () => {});
    return {
      pid: child.pid ?? -1,
      stdin: child.stdin!,
      stdout: child.stdout!,
      stderr: child.stderr!,
      exited,
      resize(rows, cols) {
        if (control && !control.destroyed && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)
          control.write(`resize ${rows} ${cols}\n`);
      },
      signal(sig) {
        child.kill(sig);
      },
    };
  }

  async state(id: string): Promise<RuntimeState | null> {
    try {
      return JSON.parse(await this.cli('state', id)) as RuntimeState;
    } catch (err) {
      if (err instanceof RuntimeError && this.missing(err, id)) return null;
      throw err;
    }
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGTERM', all = false): Promise<void> {
    await this.cli('kill', ...(all ? ['--all'] : []), id, signal.replace(/^SIG/, ''));
  }

  async pause(id: string): Promise<void> {
    await this.cli('pause', id);
  }

  async resume(id: string): Promise<void> {
    await this.cli('resume', id);
  }

  async delete(id: string, force = false): Promise<void> {
    try {
      await this.cli('delete', ...(force ? ['--force'] : []), id);
    } catch (err) {
      if (err instanceof RuntimeError && this.missing(err, id)) return;
      throw err;
    }
  }

  /** The launcher's record says so; runc writes none, and then its state directory is gone. */
  private missing(err: RuntimeError, id: string): boolean {
    return err.failure ? isNoSuchContainer(err.failure) : !existsSync(join(this.stateRoot, id));
  }

  async list(): Promise<string[]> {
    const out = await this.cli('list');
    return out.split('\n').filter(Boolean);
  }
}

function exitFromStatus(code: number | null, signal: NodeJS.Signals | null): ExitInfo {
  if (code !== null) return { exitCode: code, oomKilled: false, timedOut: false };
  return { exitCode: 128 + signalNumber(signal), signal: signal?.replace(/^SIG/, ''), oomKilled: false, timedOut: false };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}

export function sandboxNative(binary: string, stateRoot: string): ContainerRuntime {
  return new OciCliRuntime('sandbox-native', binary, stateRoot, { keep: true, controlFd: true, dieWithParent: true });
}

export function runc(stateRoot: string, binary = '/usr/sbin/runc'): ContainerRuntime {
  return new OciCliRuntime('runc', binary, stateRoot, { keep: false, controlFd: false, dieWithParent: false });
}
