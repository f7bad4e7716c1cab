// `docker logs`: what the container wrote, from the file its launcher monitor keeps
// (`output.log`, at most 8 MiB, the 8 MiB before in `output.log.1`), so logs survive the process
// that started the container. The file holds the attach socket's frames ('o' stdout or the
// terminal, 'e' stderr), so stdout and stderr stay apart as Docker keeps them. With `follow`,
// new output is read as the monitor appends it, across a rotation, until the container has
// stopped and everything is read.
import { open, stat, type FileHandle } from 'node:fs/promises';
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
    return await readHandle(handle, offset);
  } finally {
    await handle.close();
  }
}

async function readHandle(handle: FileHandle, offset: number): Promise<Buffer> {
  const { size } = await handle.stat();
  if (size <= offset) return Buffer.alloc(0);
  const buffer = Buffer.alloc(size - offset);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
  return buffer.subarray(0, bytesRead);
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
  // The history is read within one generation of output.log: a rotation between reading the two
  // files would give one of them twice (or miss one), so a start that saw one is taken again.
  // output.log is read through an open handle, which keeps its file across a later rotation.
  let handle: FileHandle | null = null;
  let older = decodeLog(Buffer.alloc(0));
  let latest = older;
  for (let attempt = 0; ; attempt++) {
    handle = await open(outputFile, 'r').catch(() => null);
    const ino = handle ? (await handle.stat()).ino : null;
    older = decodeLog(await readFrom(rotated, 0));
    latest = decodeLog(handle ? await readHandle(handle, 0) : Buffer.alloc(0));
    const now = await stat(outputFile).catch(() => null);
    if ((now?.ino ?? null) === ino || attempt >= 8) break;
    await handle?.close();
  }
  try {
    const history = [...older.chunks, ...latest.chunks];
    yield* options.tail !== undefined && options.tail >= 0 ? lastLinesOf(history, options.tail) : history;
    if (!options.follow) return;

    // How much of the open output.log we have given out (whole frames).
    let offset = latest.used;
    const pollMs = options.pollMs ?? 200;
    for (;;) {
      if (options.signal?.aborted) return;
      // Asked before reading, so output written just before the exit is still read below.
      const running = options.isRunning ? await options.isRunning() : false;
      if (handle) {
        const fresh = decodeLog(await readHandle(handle, offset));
        offset += fresh.used;
        yield* fresh.chunks;
      }
      const now = await stat(outputFile).catch(() => null);
      if (now && (handle === null || now.ino !== (await handle.stat()).ino)) {
        // The monitor rotated (or the log appeared): once output.log is a new file the old one
        // gets nothing more, so what it got since the read above is drained through the
        // handle, and the new file is read from its start.
        if (handle) {
          yield* decodeLog(await readHandle(handle, offset)).chunks;
          await handle.close();
        }
        handle = await open(outputFile, 'r').catch(() => null);
        offset = 0;
        if (handle) continue;
      }
      if (!running) return;
      try {
        await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : undefined);
      } catch {
        return; // aborted
      }
    }
  } finally {
    await handle?.close();
  }
}
