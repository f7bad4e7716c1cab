// Attaching to a container's terminal: input reaches it, resizes reach `stty size`, detaching
// leaves it running, and its exit arrives as an event. No output is ever lost: every byte
// reaches every attached reader exactly once, a reader that stops reading holds the container
// back (the launcher stops reading its output), and the exit comes after all output.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Attachment } from '../runtime/container-runtime.js';
import type { ContainerAttachment } from './attachment.js';
import { launcherId } from './launch.js';
import { containerPaths } from './record.js';
import { createHarness, eventually, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('attach');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

function transcript(a: ContainerAttachment): { text: () => string; exit: Promise<number> } {
  let text = '';
  a.on('output', (_stream, data) => (text += data.toString()));
  const exit = new Promise<number>((resolve) => a.on('exit', resolve));
  return { text: () => text, exit };
}

it('a terminal started at the client’s size follows its resizes', async () => {
  const c = h.containers();
  const { container, attachment } = await c.run(
    { image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '] },
    { attach: true, consoleSize: { rows: 20, cols: 70 } },
  );
  const t = transcript(attachment!);
  attachment!.write('tty; stty size\n');
  await eventually(() => t.text().includes('20 70'));
  expect(t.text()).toContain('/dev/pts/0');
  attachment!.resize(33, 101);
  attachment!.write('stty size\n');
  await eventually(() => t.text().includes('33 101'));
  attachment!.write('exit 5\n');
  expect(await t.exit).toBe(5);
  expect((await c.wait(container.id)).exitCode).toBe(5);
});

it('detaching leaves the container running; attaching again sees new output; a stopped one cannot be attached', async () => {
  const c = h.containers();
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '] }, { attach: true });
  const first = transcript(attachment!);
  attachment!.write('echo first\n');
  await eventually(() => first.text().includes('first\r\n'));
  attachment!.detach();
  expect((await c.inspect(container.id)).status).toBe('running');

  const again = await c.attach(container.id);
  const second = transcript(again);
  again.write('echo second; exit 0\n');
  expect(await second.exit).toBe(0);
  expect(second.text()).toContain('second');
  expect(second.text()).not.toContain('first\r\n');
  await expect(c.attach(container.id)).rejects.toMatchObject({ key: 'container.attachStopped' });
});

it('without a terminal, stdout and stderr arrive apart', async () => {
  const c = h.containers();
  const { attachment } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo out; echo err >&2'] }, { attach: true });
  const seen: string[] = [];
  attachment!.on('output', (stream, data) => seen.push(`${stream}:${data.toString()}`));
  await new Promise<number>((resolve) => attachment!.on('exit', resolve));
  expect(seen.sort()).toEqual(['stderr:err\n', 'stdout:out\n']);
});

// ---- every byte, exactly once ----------------------------------------------------------------

/** `seq 1 3000000`: 22.9 MB of distinct lines, so a lost, doubled or reordered chunk changes the hash. */
const LINES = 3_000_000;

/** What `seq 1 n` prints (each line ended by `eol`): its length and sha256. */
function seqDigest(n: number, eol = '\n'): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (let from = 1; from <= n; from += 100_000) {
    let text = '';
    for (let i = from; i < from + 100_000 && i <= n; i++) text += `${i}${eol}`;
    hash.update(text);
    bytes += text.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

interface Received {
  bytes: number;
  sha256: string;
  stderr: string;
  /** How many bytes had arrived when the exit did. */
  bytesAtExit: number;
  exitCode: number;
}

/** Hashes what arrives; with `pauseAt`, stops reading (pause) once that much has come. */
function receive(a: Attachment, options: { pauseAt?: number } = {}): { bytes: () => number; done: Promise<Received>; paused: Promise<void> } {
  const hash = createHash('sha256');
  let bytes = 0;
  let stderr = '';
  let bytesAtExit = -1;
  let onPause: () => void = () => undefined;
  const paused = new Promise<void>((resolve) => (onPause = resolve));
  a.on('output', (stream, data) => {
    if (stream === 'stderr') return void (stderr += data.toString());
    hash.update(data);
    bytes += data.length;
    if (options.pauseAt !== undefined && bytes >= options.pauseAt && bytes - data.length < options.pauseAt) {
      a.pause();
      onPause();
    }
  });
  const done = new Promise<Received>((resolve) => {
    let exitCode = -1;
    a.on('exit', (code) => {
      exitCode = code;
      bytesAtExit = bytes;
    });
    a.on('close', () => resolve({ bytes, sha256: hash.digest('hex'), stderr, bytesAtExit, exitCode }));
  });
  return { bytes: () => bytes, done, paused };
}

function everything(digest: { bytes: number; sha256: string }): Received {
  return { ...digest, stderr: '', bytesAtExit: digest.bytes, exitCode: 0 };
}

/** The size of the container's current output log: it stands still while nothing is read from the container. */
async function logSize(h: Harness, id: string): Promise<number> {
  return (await stat(containerPaths(h.dataDir, id).output)).size;
}

it('22 MB without a terminal arrive whole, once, and before the exit', { timeout: 120_000 }, async () => {
  const c = h.containers();
  const { attachment } = await c.run({ image: 'busybox', cmd: ['seq', '1', String(LINES)] }, { attach: true });
  expect(await receive(attachment!).done).toEqual(everything(seqDigest(LINES)));
});

it('22 MB through a terminal arrive whole, once, and before the exit', { timeout: 120_000 }, async () => {
  const c = h.containers();
  const { attachment } = await c.run({ image: 'busybox', cmd: ['seq', '1', String(LINES)], tty: true }, { attach: true });
  // The terminal turns each \n into \r\n.
  expect(await receive(attachment!).done).toEqual(everything(seqDigest(LINES, '\r\n')));
});

it('a reader that stops for seconds holds the container back, then gets every byte once', { timeout: 120_000 }, async () => {
  const c = h.containers();
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['seq', '1', String(LINES)] }, { attach: true });
  const got = receive(attachment!, { pauseAt: 1_000_000 });
  await got.paused;
  await sleep(500);
  const held = await logSize(h, container.id);
  await sleep(2500);
  // Nothing was read from the container meanwhile (the log is written as output is read), and
  // it is still running: without backpressure seq finishes in about a second.
  expect(await logSize(h, container.id)).toBe(held);
  expect((await c.inspect(container.id)).status).toBe('running');
  attachment!.resume();
  expect(await got.done).toEqual(everything(seqDigest(LINES)));
});

it('with two readers, the slow one sets the pace and both get every byte; a watcher holds nothing back', { timeout: 120_000 }, async () => {
  const c = h.containers();
  // The pause gives the second reader and the watcher time to attach before any output.
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['sh', '-c', `sleep 1; seq 1 ${LINES}`] }, { attach: true });
  const fast = receive(attachment!);
  const second = await c.attach(container.id);
  const slow = receive(second, { pauseAt: 2_000_000 });
  const watcher = await h.runtime.attach(launcherId(container), { watch: true });
  const watched = receive(watcher);
  watcher.pause(); // a watcher that never reads: it gets no output, so it holds nothing back

  await slow.paused;
  await sleep(500);
  const fastAtPause = fast.bytes();
  await sleep(2000);
  expect(fast.bytes()).toBe(fastAtPause);
  expect(fastAtPause).toBeLessThan(seqDigest(LINES).bytes);
  // Resume the slow one: both finish with everything.
  second.resume();
  const expected = everything(seqDigest(LINES));
  expect(await fast.done).toEqual(expected);
  expect(await slow.done).toEqual(expected);
  watcher.resume();
  expect(await watched.done).toMatchObject({ bytes: 0, exitCode: 0 });
});

