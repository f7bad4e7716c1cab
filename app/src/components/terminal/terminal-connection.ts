// The browser's side of one terminal, without the screen: attaches over the page's socket,
// hands each output byte to the screen exactly once (frames at or below what it already has are
// dropped, an overlap is cut), acks what the screen has rendered (batched: the relay holds the
// container back while this viewer is far behind), sends input in pieces the gateway accepts,
// and after a dropped connection attaches again after the last byte it received. A fresh
// connection (a reload) starts from the kept scrollback. No DOM here: the widget and the tests
// drive it with any socket.io client socket.
//
// The short way (given `openDirect`): the page socket only asks the gateway for the way in
// (`terminal:direct`: the worker host's endpoint and a token); the attachment then lives on a
// socket of its own to that host, which speaks the same messages. It cannot connect there (or is
// refused there): this connection attaches through the page socket from then on. It dropped:
// attach again from the start (a new token), after the last byte received, as on the page socket.
import { io } from 'socket.io-client';
import type { ErrorPayload } from '../../../../protocol/errors.js';
import {
  TERMINAL_INPUT_MAX_BYTES,
  terminalEvents,
  type TerminalAttachReply,
  type TerminalDirectEndpoint,
  type TerminalReplies,
  type TerminalClosedFrame,
  type TerminalErrorFrame,
  type TerminalExitFrame,
  type TerminalOutputFrame,
} from '../../../../protocol/socket/terminal.js';
import { oneFrameParser } from '../../../../protocol/socket/one-frame-parser.js';

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

/** A socket to a worker host's terminal endpoint (socket.io-client's, without reconnection). */
export interface DirectSocket extends TerminalSocket {
  disconnect(): unknown;
  /** socket.io's packets emitted while it could not send (public in socket.io-client). */
  readonly sendBuffer?: ReadonlyArray<{ data?: unknown }>;
}

/** The input a dropped direct socket still held unsent, in the order it was typed. */
function unsentInput(socket: DirectSocket): Uint8Array[] {
  return (socket.sendBuffer ?? []).flatMap((packet) => {
    const [event, payload] = Array.isArray(packet.data) ? packet.data : [];
    const data = (payload as { data?: unknown } | undefined)?.data;
    return event === terminalEvents.input && data instanceof Uint8Array ? [data] : [];
  });
}

export type DirectOpener = (endpoint: TerminalDirectEndpoint) => DirectSocket;

/**
 * Opens direct sockets for a page at `pageUrl`: to the endpoint's public URL, or to the page's
 * own host name at the endpoint's port. WebSocket only, and no reconnection of its own (a token
 * is good for one connection; the terminal asks for a new one).
 */
