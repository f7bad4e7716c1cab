// A verb's output written to fd 1 at once, without process.stdout. Making that stream costs a
// short command more than its own work: it loads node:stream and, for a pipe or a terminal,
// node:net and tty (6-20 ms measured here, of a `layercake ps` near 100 in all). The two keep
// their order: node's own writes to files, pipes and terminals are synchronous on Linux too.
import { writeSync } from 'node:fs';

type StdioName = 'stdout' | 'stderr';
const made: Record<StdioName, boolean> = { stdout: false, stderr: false };
let watching = false;

/**
 * From here on, notes when process.stdout or process.stderr is first made (by anyone), so that
 * writeOut() can tell whether the stream exists and exit() flushes only what does. The command
 * line's entry calls it; elsewhere (a test importing a verb) writeOut() simply uses the stream.
 */
export function watchStdio(): void {
  watching = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const own = Object.getOwnPropertyDescriptor(process, name);
    if (own?.get === undefined || !own.configurable) {
      made[name] = true; // already made, or not node's lazy getter
      continue;
    }
    const get = own.get;
    Object.defineProperty(process, name, {
      ...own,
      get() {
        made[name] = true;
        return get.call(process);
      },
    });
  }
}

/** Whether the stream exists (always true when nobody watches). */
export function stdioMade(name: StdioName): boolean {
  return !watching || made[name];
}

export function writeOut(text: string): void {
  if (stdioMade('stdout')) {
    process.stdout.write(text);
    return;
  }
  const bytes = Buffer.from(text);
  let at = 0;
  try {
    while (at < bytes.length) at += writeSync(1, bytes, at);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The reader went away (`| head -1`): the rest is unwanted, as for a tool that got SIGPIPE.
    if (code === 'EPIPE') return;
    // An fd 1 someone made non-blocking: the stream waits for it to drain.
    if (code === 'EAGAIN') process.stdout.write(bytes.subarray(at));
    else throw err;
  }
}
