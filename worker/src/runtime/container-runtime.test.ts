// The engine's runtime adapter against the real launcher: a real kernel sandbox per test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxNative, type ContainerProcess } from './container-runtime.js';
import { hardenedSpec, writeBundle, type HardenedSpecOptions } from './oci-spec.js';
import { IdRangeAllocator } from './id-ranges.js';

const repo = new URL('../../..', import.meta.url).pathname;

function framesOf(log: Buffer): string[] {
  const frames: string[] = [];
  for (let at = 0; at + 5 <= log.length; ) {
    const length = log.readUInt32BE(at + 1);
    frames.push(`${String.fromCharCode(log[at]!)}:${log.subarray(at + 5, at + 5 + length).toString()}`);
    at += 5 + length;
  }
  return frames;
}
const work = mkdtempSync('/tmp/lc-runtime-test-');
const runtime = sandboxNative(join(repo, 'sandbox-native/build/sandbox-native'), join(work, 'state'));
const ranges = new IdRangeAllocator({ dir: join(work, 'ranges'), baseId: 1_600_000_000, maxRanges: 64 });
const rootfs = join(work, 'rootfs');
let n = 0;

function bundle(options: Partial<HardenedSpecOptions> & { args: string[] }): { id: string; dir: string } {
  const id = `rt-${process.pid}-${n++}`;
  const lease = ranges.allocate(id);
  const dir = join(work, id);
  writeBundle(dir, hardenedSpec({ containerId: id, rootfsPath: rootfs, idRange: { hostId: lease.hostId }, cgroupsPath: `/layercake-test/${id}`, ...options }));
  return { id, dir };
}

function collect(p: ContainerProcess): () => string {
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return () => out;
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(() => {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const a of ['sh', 'echo', 'cat', 'sleep', 'stty', 'tty', 'head', 'tr', 'id']) symlinkSync('busybox', join(rootfs, 'bin', a));
});

afterAll(async () => {
  for (const id of await runtime.list()) await runtime.delete(id, true);
  rmSync(work, { recursive: true, force: true });
});

describe('sandbox-native through the runtime adapter', () => {
  it('runs a command and reports its exit code', async () => {
    const b = bundle({ args: ['/bin/sh', '-c', 'echo hello; exit 3'] });
    const p = runtime.run({ id: b.id, bundleDir: b.dir });
    const out = collect(p);
    const exit = await p.exited;
    expect(out()).toBe('hello\n');
    expect(exit).toEqual({ exitCode: 3, oomKilled: false, timedOut: false });
    expect(await runtime.state(b.id)).toBeNull();
  });

  it('reports an OOM kill as OOM, not as a plain 137', async () => {
    const b = bundle({ args: ['/bin/sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a)'], memoryBytes: 32 << 20 });
    const exit = await runtime.run({ id: b.id, bundleDir: b.dir }).exited;
    expect(exit.oomKilled).toBe(true);
  });

  it('rejects with the launcher\'s own message when it cannot start the container', async () => {
    const b = bundle({ args: ['/bin/no-such-program'] });
    await expect(runtime.run({ id: b.id, bundleDir: b.dir }).exited).rejects.toThrow(/no-such-program: executable file not found/);
  });

  it('reports the wall-clock limit', async () => {
    const b = bundle({ args: ['/bin/sleep', '60'], timeoutMs: 300 });
    const exit = await runtime.run({ id: b.id, bundleDir: b.dir }).exited;
    expect(exit).toMatchObject({ exitCode: 137, signal: 'KILL', timedOut: true });
  });

  it('relays a terminal and its resizes', async () => {
    const b = bundle({ args: ['/bin/sh'], terminal: true, env: ['PATH=/bin', 'PS1=$ '] });
    const p = runtime.run({ id: b.id, bundleDir: b.dir, tty: true });
    const out = collect(p);
    p.resize(33, 101);
    p.stdin.write('tty; stty size\n');
    await waitFor(() => out().includes('33 101'));
    expect(out()).toContain('/dev/pts/0');
    p.stdin.write('exit 5\n');
    expect((await p.exited).exitCode).toBe(5);
  });

  it('execs into a running container, pauses and resumes it', async () => {
    const b = bundle({ args: ['/bin/sleep', '60'] });
    const p = runtime.run({ id: b.id, bundleDir: b.dir });
    await waitFor(() => false, 0).catch(() => {});
    let state = await runtime.state(b.id);
    for (let i = 0; i < 100 && state?.status !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      state = await runtime.state(b.id);
    }
    expect(state?.status).toBe('running');
    const e = runtime.exec({ id: b.id, args: ['/bin/sh', '-c', 'id -u; echo $FOO'], env: ['FOO=bar'], user: { uid: 7, gid: 7 } });
    const out = collect(e);
    expect((await e.exited).exitCode).toBe(0);
    expect(out()).toBe('7\nbar\n');
    // A terminal has the caller's size before the command's first instruction (no resize races
    // `stty size`); resizes follow.
    const t = runtime.exec({ id: b.id, args: ['/bin/sh', '-c', 'stty size; read line; stty size'], tty: { rows: 11, cols: 66 } });
    const tout = collect(t);
    await waitFor(() => tout().includes('11 66'));
    t.resize(40, 120);
    t.stdin.write('\n');
    expect((await t.exited).exitCode).toBe(0);
    expect(tout()).toMatch(/^11 66\r?\n(\r?\n)?40 120/);
    await runtime.pause(b.id);
    expect((await runtime.state(b.id))?.status).toBe('paused');
    await runtime.resume(b.id);
    expect((await runtime.state(b.id))?.status).toBe('running');
    await runtime.kill(b.id, 'SIGKILL');
    expect((await p.exited).exitCode).toBe(137);
  });
});

