// Files that say "this process uses X" for the host's other processes (the worker, each
// `layercake` verb): a lease is an empty file named for what it holds and for its process, which
// is told by its pid *and* its start time (/proc/<pid>/stat field 22), so a pid the kernel reused
// does not keep a dead process's lease alive. A process that dies without letting go (SIGKILL)
// leaves a file that every reader treats as gone and removes. Used by the host's blob cache (a
// blob being read is not evicted) and by the package proxy (squid stops with its last user).
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A process's start time in clock ticks since boot, or null when there is no such process. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** `<pid>-<start time>`: this process, as the host's other processes can check it is still the same one. */
export function processTag(pid = process.pid): string {
  return `${pid}-${startTime(pid) ?? 0}`;
}

export function isLive(tag: string): boolean {
  const [pid, start] = tag.split('-');
  return pid !== undefined && /^\d+$/.test(pid) && startTime(Number(pid)) === start;
}

let sequence = 0;

/** Takes a lease on `key` in `dir`; the returned function lets it go. */
export async function takeLease(dir: string, key: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${key}~${processTag()}~${sequence++}`);
  await writeFile(file, '');
  return () => rm(file, { force: true });
}

/** How many live leases each key of `dir` has; dead processes' leases are removed. */
export async function liveLeases(dir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const [key, tag] = name.split('~');
    if (key === undefined || tag === undefined) continue;
    if (isLive(tag)) counts.set(key, (counts.get(key) ?? 0) + 1);
    else await rm(join(dir, name), { force: true });
  }
  return counts;
}

/** The keys of `dir` some live process holds a lease on. */
export async function liveKeys(dir: string): Promise<Set<string>> {
  return new Set((await liveLeases(dir)).keys());
}

/**
 * An exclusive lock file held by this process (its tag inside), or null while a live process
 * holds it. A lock whose holder died is taken over.
 */
export async function tryLock(path: string): Promise<(() => Promise<void>) | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(processTag());
      await handle.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readFile(path, 'utf8').catch(() => '');
      // Held, or being written this instant (empty and new): not ours.
      if (holder !== '' ? isLive(holder) : Date.now() - (await stat(path).then((s) => s.mtimeMs, () => 0)) < 5_000) return null;
      await rm(path, { force: true });
    }
  }
  return null;
}

/** Waits for the lock (polling), up to `ms`. */
export async function lock(path: string, ms = 60_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const unlock = await tryLock(path);
    if (unlock) return unlock;
    if (Date.now() > deadline) throw new Error(`${path} stayed locked for ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