it('a reader that never reads cannot keep the container from being killed; it still gets what was written, then the exit', { timeout: 60_000 }, async () => {
  const c = h.containers();
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['seq', '1', String(LINES)] }, { attach: true });
  const got = receive(attachment!, { pauseAt: 1_000_000 });
  await got.paused;
  await sleep(500);
  const started = Date.now();
  await c.kill(container.id, 'SIGKILL');
  // The stopped state is written before the paused reader is served, so waiting does not wait for it.
  expect((await c.wait(container.id)).exitCode).toBe(137);
  expect(Date.now() - started).toBeLessThan(10_000);
  attachment!.resume();
  const end = await got.done;
  expect(end).toMatchObject({ exitCode: 137, bytesAtExit: end.bytes });
  expect(end.bytes).toBeLessThan(seqDigest(LINES).bytes);
});

it('output before the caller listens is kept for it, and past 256 KiB held back in the container', { timeout: 60_000 }, async () => {
  const c = h.containers();
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['seq', '1', String(LINES)] }, { attach: true });
  await sleep(2000); // nobody listens yet
  expect(await logSize(h, container.id)).toBeLessThan(2_000_000);
  expect((await c.inspect(container.id)).status).toBe('running');
  expect(await receive(attachment!).done).toEqual(everything(seqDigest(LINES)));
});