describe('detached containers', () => {
  it('keep running without their creator, log output and take input through attach', async () => {
    const b = bundle({ args: ['/bin/sh', '-c', 'echo ready; read line; echo "got $line" >&2; exit 9'] });
    const output = join(work, `${b.id}.log`);
    await runtime.create({ id: b.id, bundleDir: b.dir, outputFile: output });
    const att = await runtime.attach(b.id);
    const seen: string[] = [];
    att.on('output', (stream, data) => seen.push(`${stream}:${data.toString()}`));
    const exited = new Promise<number>((r) => att.on('exit', r));
    await runtime.start(b.id);
    await waitFor(() => seen.join('').includes('ready'));
    att.write('hello\n');
    expect(await exited).toBe(9);
    expect(seen).toContain('stderr:got hello\n');
    // The log keeps the launcher's frames (type byte, 4-byte big-endian length, bytes), so
    // stdout and stderr stay apart in it.
    expect(framesOf(readFileSync(output))).toEqual(['o:ready\n', 'e:got hello\n']);
    const state = await runtime.state(b.id);
    expect(state).toMatchObject({ status: 'stopped', exitCode: 9, oomKilled: false });
    await runtime.delete(b.id);
  });

  it('relays a terminal and its resizes to an attached client', async () => {
    const b = bundle({ args: ['/bin/sh'], terminal: true, env: ['PATH=/bin', 'PS1=$ '] });
    await runtime.create({ id: b.id, bundleDir: b.dir, outputFile: join(work, `${b.id}.log`) });
    await runtime.start(b.id);
    const att = await runtime.attach(b.id);
    let out = '';
    att.on('output', (_s, d) => (out += d.toString()));
    att.resize(42, 120);
    att.write('stty size; exit 0\n');
    await new Promise<number>((r) => att.on('exit', r));
    expect(out).toContain('42 120');
    await runtime.delete(b.id);
  });
});

describe('the launcher dies with its parent', () => {
  it('even after mounting an overlay (which briefly changes the launcher\'s fsuid)', async () => {
    const upper = join(work, 'pd-upper');
    mkdirSync(join(upper, 'upper'), { recursive: true });
    mkdirSync(join(upper, 'work'), { recursive: true });
    const nap = `60.${process.pid}`; // a command line no other test runs
    const b = bundle({ args: ['/bin/sleep', nap], layers: [rootfs], upperDir: upper });
    const running = () =>
      readdirSync('/proc').some((p) => /^\d+$/.test(p) && existsSync(`/proc/${p}/cmdline`) && readFileSync(`/proc/${p}/cmdline`, 'utf8') === `/bin/sleep\0${nap}\0`);
    const marker = `pd-${process.pid}-${b.id}`;
    // A parent shell that starts the launcher and is then killed outright.
    const shell = spawn('bash', ['-c', `exec -a ${marker} bash -c 'sleep 30' & ${join(repo, 'sandbox-native/build/sandbox-native')} --root ${join(work, 'state')} run --die-with-parent --bundle ${b.dir} ${b.id}`]);
    await waitFor(running);
    shell.kill('SIGKILL');
    await waitFor(() => !running());
    await runtime.delete(b.id, true);
    spawnSync('pkill', ['-f', marker]);
  });
});
