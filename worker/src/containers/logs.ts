// `docker logs`: what the container wrote, from the file its launcher monitor keeps
// (`output.log`, at most 8 MiB, the 8 MiB before in `output.log.1`), so logs survive the process
// that started the container. The file holds the attach socket's frames ('o' stdout or the
// terminal, 'e' stderr), so stdout and stderr stay apart as Docker keeps them. With `follow`,
// new output is read as the monitor appends it, across a rotation, until the container has
// stopped and everything is read.
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFrames } from '../runtime/attachment.js';

/** The longest frame the launcher writes to the log: one read of the container's output. */
const MAX_FRAME = 16384;

export interface LogChunk {
  /** A container with a terminal has one stream, as with Docker: stdout. */
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface LogOptions {
  /** Only the last N lines (Docker's --tail), counted over both streams. */
  tail?: number | undefined;
  follow?: boolean | undefined;
  /** Asked between reads when following: the logs end once it says false and nothing is left. */
  isRunning?: () => Promise<boolean>;
  signal?: AbortSignal | undefined;
  pollMs?: number;
}

async function readFrom(path: string, offset: number): Promise<Buffer> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return Buffer.alloc(0);
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size - offset);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The complete frames in `bytes` as chunks (neighbours of one stream joined), and how many bytes
 * they took: a frame the monitor is still writing is left for the next read.
 */
export function decodeLog(bytes: Buffer): { chunks: LogChunk[]; used: number } {
  if (bytes.length === 0) return { chunks: [], used: 0 };
  // A log from before the launcher kept frames (a container made by an older checkout): bytes
  // only. The launcher's frames are 'o' or 'e' and at most one 16 KiB read long.
  const framed = (bytes[0] === 0x6f || bytes[0] === 0x65) && (bytes.length < 5 || bytes.readUInt32BE(1) <= MAX_FRAME);
  if (!framed) return { chunks: [{ stream: 'stdout', data: bytes }], used: bytes.length };
  const { frames, used } = decodeFrames(bytes);
  const runs: { stream: LogChunk['stream']; parts: Buffer[] }[] = [];
  for (const f of frames) {
    const stream = f.type === 'e' ? 'stderr' : 'stdout';
    const last = runs.at(-1);
    if (last?.stream === stream) last.parts.push(f.payload);
    else runs.push({ stream, parts: [f.payload] });
  }
  return { chunks: runs.map((r) => ({ stream: r.stream, data: Buffer.concat(r.parts) })), used };
}

/** The last `lines` lines of `text` (a final line without a newline counts as one). */
export function lastLines(text: Buffer, lines: number): Buffer {
  if (lines <= 0) return Buffer.alloc(0);
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  let start = end;
  for (let seen = 0; start > 0; start--) {
    if (text[start - 1] === 0x0a && ++seen === lines) break;
  }
  return text.subarray(start);
}

/** The chunks holding the last `lines` lines of both streams together, each still marked with its stream. */
export function lastLinesOf(chunks: LogChunk[], lines: number): LogChunk[] {
  const all = Buffer.concat(chunks.map((c) => c.data));
  const start = all.length - lastLines(all, lines).length;
  const kept: LogChunk[] = [];
  let at = 0;
  for (const c of chunks) {
    const end = at + c.data.length;
    if (end > start) kept.push({ stream: c.stream, data: c.data.subarray(Math.max(0, start - at)) });
    at = end;
  }
  return kept;
}

/** Yields the container's output: what is there, then (following) what comes. */
export async function* readLogs(outputFile: string, options: LogOptions = {}): AsyncGenerator<LogChunk> {
  const rotated = `${outputFile}.1`;
  const before = await stat(outputFile).catch(() => null);
  const older = decodeLog(await readFrom(rotated, 0));
  const latest = decodeLog(await readFrom(outputFile, 0));
  const history = [...older.chunks, ...latest.chunks];
  yield* options.tail !== undefined && options.tail >= 0 ? lastLinesOf(history, options.tail) : history;
  if (!options.follow) return;

  // Where we are: the inode of output.log and how much of it we have given out (whole frames).
  let inode = before?.ino ?? null;
  let offset = latest.used;
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    if (options.signal?.aborted) return;
    // Asked before reading, so output written just before the exit is still read below.
    const running = options.isRunning ? await options.isRunning() : false;
    const now = await stat(outputFile).catch(() => null);
    if (now && inode !== null && now.ino !== inode) {
      // The monitor rotated: the rest of the file we were reading is now output.log.1.
      yield* decodeLog(await readFrom(rotated, offset)).chunks;
      offset = 0;
    }
    if (now) {
      inode = now.ino;
      const fresh = decodeLog(await readFrom(outputFile, offset));
      offset += fresh.used;
      yield* fresh.chunks;
    }
    if (!running) return;
    try {
      await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : undefined);
    } catch {
      return; // aborted
    }
  }
}
