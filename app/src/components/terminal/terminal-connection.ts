// The browser's side of one terminal, without the screen: attaches over the page's socket,
// hands each output byte to the screen exactly once (frames at or below what it already has are
// dropped, an overlap is cut), acks what the screen has rendered (batched: the relay holds the
// container back while this viewer is far behind), sends input in pieces the gateway accepts,
// and after a dropped connection attaches again after the last byte it received. A fresh
// connection (a reload) starts from the kept scrollback. No DOM here: the widget and the tests
// drive it with any socket.io client socket.
import type { ErrorPayload } from '../../../../protocol/errors.js';
import {
  TERMINAL_INPUT_MAX_BYTES,
  terminalEvents,
  type TerminalAttachReply,
  type TerminalClosedFrame,
  type TerminalErrorFrame,
  type TerminalExitFrame,
  type TerminalOutputFrame,
} from '../../../../protocol/socket/terminal.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/** What the connection needs of a socket.io client socket. */
export interface TerminalSocket {
  readonly connected: boolean;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  emit(event: string, ...args: unknown[]): unknown;
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
}

export type TerminalStatus =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting' }
  | { state: 'exited'; exitCode: number }
  | { state: 'failed'; error: ErrorPayload };

export interface TerminalScreen {
  /** Write these bytes, then call `rendered(offset)` once they are on screen. */
  write(data: Uint8Array, offset: number): void;
  status(status: TerminalStatus): void;
  /** Something sent was refused (e.g. a paste larger than a terminal takes at once). */
  notice?(error: ErrorPayload): void;
}

/**
 * Ack once this much is rendered past the last ack, or after ACK_DELAY_MS otherwise. Acks only
 * matter to the relay far below its 512 KiB high watermark (a flood is acked every 64 KiB), so
 * typing sends one a second, not one per keystroke beside each echo on a busy host.
 */
const ACK_EVERY_BYTES = 64 * 1024;
const ACK_DELAY_MS = 1000;
const ATTACH_TIMEOUT_MS = 15_000;
const RETRY_MS = 1_000;
/** Typing while reconnecting is kept up to this much and sent once attached. */
const QUEUED_INPUT_MAX_BYTES = TERMINAL_INPUT_MAX_BYTES;

export class TerminalConnection {
  private attachmentId: string | null = null;
  private attaching = false;
  /** Offset of the last byte handed to the screen; null before the first attach. */
  private received: number | null = null;
  private acked = 0;
  private renderedTo = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private size: { rows: number; cols: number } | null = null;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private ended = false;
  private hidden = false;
  private everConnected = false;
  private readonly listeners: [string, Listener][];

  constructor(
    private readonly socket: TerminalSocket,
    readonly containerId: string,
    private readonly screen: TerminalScreen,
  ) {
    this.listeners = [
      ['connect', () => void this.attach()],
      ['disconnect', () => this.dropped()],
      [terminalEvents.output, (f: TerminalOutputFrame) => this.onOutput(f)],
      [terminalEvents.exit, (f: TerminalExitFrame) => this.onExit(f)],
      [terminalEvents.closed, (f: TerminalClosedFrame) => this.onClosed(f.attachmentId)],
      [terminalEvents.error, (f: TerminalErrorFrame) => this.onError(f)],
    ];
    for (const [event, fn] of this.listeners) socket.on(event, fn);
    screen.status({ state: 'connecting' });
    if (socket.connected) void this.attach();
  }

