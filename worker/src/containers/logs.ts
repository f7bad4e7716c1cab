// `docker logs`: what the container wrote, from the file its launcher monitor keeps
// (`output.log`, at most 8 MiB, the 8 MiB before in `output.log.1`), so logs survive the process
// that started the container. With `follow`, new output is read as the monitor appends it,
// across a rotation, until the container has stopped and everything is read.
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LogOptions {
  /** Only the last N lines (Docker's --tail). */
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

/** Yields the container's output: what is there, then (following) what comes. */
export async function* readLogs(outputFile: string, options: LogOptions = {}): AsyncGenerator<Buffer> {
  const rotated = `${outputFile}.1`;
  const before = await stat(outputFile).catch(() => null);
  const older = await readFrom(rotated, 0);
  const latest = await readFrom(outputFile, 0);
  const history = Buffer.concat([older, latest]);
  const first = options.tail !== undefined && options.tail >= 0 ? lastLines(history, options.tail) : history;
  if (first.length > 0) yield first;
  if (!options.follow) return;

  // Where we are: the inode of output.log and how much of it we have given out.
  let inode = before?.ino ?? null;
  let offset = latest.length;
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    if (options.signal?.aborted) return;
    // Asked before reading, so output written just before the exit is still read below.
    const running = options.isRunning ? await options.isRunning() : false;
    const now = await stat(outputFile).catch(() => null);
    if (now && inode !== null && now.ino !== inode) {
      // The monitor rotated: the rest of the file we were reading is now output.log.1.
      const rest = await readFrom(rotated, offset);
      if (rest.length > 0) yield rest;
      offset = 0;
    }
    if (now) {
      inode = now.ino;
      const fresh = await readFrom(outputFile, offset);
      if (fresh.length > 0) {
        offset += fresh.length;
        yield fresh;
      }
    }
    if (!running) return;
    try {
      await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : undefined);
    } catch {
      return; // aborted
    }
  }
}
