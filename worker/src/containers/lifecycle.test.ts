// Containers from create to rm, on the real launcher over real overlayfs with the busybox base
// image. After every test, every container is removed and nothing may be left behind.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import type { Containers } from './containers.js';
import { StartError } from './launch.js';
import { createHarness, eventually, logsOf, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('lifecycle');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

async function learnerError(promise: Promise<unknown>): Promise<LearnerError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof LearnerError) return err;
    throw err;
  }
  throw new Error('expected a learner error');
}

describe('create and run', () => {
  it('runs the image’s ENTRYPOINT + CMD with its Env, WorkingDir and User, and reports the exit code', async () => {
    await h.image('greeter', {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo "$GREETING from $(pwd) as $(id -u):$(id -g) home=$HOME"; exit 4'],
      Env: ['PATH=/bin', 'GREETING=hello'],
      WorkingDir: '/srv/app',
      User: 'nobody',
    });
    const c = h.containers();
    const { container } = await c.run({ image: 'greeter' });
    expect(container.command).toEqual(['/bin/sh', '-c', 'echo "$GREETING from $(pwd) as $(id -u):$(id -g) home=$HOME"; exit 4']);
    expect(await c.wait(container.id)).toMatchObject({ exitCode: 4, oomKilled: false, timedOut: false });
    // The missing working dir was made (as Docker does); nobody's home comes from /etc/passwd.
    expect(await logsOf(c, container.id)).toBe('hello from /srv/app as 65534:65534 home=/home\n');
    // wait reads the exit; it announces nothing (the queue's container watch tells a run's exit).
    expect(c.collected.ofType('container.exited')).toEqual([]);
  });

  it('replaces CMD with the given command, Env entries with -e, and ENTRYPOINT with --entrypoint', async () => {
    await h.image('greeter2', { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo default'], Env: ['PATH=/bin', 'GREETING=hello', 'KEEP=kept'] });
    const c = h.containers();
    const a = (await c.run({ image: 'greeter2', cmd: ['echo "$GREETING $KEEP"'], env: ['GREETING=hi'], user: '0' })).container;
    const b = (await c.run({ image: 'greeter2', entrypoint: ['/bin/echo'], cmd: ['direct'] })).container;
    const d = (await c.run({ image: 'greeter2', entrypoint: ['/bin/echo'] })).container;
    for (const x of [a, b, d]) expect((await c.wait(x.id)).exitCode).toBe(0);
    expect(await logsOf(c, a.id)).toBe('hi kept\n');
    expect(await logsOf(c, b.id)).toBe('direct\n');
    // --entrypoint drops the image's CMD, as in Docker.
    expect(await logsOf(c, d.id)).toBe('\n');
  });

  it('gives stdin end-of-file without -i, and keeps it open with -i', async () => {
    const c = h.containers();
    const closed = (await c.run({ image: 'busybox', cmd: ['cat'] })).container;
    expect((await c.wait(closed.id)).exitCode).toBe(0);

    const { container, attachment } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'read line; echo "got $line"'], openStdin: true }, { attach: true });
    let seen = '';
    attachment!.on('output', (_s, d) => (seen += d.toString()));
    attachment!.write('typed\n');
    expect((await c.wait(container.id)).exitCode).toBe(0);
    await eventually(() => seen.includes('got typed'));
  });

  it('generates adjective_noun names, unique in the session; a taken or invalid name is refused', async () => {
    const c = h.containers();
    const a = await c.create({ image: 'busybox' });
    const b = await c.create({ image: 'busybox' });
    expect(a.name).toMatch(/^[a-z]+_[a-z]+\d?$/);
    expect(b.name).not.toBe(a.name);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(a.shortId).toBe(a.id.slice(0, 12));

    await c.create({ image: 'busybox', name: 'web' });
    const taken = await learnerError(c.create({ image: 'busybox', name: 'web' }));
    expect(taken.key).toBe('container.nameInUse');
    expect((await learnerError(c.create({ image: 'busybox', name: '-bad name' }))).key).toBe('container.nameInvalid');
    // Names are per session.
    const other = h.containers({ session: 'other' });
    expect((await other.create({ image: 'busybox', name: 'web' })).name).toBe('web');
    // And a session sees only its own.
    expect((await other.list({ all: true })).map((x) => x.name)).toEqual(['web']);
    expect((await learnerError(other.inspect(a.id))).key).toBe('container.notFound');
  });

  it('resolves a container by id, name or unique id prefix', async () => {
    const c = h.containers();
    const a = await c.create({ image: 'busybox', name: 'finder' });
    for (const ref of [a.id, 'finder', a.shortId, a.id.slice(0, 5)]) expect((await c.inspect(ref)).id).toBe(a.id);
    expect((await learnerError(c.inspect('nope'))).key).toBe('container.notFound');
  });

  it('reports a missing command as 127 and a non-executable one as 126, and keeps the container', async () => {
    const c = h.containers();
    const missing = await c.run({ image: 'busybox', name: 'missing', cmd: ['no-such-program'] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StartError);
    expect(missing).toMatchObject({ exitCode: 127, key: 'container.commandNotFound' });
    const notExecutable = await c.run({ image: 'busybox', cmd: ['/etc/passwd'] }).catch((e: unknown) => e);
    expect(notExecutable).toMatchObject({ exitCode: 126, key: 'container.cannotRun' });
    const info = await c.inspect('missing');
    expect(info).toMatchObject({ status: 'created', exitCode: 127 });
    expect(info.error).toMatch(/no-such-program/);
    // Nothing of the failed starts is left running (the afterEach check looks at launchers too).
    expect(await h.runtime.list()).toEqual([]);
  });

  it('refuses a command-less image without a command', async () => {
    await h.image('nocmd', { Cmd: null, Entrypoint: null });
    const err = await learnerError(h.containers().create({ image: 'nocmd' }));
    expect(err.key).toBe('container.noCommand');
  });

  it('starts an exited container again with its writable layer kept', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo run >> /runs; wc -l < /runs'] });
    await c.wait(container.id);
    await c.start(container.id);
    await c.wait(container.id);
    // Both runs appended to the same log, the second saw the first's file.
    expect(await logsOf(c, container.id)).toBe('1\n2\n');
    expect((await c.inspect(container.id)).starts).toBe(2);
  });

  it('removes a --rm container once it has exited', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'exit 2'], autoRemove: true });
    expect((await c.wait(container.id)).exitCode).toBe(2);
    expect(await c.list({ all: true })).toEqual([]);
    expect(c.collected.ofType('container.removed')).toHaveLength(1);
  });
});

