// The local terminal joined to a container's stdio (run -it, start -ai, attach, exec -it): raw
// mode so every key reaches the container, window-size changes (SIGWINCH) passed on, and
// Ctrl-P Ctrl-Q to detach and leave the container running, as with Docker.

export interface InputTarget {
  write(data: Buffer): void;
  resize(rows: number, cols: number): void;
  /** End of local input: close the container's stdin. */
  endInput(): void;
  /** Leave the container running (attachments only; exec has no detach). */
  detach?: () => void;
}

export interface Relay {
  /** Resolves when the learner typed the detach keys. */
  readonly detached: Promise<void>;
  /** Restore the terminal and stop reading it. */
  stop(): void;
}

const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/** Splits input on Docker's detach sequence (Ctrl-P Ctrl-Q); a lone Ctrl-P is passed on with what follows. */
export class DetachKeys {
  private pendingCtrlP = false;

  /** What to send on, and whether the sequence was completed. */
  feed(chunk: Buffer): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.pendingCtrlP) {
        this.pendingCtrlP = false;
        if (byte === CTRL_Q) return { send: Buffer.from(out), detach: true };
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) this.pendingCtrlP = true;
      else out.push(byte);
    }
    return { send: Buffer.from(out), detach: false };
  }
}

export function relayInput(target: InputTarget, options: { tty: boolean; interactive: boolean }): Relay {
  const stdin = process.stdin;
  const stdout = process.stdout;
  let onDetach: () => void = () => undefined;
  const detached = new Promise<void>((resolve) => (onDetach = resolve));
  const raw = options.tty && options.interactive && stdin.isTTY;
  const keys = new DetachKeys();

  const onData = (chunk: Buffer): void => {
    // Detach keys only with a terminal, as with Docker: piped input is data, every byte of it.
    if (!target.detach || !options.tty) return target.write(chunk);
    const { send, detach } = keys.feed(chunk);
    if (send.length > 0) target.write(send);
    if (detach) onDetach();
  };
  const onEnd = (): void => target.endInput();
  const onResize = (): void => {
    if (stdout.rows > 0 && stdout.columns > 0) target.resize(stdout.rows, stdout.columns);
  };

  if (options.interactive) {
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onData);
    if (!options.tty) stdin.on('end', onEnd);
    stdin.resume();
  }
  if (options.tty && stdout.isTTY) {
    onResize();
    // Node turns SIGWINCH into 'resize' on a TTY stdout.
    stdout.on('resize', onResize);
  }
  return {
    detached,
    stop() {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdout.off('resize', onResize);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
    },
  };
}

export interface OutputSource {
  on(event: 'output', listener: (stream: 'stdout' | 'stderr', data: Buffer) => void): unknown;
  pause(): void;
  resume(): void;
}

/**
 * The container's output to the local stdout and stderr at the pace they take it: while either
 * is full (write() said false, until 'drain') the source is paused, and through it the container
 * (`layercake run … | slow-reader` holds the container back, and loses nothing).
 */
export function relayOutput(source: OutputSource): void {
  const full = new Set<NodeJS.WriteStream>();
  source.on('output', (stream, data) => {
    const out = stream === 'stderr' ? process.stderr : process.stdout;
    if (out.write(data) || full.has(out)) return;
    full.add(out);
    source.pause();
    out.once('drain', () => {
      full.delete(out);
      if (full.size === 0) source.resume();
    });
  });
}

/** The local terminal's size, when there is one. */
export function localConsoleSize(): { rows: number; cols: number } | undefined {
  const { rows, columns } = process.stdout;
  // A terminal nobody sized (a fresh pty) reports 0×0: then the container's default applies.
  return process.stdout.isTTY && rows > 0 && columns > 0 ? { rows, cols: columns } : undefined;
}
