// The detached monitor's attach socket (`create --output`): a client that stops reading holds
// the container back instead of being dropped, a watcher ('w') holds nothing back and hears
// only the exit, the exit frame comes after all output, and the log keeps the same frames, so
// stdout and stderr stay apart. Clients here speak the frames directly.
import { readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { decodeFrames, type Frame } from '../../worker/src/runtime/attachment.js';
import { isNative, runtimes, useSandbox, type Bundle, type Sandbox } from './harness.js';

const BYTES = 4_000_000;
const WRITER = ['/bin/sh', '-c', `head -c ${BYTES} /dev/zero | tr '\\0' a; echo done >&2`];

async function createDetached(sb: Sandbox, args: string[]): Promise<{ bundle: Bundle; log: string }> {
  const bundle = sb.bundle({ args });
  const log = join(bundle.dir, 'output.log');
  const r = await sb.command(['create', '--output', log, '--bundle', bundle.dir, bundle.id]);
  expect(r.code, r.stderr).toBe(0);
  return { bundle, log };
}

/** Connected, and not reading until `frames()` is called. */
async function attachClient(sb: Sandbox, id: string): Promise<{ socket: Socket; frames: () => Promise<Frame[]> }> {
  const socket = connect(join(sb.stateRoot, id, 'attach.sock'));
  socket.pause();
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    async frames() {
      socket.resume();
      await closed;
      const all = Buffer.concat(chunks);
      const { frames, used } = decodeFrames(all);
      expect(used).toBe(all.length);
      return frames;
    },
  };
}

/** Each stream's bytes, and whether the exit frame came last. */
function streams(frames: Frame[]): { o: number; onlyA: boolean; e: string; exit: string | null } {
  let o = 0;
  let onlyA = true;
  let e = '';
  for (const f of frames) {
    if (f.type === 'o') {
      o += f.payload.length;
      onlyA &&= f.payload.every((b) => b === 0x61);
    } else if (f.type === 'e') e += f.payload.toString();
  }
  const last = frames.at(-1);
  return { o, onlyA, e, exit: last?.type === 'x' ? last.payload.toString() : null };
}

async function stopped(sb: Sandbox, id: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if ((await sb.state(id)).status === 'stopped') return true;
  return false;
}

describe.each(runtimes())('attach socket — $name', (rt) => {
  const sandbox = useSandbox(rt);

  if (!isNative(rt)) {
    test.skip('runc has no --output: its detached containers keep the caller’s stdio', () => {});
    return;
  }

  test('a client that stops reading holds the container back, then gets every byte, the exit last', async () => {
    const sb = sandbox();
    const { bundle, log } = await createDetached(sb, WRITER);
    const reader = await attachClient(sb, bundle.id);
    expect((await sb.command(['start', bundle.id])).code).toBe(0);
    await sleep(1500);
    // The log is written as output is read: it stands still while the client is behind. Before
    // backpressure the monitor dropped this client at 256 KiB and the writer finished at once.
    const held = statSync(log).size;
    await sleep(1500);
    expect(statSync(log).size).toBe(held);
    expect(held).toBeLessThan(1_000_000);
    expect((await sb.state(bundle.id)).status).toBe('running');

    expect(streams(await reader.frames())).toEqual({ o: BYTES, onlyA: true, e: 'done\n', exit: '0' });
    const logged = readFileSync(log);
    const { frames, used } = decodeFrames(logged);
    expect(used).toBe(logged.length);
    expect(streams([...frames, { type: 'x', payload: Buffer.from('-') }])).toEqual({ o: BYTES, onlyA: true, e: 'done\n', exit: '-' });
  });

  test('a watcher that never reads holds nothing back, and hears only the exit', async () => {
    const sb = sandbox();
    const { bundle, log } = await createDetached(sb, WRITER);
    const watcher = await attachClient(sb, bundle.id);
    watcher.socket.write(Buffer.from([0x77, 0, 0, 0, 0])); // 'w', no payload
    await sleep(200);
    expect((await sb.command(['start', bundle.id])).code).toBe(0);
    expect(await stopped(sb, bundle.id, 15_000)).toBe(true);
    expect(statSync(log).size).toBeGreaterThan(BYTES);
    expect(await watcher.frames()).toEqual([{ type: 'x', payload: Buffer.from('0') }]);
  });

  test('input waits for a container that reads slowly, and stdin closes after it', async () => {
    const sb = sandbox();
    const { bundle } = await createDetached(sb, ['/bin/sh', '-c', 'sleep 1; wc -c']);
    const client = await attachClient(sb, bundle.id);
    expect((await sb.command(['start', bundle.id])).code).toBe(0);
    // 40 frames of 8 KiB, more than the monitor's 16 KiB buffer and the 64 KiB pipe, then 'c'.
    const frame = Buffer.concat([Buffer.from([0x69, 0, 0, 0x20, 0]), Buffer.alloc(8192, 0x62)]);
    for (let i = 0; i < 40; i++) client.socket.write(frame);
    client.socket.write(Buffer.from([0x63, 0, 0, 0, 0]));
    const got = await client.frames();
    expect(got.filter((f) => f.type === 'o').map((f) => f.payload.toString()).join('').trim()).toBe(String(40 * 8192));
    expect(got.at(-1)).toEqual({ type: 'x', payload: Buffer.from('0') });
  });
});