export function directSocketOpener(pageUrl: string): DirectOpener {
  const page = new URL(pageUrl);
  return (endpoint) =>
    io(endpoint.url ?? `${page.protocol}//${page.hostname}:${endpoint.port}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { token: endpoint.token },
      // The endpoint's packet format: each terminal message one WebSocket message (one-frame-parser.ts).
      parser: oneFrameParser,
    }) as unknown as DirectSocket;
}

type DirectReply = { ok: true } & TerminalReplies['terminal:direct'] | { ok: false; error: ErrorPayload };

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
/** A direct socket not connected by then is given up for the page socket. */
const DIRECT_CONNECT_TIMEOUT_MS = 3_000;
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
  /** The frames of an attachment, on whichever socket it lives. */
  private readonly frameListeners: [string, Listener][];
  /** The socket the attachment lives on: the page socket, or the direct one. */
  private channel: TerminalSocket;
  private direct: { socket: DirectSocket; dropped: Listener } | null = null;
  private readonly openDirect: DirectOpener | undefined;
  /** The direct way failed once: this terminal goes through the page socket from then on. */
  private directFailed = false;
  /**
   * Frames that came while an attach was waiting for its reply, for an attachment not known yet:
   * the host sends the backlog right after the reply, and where several WebSocket messages are
   * handled in one task (node's client does) they come before the reply's continuation runs.
   */
  private early: (() => void)[] = [];

  constructor(
    private readonly socket: TerminalSocket,
    readonly containerId: string,
    private readonly screen: TerminalScreen,
    options: { openDirect?: DirectOpener } = {},
  ) {
    this.channel = socket;
    this.openDirect = options.openDirect;
    const frame =
      <F extends { attachmentId?: string }>(handle: (f: F) => void) =>
      (f: F) => {
        if (this.attaching && f.attachmentId !== undefined && f.attachmentId !== this.attachmentId) this.early.push(() => handle(f));
        else handle(f);
      };
    this.frameListeners = [
      [terminalEvents.output, frame((f: TerminalOutputFrame) => this.onOutput(f))],
      [terminalEvents.exit, frame((f: TerminalExitFrame) => this.onExit(f))],
      [terminalEvents.closed, frame((f: TerminalClosedFrame) => this.onClosed(f.attachmentId))],
      [terminalEvents.error, frame((f: TerminalErrorFrame) => this.onError(f))],
    ];
    this.listeners = [
      ['connect', () => void this.attach()],
      ['disconnect', () => this.channel === socket && this.dropped()],
      ...this.frameListeners,
    ];
    for (const [event, fn] of this.listeners) socket.on(event, fn);
    screen.status({ state: 'connecting' });
    if (socket.connected) void this.attach();
  }

  private async attach(): Promise<void> {
    if (this.ended || this.hidden || this.attaching || this.attachmentId || !this.socket.connected) return;
    this.attaching = true;
    this.early = [];
    let reply: TerminalAttachReply;
    let channel: TerminalSocket = this.socket;
    let containerId = this.containerId;
    try {
      // A direct socket left from an attachment that ended (closed by the host) goes first.
      this.closeDirect();
      const offer = this.openDirect && !this.directFailed ? await this.askDirect() : null;
      if (offer?.ok && offer.direct) {
        const direct = await this.connectDirect(offer.direct);
        if (direct) {
          channel = direct;
          containerId = offer.containerId;
        } else this.directFailed = true;
      }
      const request = () =>
        channel
          .timeout(ATTACH_TIMEOUT_MS)
          .emitWithAck(terminalEvents.attach, { containerId, ...(this.received === null ? {} : { after: this.received }) }) as Promise<TerminalAttachReply>;
      // The gateway's refusal of the direct way is its refusal of the terminal.
      reply = offer && !offer.ok ? offer : await request();
      if (!reply.ok && channel !== this.socket) {
        // Refused on the worker host (e.g. no longer relayed there): the gateway decides.
        this.directFailed = true;
        this.closeDirect();
        channel = this.socket;
        containerId = this.containerId;
        reply = await request();
      }
    } catch {
      // No answer in time (or the connection went): try again while connected.
      this.attaching = false;
      if (channel !== this.socket) this.closeDirect();
      this.retry();
      return;
    }
    this.attaching = false;
    // Those of this attachment are handled once it is known, below; any other is stale.
    const early = this.early;
    this.early = [];
    if (this.ended) return;
    if (this.hidden && reply.ok) {
      this.detach(reply.attachmentId, channel);
      if (channel !== this.socket) this.closeDirect();
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
    this.channel = channel;
    // The scrollback starts at `from`; what we have is before it only if it was trimmed meanwhile.
    if (this.received === null || reply.from > this.received) this.received = reply.from;
    // The gateway counts the new attachment as having rendered up to `from`.
    this.acked = reply.from;
    this.everConnected = true;
    this.screen.status({ state: 'connected' });
    for (const handle of early) handle();
    if (this.ended) return;
    if (this.size) channel.emit(terminalEvents.resize, { attachmentId: reply.attachmentId, ...this.size });
    const queued = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const data of queued) this.sendInput(data);
  }

  private async askDirect(): Promise<DirectReply> {
    return (await this.socket.timeout(ATTACH_TIMEOUT_MS).emitWithAck(terminalEvents.direct, { containerId: this.containerId })) as DirectReply;
  }

  /** A connected direct socket carrying this terminal's frames, or null when it did not connect in time. */
  private async connectDirect(endpoint: TerminalDirectEndpoint): Promise<DirectSocket | null> {
    let socket: DirectSocket;
    try {
      socket = this.openDirect!(endpoint);
    } catch {
      return null;
    }
    const connected = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.off('connect', yes);
        socket.off('connect_error', no);
        resolve(ok);
      };
      const yes = () => done(true);
      const no = () => done(false);
      const timer = setTimeout(no, DIRECT_CONNECT_TIMEOUT_MS);
      socket.on('connect', yes);
      socket.on('connect_error', no);
    });
    if (!connected || this.ended) {
      socket.disconnect();
      return null;
    }
    const dropped = () => {
      if (this.direct?.socket !== socket) return;
      const carried = this.channel === socket;
      // Keys typed as the socket went (or once its ping had expired, as after a laptop's sleep:
      // socket.io then buffers instead of sending) would go with it: they are sent again after
      // attaching anew, before anything typed meanwhile.
      const unsent = carried ? unsentInput(socket) : [];
      this.closeDirect();
      if (carried) {
        this.dropped();
        for (const data of unsent.reverse()) this.requeue(data);
        this.retry();
      }
    };
    for (const [event, fn] of this.frameListeners) socket.on(event, fn);
    socket.on('disconnect', dropped);
    this.direct = { socket, dropped };
    return socket;
  }

  private closeDirect(): void {
    const direct = this.direct;
    if (!direct) return;
    this.direct = null;
    for (const [event, fn] of this.frameListeners) direct.socket.off(event, fn);
    direct.socket.off('disconnect', direct.dropped);
    direct.socket.disconnect();
    if (this.channel === direct.socket) {
      this.channel = this.socket;
      this.attachmentId = null;
    }
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
    this.closeDirect();
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
    this.channel.emit(terminalEvents.ack, { attachmentId: this.attachmentId, offset: this.acked });
  }

  /** Input that was sent but not delivered goes to the front of what waits for the attachment. */
  private requeue(data: Uint8Array): void {
    if (this.queuedBytes + data.byteLength > QUEUED_INPUT_MAX_BYTES) return;
    this.queued.unshift(data);
    this.queuedBytes += data.byteLength;
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
      this.channel.emit(terminalEvents.input, { attachmentId: this.attachmentId, data: data.subarray(at, at + TERMINAL_INPUT_MAX_BYTES) });
    }
  }

  resize(rows: number, cols: number): void {
    if (this.size?.rows === rows && this.size.cols === cols) return;
    this.size = { rows, cols };
    if (this.attachmentId) this.channel.emit(terminalEvents.resize, { attachmentId: this.attachmentId, rows, cols });
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
      if (this.attachmentId) this.detach(this.attachmentId, this.channel);
      this.attachmentId = null;
      // Shown again, it asks for a new token (a socket nobody uses holds nothing for long).
      this.closeDirect();
    } else void this.attach();
  }

  private detach(attachmentId: string, channel: TerminalSocket): void {
    // A direct socket's attachment ends with the socket (closed right after).
    if (channel !== this.socket) return;
    if (channel.connected) void channel.timeout(5_000).emitWithAck(terminalEvents.detach, { attachmentId }).catch(() => undefined);
  }

  dispose(): void {
    this.ended = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const [event, fn] of this.listeners) this.socket.off(event, fn);
    if (this.attachmentId) this.detach(this.attachmentId, this.channel);
    this.attachmentId = null;
    this.closeDirect();
  }
}
