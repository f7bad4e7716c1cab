// What every socket reply looks like: a request with an ack callback gets `{ ok: true, ... }`
// or `{ ok: false, error }`, where error is a LearnerErrorPayload (i18n key + facts) or an
// internal one (an id to quote). The browser never sees a stack trace.
//
// Refusals every feature shares (keys in protocol/i18n.ts):
//   socket.badMessage  the message does not match its schema (facts.detail names the field)
//   socket.tooLarge    larger than SOCKET_MESSAGE_MAX_BYTES (the client checks before sending;
//                      the server drops a connection that sends one anyway)
//   socket.noAck       a request sent without an ack callback (nothing to answer to)
//   rateLimited        too many of one kind of request (facts.action, facts.seconds)
//   session.missing    connection refused: no valid session cookie (GET SESSION_PATH issues one)
import { z } from 'zod';
import { errorPayload } from '../errors.js';

export const socketFailure = z.object({ ok: z.literal(false), error: errorPayload });
export type SocketFailure = z.infer<typeof socketFailure>;
export type SocketReply<T extends object = object> = ({ ok: true } & T) | SocketFailure;

/**
 * Upper bound of one socket.io message, enforced by the server (maxHttpBufferSize): room for
 * the largest workspace file (2 MiB) written as base64, with its envelope.
 */
export const SOCKET_MESSAGE_MAX_BYTES = 3 * 1024 * 1024;

/** The signed, httpOnly session cookie the gateway issues; the socket handshake carries it. */
export const SESSION_COOKIE = 'layercake_session';
/** GET here issues the cookie (if missing or invalid) and answers `{ ok: true }`. */
export const SESSION_PATH = '/api/session';
/** socket.io's endpoint (its default). */
export const SOCKET_PATH = '/socket.io';