describe('limits', () => {
  it('applies the defaults, takes overrides within bounds and refuses others', async () => {
    const c = h.containers();
    const a = await c.create({ image: 'busybox' });
    expect(a.limits).toMatchObject({ memoryBytes: 256 << 20, pidsMax: 128, cpuQuotaMicros: 50_000, cpuPeriodMicros: 100_000 });
    const b = await c.create({ image: 'busybox', limits: { memoryBytes: 64 << 20, pidsMax: 32, cpus: 1.5 } });
    expect(b.limits).toMatchObject({ memoryBytes: 64 << 20, pidsMax: 32, cpuQuotaMicros: 150_000 });
    expect(b.cpus).toBe(1.5);
    const big = await learnerError(c.create({ image: 'busybox', limits: { memoryBytes: 64 * 1024 ** 3 } }));
    expect(big.key).toBe('container.limitOutOfRange');
    expect(big.facts).toMatchObject({ limit: '--memory', max: '1 GiB' });
    expect((await learnerError(c.create({ image: 'busybox', limits: { cpus: 16 } }))).key).toBe('container.limitOutOfRange');
  });

  it('enforces the pids limit inside the container', async () => {
    const c = h.containers();
    const { container } = await c.run({
      image: 'busybox',
      limits: { pidsMax: 8 },
      cmd: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>/dev/null; echo "$(ls /proc | grep -c "^[0-9]")"'],
    });
    await c.wait(container.id);
    // sh + at most 7 sleeps (+ the pipeline's own processes): never all 12.
    expect(Number((await logsOf(c, container.id)).trim())).toBeLessThanOrEqual(8);
  });

  it('reports an OOM kill as OOM, not as a plain 137', async () => {
    const c = h.containers();
    const { container } = await c.run({
      image: 'busybox',
      limits: { memoryBytes: 16 << 20 },
      cmd: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'],
    });
    const exit = await c.wait(container.id);
    expect(exit).toMatchObject({ oomKilled: true });
    expect(exit.exitCode).toBeGreaterThan(128);
    expect(await c.inspect(container.id)).toMatchObject({ status: 'exited', oomKilled: true });
  });
});

