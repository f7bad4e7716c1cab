// Terminal messages between the browser and the gateway (socket.io, binary frames).
//
// A terminal shows one container's terminal. Its output is a byte stream whose positions are
// byte offsets: every output frame says where it ends, the browser renders it, then acks that
// offset (flow control: the container is held back while a live viewer is far behind), and a
// reconnecting browser asks for the output after the offset it rendered last (or, with a fresh
// screen, from the start of the kept scrollback). Bytes travel as binary; only xterm decodes them.
//
//   browser → gateway                                           gateway → browser
//   terminal:attach  {containerId, after?} + ack → AttachReply  terminal:output {attachmentId, offset, data}
//   terminal:input   {attachmentId, data}                       terminal:exit   {attachmentId, exitCode, offset}
//   terminal:resize  {attachmentId, rows, cols}                 terminal:closed {attachmentId, error?}
//   terminal:ack     {attachmentId, offset}                     terminal:error  {attachmentId?, error}
//   terminal:detach  {attachmentId} + ack
//   terminal:direct  {containerId} + ack → DirectReply (the worker host's endpoint and a token)
//
// The direct path (worker/src/terminals/endpoint.ts): the page opens a socket of its own to the
// worker host that owns the container, with the gateway's token in the handshake (`auth`), and
// speaks the same messages on it (attach, input, resize, ack, detach; output, exit, closed,
// error), one attachment per socket. When it cannot connect, it attaches through the gateway.
// The gateway takes the session from the cookie and checks the container is the session's
// before anything reaches the container; input, resize and ack name an attachment the gateway
// made for this socket, never a container.
import { z } from 'zod';
import type { ErrorPayload } from '../errors.js';
import type { SocketReply } from './common.js';

/** Most bytes of input one message carries (a paste is split by the widget). */
export const TERMINAL_INPUT_MAX_BYTES = 64 * 1024;
export const TERMINAL_ROWS_MAX = 500;
export const TERMINAL_COLS_MAX = 1000;

export const terminalEvents = {
  attach: 'terminal:attach',
  input: 'terminal:input',
  resize: 'terminal:resize',
  ack: 'terminal:ack',
  detach: 'terminal:detach',
  direct: 'terminal:direct',
  output: 'terminal:output',
  exit: 'terminal:exit',
  closed: 'terminal:closed',
  error: 'terminal:error',
} as const;

/** A container id, short id or name as the learner's page knows it. */
const containerRef = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/);
/** A byte offset in the terminal's output (2^53 bytes is more than any container writes). */
const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const attachmentId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

export const terminalAttach = z.strictObject({
  containerId: containerRef,
  /** The offset the browser rendered up to; absent: from the start of the kept scrollback. */
  after: offset.optional(),
});
export type TerminalAttach = z.infer<typeof terminalAttach>;

/** Input bytes: socket.io delivers a browser's ArrayBuffer/Uint8Array as a Node Buffer. */
const inputBytes = z
  .custom<Uint8Array>((v) => v instanceof Uint8Array || v instanceof ArrayBuffer, 'binary data')
  .transform((v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : v))
  .refine((v) => v.byteLength > 0 && v.byteLength <= TERMINAL_INPUT_MAX_BYTES, `1 to ${TERMINAL_INPUT_MAX_BYTES} bytes`);

export const terminalInput = z.strictObject({ attachmentId, data: inputBytes });
export type TerminalInput = z.infer<typeof terminalInput>;

export const terminalResize = z.strictObject({
  attachmentId,
  rows: z.number().int().min(1).max(TERMINAL_ROWS_MAX),
  cols: z.number().int().min(1).max(TERMINAL_COLS_MAX),
});
export type TerminalResize = z.infer<typeof terminalResize>;

export const terminalAck = z.strictObject({ attachmentId, offset });
export type TerminalAck = z.infer<typeof terminalAck>;

export const terminalDetach = z.strictObject({ attachmentId });
export type TerminalDetach = z.infer<typeof terminalDetach>;

export const terminalDirect = z.strictObject({ containerId: containerRef });
export type TerminalDirect = z.infer<typeof terminalDirect>;

/** The handshake of a direct socket: the token the gateway signed (at most 1 KiB). */
export const terminalDirectAuth = z.strictObject({ token: z.string().min(1).max(1024) });

/**
 * Largest message a direct socket takes (one input piece and its envelope); a larger one ends
 * the connection (socket.io's maxHttpBufferSize).
 */
export const TERMINAL_DIRECT_MESSAGE_MAX_BYTES = TERMINAL_INPUT_MAX_BYTES + 4 * 1024;

/** Where to open a direct socket: `url`, or (null) the page's own host name at `port`. */
export interface TerminalDirectEndpoint {
  url: string | null;
  port: number;
  token: string;
}

/**
 * The reply to terminal:attach. `containerId` is the full id; `from` is where the first output
 * frame starts (the kept scrollback may begin after `after`).
 */
export type TerminalAttachReply = SocketReply<TerminalReplies['terminal:attach']>;

/** Output bytes ending at `offset` (they start at offset - data.byteLength). */
export interface TerminalOutputFrame {
  attachmentId: string;
  offset: number;
  /** A Buffer on the server; an ArrayBuffer in the browser. */
  data: ArrayBuffer | Uint8Array;
}

/** The container exited: nothing follows `offset`. */
export interface TerminalExitFrame {
  attachmentId: string;
  exitCode: number;
  offset: number;
}

/** The gateway ended the attachment (an error, or the relay was stopped); attach again to go on. */
export interface TerminalClosedFrame {
  attachmentId: string;
  error?: ErrorPayload;
}

/** A terminal message without a reply (input, resize, ack) was refused. */
export interface TerminalErrorFrame {
  attachmentId?: string;
  error: ErrorPayload;
}

/** Request events and what their `{ ok: true }` replies carry (see SocketReplies). */
export interface TerminalReplies {
  'terminal:attach': { attachmentId: string; containerId: string; from: number };
  'terminal:detach': object;
  /** `direct` null: this terminal goes through the gateway (no endpoint, or it has ended). */
  'terminal:direct': { containerId: string; direct: TerminalDirectEndpoint | null };
}
