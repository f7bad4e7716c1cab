// `logs`: the container's output as its launcher monitor recorded it, readable by any process,
// whole, tailed, or followed as it grows (across the monitor's log rotation), with stdout and
// stderr kept apart.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Containers } from './containers.js';
import { decodeLog, lastLines, type LogChunk } from './logs.js';
import { createHarness, eventually, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('logs');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

async function chunksOf(c: Containers, ref: string, options: Parameters<Containers['logs']>[1] = {}): Promise<LogChunk[]> {
  const chunks: LogChunk[] = [];
  for await (const chunk of await c.logs(ref, options)) chunks.push(chunk);
  return chunks;
}

async function collect(c: Containers, ref: string, options: Parameters<Containers['logs']>[1] = {}): Promise<Buffer> {
  return Buffer.concat((await chunksOf(c, ref, options)).map((chunk) => chunk.data));
}

/** Each stream's text, and the order the streams took turns in. */
function byStream(chunks: LogChunk[]): { stdout: string; stderr: string; turns: string[] } {
  const text = { stdout: '', stderr: '' };
  const turns: string[] = [];
  for (const chunk of chunks) {
    text[chunk.stream] += chunk.data.toString();
    if (turns.at(-1) !== chunk.stream) turns.push(chunk.stream);
  }
  return { ...text, turns };
}

it('keeps the output of a container whose starter process is gone', async () => {
  const id = await h.runDetached({ image: 'busybox', cmd: ['sh', '-c', 'echo one; echo oops >&2; sleep 0.5; echo two'] });
  const c = h.containers();
  // Followed from here, by a process that did not start it: ends when the container does.
  const followed = await collect(c, id, { follow: true });
  expect(followed.toString()).toBe('one\noops\ntwo\n');
  expect((await c.inspect(id)).status).toBe('exited');
  expect((await collect(c, id)).toString()).toBe('one\noops\ntwo\n');
});

it('shows the last N lines with tail', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; printf partial'] });
  await c.wait(container.id);
  expect((await collect(c, container.id, { tail: 2 })).toString()).toBe('line5\npartial');
  expect((await collect(c, container.id, { tail: 0 })).toString()).toBe('');
  expect((await collect(c, container.id, { tail: 100 })).toString()).toBe('line1\nline2\nline3\nline4\nline5\npartial');
  expect(lastLines(Buffer.from('a\nb\nc\n'), 2).toString()).toBe('b\nc\n');
});

it('follows output as it is written, through the launcher’s rotation of a full log', async () => {
  const c = h.containers();
  // 20-byte lines, 10 MB in all: more than the 8 MiB the launcher keeps in output.log.
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'sleep 0.3; yes 0123456789012345678 | head -n 500000; echo end'] });
  let total = 0;
  let tail = '';
  for await (const chunk of await c.logs(container.id, { follow: true })) {
    total += chunk.data.length;
    tail = (tail + chunk.data.toString()).slice(-64);
  }
  expect(total).toBe(500000 * 20 + 4);
  expect(tail.endsWith('0123456789012345678\nend\n')).toBe(true);
  // Afterwards the whole of it is still there: output.log.1 and output.log.
  expect((await collect(c, container.id)).length).toBe(500000 * 20 + 4);
});

it('stops following when asked', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo hi; sleep 1000'] });
  const abort = new AbortController();
  let seen = '';
  const reading = (async () => {
    for await (const chunk of await c.logs(container.id, { follow: true, signal: abort.signal })) seen += chunk.data.toString();
  })();
  await eventually(() => seen === 'hi\n');
  abort.abort();
  await reading;
  expect((await c.inspect(container.id)).status).toBe('running');
});

it('keeps stdout and stderr apart, in order, tailed over both, across a rotation', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c'] });
  await c.wait(container.id);
  expect(byStream(await chunksOf(c, container.id))).toEqual({ stdout: 'a\nc\n', stderr: 'b\n', turns: ['stdout', 'stderr', 'stdout'] });
  // Docker's --tail counts the lines of both streams together.
  expect(await chunksOf(c, container.id, { tail: 2 })).toEqual([
    { stream: 'stderr', data: Buffer.from('b\n') },
    { stream: 'stdout', data: Buffer.from('c\n') },
  ]);

  // 9 MB of stdout pushes the log past 8 MiB; a line of stderr after the rotation stays stderr.
  const { container: big } = await c.run({
    image: 'busybox',
    cmd: ['sh', '-c', 'echo before >&2; yes 0123456789012345678 | head -n 450000; echo after >&2; echo end'],
  });
  const followed = byStream(await chunksOf(c, big.id, { follow: true }));
  expect(followed.stderr).toBe('before\nafter\n');
  expect(followed.stdout.length).toBe(450000 * 20 + 4);
  expect(followed.stdout.endsWith('0123456789012345678\nend\n')).toBe(true);
  const kept = byStream(await chunksOf(c, big.id));
  expect(kept.stderr).toBe('before\nafter\n');
  expect(kept.stdout).toBe(followed.stdout);
});

it('a container with a terminal has one stream, as with Docker', async () => {
  const c = h.containers();
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo out; echo err >&2'], tty: true });
  await c.wait(container.id);
  expect(byStream(await chunksOf(c, container.id))).toEqual({ stdout: 'out\r\nerr\r\n', stderr: '', turns: ['stdout'] });
});

it('reads a log from before frames were kept as stdout, and leaves a frame still being written for later', () => {
  expect(decodeLog(Buffer.from('error: old log\n'))).toEqual({ chunks: [{ stream: 'stdout', data: Buffer.from('error: old log\n') }], used: 15 });
  const frames = Buffer.from([0x6f, 0, 0, 0, 2, 0x68, 0x69, 0x65, 0, 0, 0, 1, 0x21, 0x6f, 0, 0, 0, 9, 0x2e]);
  expect(decodeLog(frames)).toEqual({
    chunks: [
      { stream: 'stdout', data: Buffer.from('hi') },
      { stream: 'stderr', data: Buffer.from('!') },
    ],
    used: 13,
  });
});