describe('stop, kill, pause', () => {
  it('stop sends TERM, and a container that handles it exits with its own code', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'] });
    await eventually(async () => (await logsOf(c, container.id)).includes('ready'));
    const started = Date.now();
    expect(await c.stop(container.id, { graceMs: 10_000 })).toMatchObject({ exitCode: 7 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await c.inspect(container.id)).status).toBe('exited');
  });

  it('stop escalates to SIGKILL of every process when TERM is ignored', async () => {
    const c = h.containers();
    // Init ignores TERM (no handler in a pid namespace's init); its children ignore it too.
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'trap "" TERM; sleep 1000 & sleep 1000 & echo ready; wait'] });
    await eventually(async () => (await logsOf(c, container.id)).includes('ready'));
    const started = Date.now();
    const exit = await c.stop(container.id, { graceMs: 1_000 });
    const took = Date.now() - started;
    expect(exit).toMatchObject({ exitCode: 137, signal: 'KILL' });
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8_000);
    // The cgroup is gone with every process in it (checked again by afterEach).
    expect(await h.runtime.state(container.shortId)).toBeNull();
  });

  it('stop uses the image’s STOPSIGNAL', async () => {
    await h.image('usr1', { StopSignal: 'SIGUSR1', Cmd: ['sh', '-c', 'trap "exit 10" USR1; trap "exit 15" TERM; echo ready; while :; do sleep 0.1; done'] });
    const c = h.containers();
    const { container } = await c.run({ image: 'usr1' });
    await eventually(async () => (await logsOf(c, container.id)).includes('ready'));
    expect((await c.stop(container.id)).exitCode).toBe(10);
  });

  it('kill sends the given signal; a stopped container cannot be killed; a bad signal is refused', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'trap "exit 3" HUP; echo ready; while :; do sleep 0.1; done'] });
    await eventually(async () => (await logsOf(c, container.id)).includes('ready'));
    expect((await learnerError(c.kill(container.id, 'NOPE'))).key).toBe('container.invalidSignal');
    await c.kill(container.id, 'HUP');
    expect((await c.wait(container.id)).exitCode).toBe(3);
    expect((await learnerError(c.kill(container.id))).key).toBe('container.notRunning');

    const second = (await c.run({ image: 'busybox', cmd: ['sleep', '1000'] })).container;
    await c.kill(second.id);
    // KILL waits for the exit, so the very next look says exited.
    expect(await c.inspect(second.id)).toMatchObject({ status: 'exited', exitCode: 137 });
  });

  it('pause freezes every process and unpause thaws them', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'while :; do date +%s%N > /tmp/tick; sleep 0.05; done'] });
    const tick = async (): Promise<string> => {
      const e = await c.exec(container.id, { cmd: ['cat', '/tmp/tick'] });
      let out = '';
      e.process.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await e.exited;
      return out;
    };
    await eventually(async () => (await tick()) !== '');
    await c.pause(container.id);
    expect((await c.inspect(container.id)).status).toBe('paused');
    expect((await c.list()).map((x) => x.status)).toEqual(['paused']);
    expect((await learnerError(c.pause(container.id))).key).toBe('container.alreadyPaused');
    expect((await learnerError(c.exec(container.id, { cmd: ['true'] }))).key).toBe('container.isPaused');
    // Nothing moves while frozen: the file the loop rewrites stays the same (read from the host).
    const upperTick = `${container.paths.upper}/tmp/tick`;
    const { readFile } = await import('node:fs/promises');
    const frozen = await readFile(upperTick, 'utf8');
    await new Promise((r) => setTimeout(r, 300));
    expect(await readFile(upperTick, 'utf8')).toBe(frozen);
    await c.unpause(container.id);
    await eventually(async () => (await readFile(upperTick, 'utf8')) !== frozen);
    expect((await learnerError(c.unpause(container.id))).key).toBe('container.notPaused');
    expect(c.collected.events.map((e) => e.type).filter((t) => t.endsWith('paused'))).toEqual(['container.paused', 'container.unpaused']);
    // A paused container can still be stopped.
    await c.pause(container.id);
    expect((await c.stop(container.id, { graceMs: 500 })).exitCode).toBe(137);
  });
});

