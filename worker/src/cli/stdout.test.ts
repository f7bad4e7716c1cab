// A verb's output goes to fd 1 without node's stdout stream (stdout.ts): nothing is lost or
// reordered when fd 1 is a non-blocking socket whose reader stops for a while (the writes meet
// EAGAIN and the stream takes over), and a reader that goes away early ends nothing badly. The
// binary as a learner runs it; the control for each is the same output through a plain pipe.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN, spawnCli } from './test-support/spawn-cli.js';

let work: string;
let env: NodeJS.ProcessEnv;
/** `inspect` of one image many times over: ~1.3 MB, several times what a socket's buffers hold. */
const MANY = Array.from({ length: 1000 }, () => 'busybox');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-cli-stdout-');
  env = { ...process.env, LAYERCAKE_DATA: join(work, 'data'), LANG: 'C.UTF-8' };
  // A run brings the base image into this store.
  expect((await spawnCli(['run', '--rm', 'busybox', 'true'], { env, cwd: work })).code).toBe(0);
}, 120_000);

afterAll(() => rm(work, { recursive: true, force: true }));

/** A connected pair of unix sockets. */
async function socketPair(): Promise<{ ours: Socket; theirs: Socket; close(): void }> {
  const path = join(work, `pair-${Date.now()}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const { connect } = await import('node:net');
  const theirs = connect(path);
  await new Promise((r) => theirs.once('connect', r));
  const ours = await accepted;
  return { ours, theirs, close: () => (ours.destroy(), theirs.destroy(), server.close()) };
}

it('writes every byte once, in order, to a non-blocking socket whose reader stops for a second', async () => {
  const control = await spawnCli(['inspect', ...MANY], { env, cwd: work });
  expect(control.code).toBe(0);
  expect(control.stdout.length).toBeGreaterThan(1_000_000);

  const pair = await socketPair();
  try {
    // Node gives a child blocking stdio; perl (perl-base, essential in Debian) makes fd 1
    // non-blocking again before node starts, as a parent that shares its socket might.
    const nonBlocking = 'use Fcntl; fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die; exec @ARGV or die';
    const child = spawn('perl', ['-e', nonBlocking, process.execPath, BIN, 'inspect', ...MANY], { cwd: work, env, stdio: ['ignore', pair.theirs, 'pipe'] });
    pair.ours.pause();
    await sleep(1_000);
    // The child's fd 1 shares the socket's open file: non-blocking, so its writes met EAGAIN.
    const flags = Number.parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/fdinfo/1`, 'utf8'))![1]!, 8);
    expect(flags & 0o4000).toBe(0o4000);
    pair.theirs.destroy(); // our copy of their end: the child's stays open until it exits
    const chunks: Buffer[] = [];
    pair.ours.on('data', (d: Buffer) => chunks.push(d));
    pair.ours.resume();
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    await new Promise((r) => (pair.ours.readableEnded ? r(null) : pair.ours.once('end', r)));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(Buffer.byteLength(control.stdout));
    expect(sha(got)).toBe(sha(control.stdout));
  } finally {
    pair.close();
  }
}, 120_000);

it('ends quietly, status 0, when its reader goes away early (as `| head -c 100`)', async () => {
  const child = spawn(process.execPath, [BIN, 'inspect', ...MANY], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const first = await new Promise<Buffer>((r) => child.stdout.once('data', r));
  child.stdout.destroy();
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(first.toString().startsWith('[')).toBe(true);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
}, 120_000);