  private async attach(): Promise<void> {
    if (this.ended || this.hidden || this.attaching || !this.socket.connected) return;
    this.attaching = true;
    this.attachmentId = null;
    let reply: TerminalAttachReply;
    try {
      reply = (await this.socket
        .timeout(ATTACH_TIMEOUT_MS)
        .emitWithAck(terminalEvents.attach, { containerId: this.containerId, ...(this.received === null ? {} : { after: this.received }) })) as TerminalAttachReply;
    } catch {
      // No answer in time (or the connection went): try again while connected.
      this.attaching = false;
      this.retry();
      return;
    }
    this.attaching = false;
    if (this.ended) return;
    if (this.hidden && reply.ok) {
      this.detach(reply.attachmentId);
      return;
    }
    if (!reply.ok) {
      const retryable = reply.error.kind === 'learner' && (reply.error.key === 'runs.timeout' || reply.error.key === 'socket.offline');
      if (retryable) return this.retry();
      this.ended = true;
      this.screen.status({ state: 'failed', error: reply.error });
      return;
    }
    this.attachmentId = reply.attachmentId;
    // The scrollback starts at `from`; what we have is before it only if it was trimmed meanwhile.
    if (this.received === null || reply.from > this.received) this.received = reply.from;
    // The gateway counts the new attachment as having rendered up to `from`.
    this.acked = reply.from;
    this.everConnected = true;
    this.screen.status({ state: 'connected' });
    if (this.size) this.socket.emit(terminalEvents.resize, { attachmentId: reply.attachmentId, ...this.size });
    const queued = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const data of queued) this.sendInput(data);
  }

  private retry(): void {
    if (this.ended || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attach();
    }, RETRY_MS);
  }

  private dropped(): void {
    this.attachmentId = null;
    if (!this.ended) this.screen.status({ state: this.everConnected ? 'reconnecting' : 'connecting' });
  }

  private onOutput(f: TerminalOutputFrame): void {
    if (f.attachmentId !== this.attachmentId || this.received === null) return;
    let data = f.data instanceof Uint8Array ? f.data : new Uint8Array(f.data);
    if (f.offset <= this.received) return;
    const start = f.offset - data.byteLength;
    if (start < this.received) data = data.subarray(this.received - start);
    this.received = f.offset;
    this.screen.write(data, f.offset);
  }

  private onExit(f: TerminalExitFrame): void {
    if (f.attachmentId !== this.attachmentId) return;
    this.ended = true;
    this.attachmentId = null;
    this.screen.status({ state: 'exited', exitCode: f.exitCode });
  }

  private onClosed(attachmentId: string): void {
    if (attachmentId !== this.attachmentId) return;
    this.attachmentId = null;
    this.screen.status({ state: 'reconnecting' });
    this.retry();
  }

  private onError(f: TerminalErrorFrame): void {
    if (f.attachmentId !== undefined && f.attachmentId !== this.attachmentId) return;
    // The gateway no longer knows our attachment (e.g. it restarted): attach again.
    if (f.error.kind === 'learner' && f.error.key === 'terminal.notAttached') this.onClosed(f.attachmentId ?? '');
    else this.screen.notice?.(f.error);
  }

  /** The screen rendered everything up to `offset`. */
  rendered(offset: number): void {
    if (offset <= this.renderedTo) return;
    this.renderedTo = offset;
    if (this.renderedTo - this.acked >= ACK_EVERY_BYTES) return this.sendAck();
    this.ackTimer ??= setTimeout(() => this.sendAck(), ACK_DELAY_MS);
  }

  private sendAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (!this.attachmentId || this.renderedTo <= this.acked) return;
    this.acked = this.renderedTo;
    this.socket.emit(terminalEvents.ack, { attachmentId: this.attachmentId, offset: this.acked });
  }

  /** Keystrokes and pastes, as bytes (the widget encodes text as UTF-8). */
  input(data: Uint8Array): void {
    if (this.ended || data.byteLength === 0) return;
    if (!this.attachmentId) {
      if (this.queuedBytes + data.byteLength <= QUEUED_INPUT_MAX_BYTES) {
        this.queued.push(data);
        this.queuedBytes += data.byteLength;
      }
      return;
    }
    this.sendInput(data);
  }

  private sendInput(data: Uint8Array): void {
    for (let at = 0; at < data.byteLength; at += TERMINAL_INPUT_MAX_BYTES) {
      this.socket.emit(terminalEvents.input, { attachmentId: this.attachmentId, data: data.subarray(at, at + TERMINAL_INPUT_MAX_BYTES) });
    }
  }

  resize(rows: number, cols: number): void {
    if (this.size?.rows === rows && this.size.cols === cols) return;
    this.size = { rows, cols };
    if (this.attachmentId) this.socket.emit(terminalEvents.resize, { attachmentId: this.attachmentId, rows, cols });
  }

  /**
   * A hidden page renders slowly (browsers throttle its timers), and a viewer that is behind holds
   * the container back: while hidden, this screen stops being a viewer, and when shown it
   * attaches again after what it has (past the kept scrollback, what it missed is skipped).
   */
  setVisible(visible: boolean): void {
    if (this.hidden === !visible) return;
    this.hidden = !visible;
    if (!visible) {
      if (this.attachmentId) this.detach(this.attachmentId);
      this.attachmentId = null;
    } else void this.attach();
  }

  private detach(attachmentId: string): void {
    if (this.socket.connected) void this.socket.timeout(5_000).emitWithAck(terminalEvents.detach, { attachmentId }).catch(() => undefined);
  }

  dispose(): void {
    this.ended = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const [event, fn] of this.listeners) this.socket.off(event, fn);
    if (this.attachmentId) this.detach(this.attachmentId);
    this.attachmentId = null;
  }
}