describe('exec', () => {
  it('runs beside the container’s init with its env, user and working dir, and overrides them', async () => {
    await h.image('execme', { Env: ['PATH=/bin', 'WHO=image'], WorkingDir: '/work', User: 'daemon', Cmd: ['sleep', '1000'] });
    const c = h.containers();
    const { container } = await c.run({ image: 'execme' });
    const run = async (req: Parameters<Containers['exec']>[1]) => {
      const e = await c.exec(container.id, req);
      let out = '';
      e.process.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exit = await e.exited;
      return { out, exit };
    };
    expect((await run({ cmd: ['sh', '-c', 'echo $WHO $(pwd) $(id -u); exit 5'] })).out).toBe('image /work 1\n');
    expect((await run({ cmd: ['sh', '-c', 'exit 5'] })).exit.exitCode).toBe(5);
    expect((await run({ cmd: ['sh', '-c', 'echo $WHO $(pwd) $(id -u)'], env: ['WHO=exec'], user: 'root', workingDir: '/tmp' })).out).toBe(
      'exec /tmp 0\n',
    );
    // Its init is pid 1; the exec'd shell sees it.
    expect((await run({ cmd: ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'] })).out).toBe('sleep 1000 ');
    const tty = await run({ cmd: ['sh', '-c', 'tty; stty size'], tty: { rows: 30, cols: 90 } });
    expect(tty.out).toMatch(/\/dev\/pts\/\d+\r?\n30 90/);
    await expect(c.exec(container.id, { cmd: ['no-such-program'] }).then((e) => e.exited)).rejects.toMatchObject({ exitCode: 127 });
    await c.stop(container.id, { graceMs: 0 });
    expect((await learnerError(c.exec(container.id, { cmd: ['true'] }))).key).toBe('container.notRunning');
  });
});

describe('rm and rmi', () => {
  it('rm refuses a running container unless forced, and leaves nothing behind', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sleep', '1000'] });
    const err = await learnerError(c.remove(container.id));
    expect(err.key).toBe('container.isRunning');
    expect((await c.inspect(container.id)).status).toBe('running');
    await c.remove(container.id, { force: true });
    expect(await c.list({ all: true })).toEqual([]);
    expect(await h.leftovers()).toEqual([]);
    expect(c.collected.ofType('container.removed')).toMatchObject([{ containerId: container.id }]);
  });

  it('rmi refuses an image a container uses, running or not, and allows it once the container is gone', async () => {
    const imageId = await h.image('used', { Cmd: ['sleep', '1000'] });
    const c = h.containers();
    const { container } = await c.run({ image: 'used' });
    const qualified = c.images.qualify('used');
    await expect(h.store.remove(qualified)).rejects.toMatchObject({ key: 'image.conflict', message: expect.stringContaining(container.shortId) });
    await expect(h.store.remove(imageId)).rejects.toThrow(/running container/);
    await c.stop(container.id, { graceMs: 0 });
    await expect(h.store.remove(imageId)).rejects.toThrow(/stopped container/);
    await c.remove(container.id);
    expect(await h.store.remove(qualified)).toContainEqual({ deleted: imageId });
  });
});
