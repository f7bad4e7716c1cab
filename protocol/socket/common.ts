// What every socket reply looks like: a request with an ack callback gets `{ ok: true, ... }`
// or `{ ok: false, error }`, where error is a LearnerErrorPayload (i18n key + facts) or an
// internal one (an id to quote). The browser never sees a stack trace.
import { z } from 'zod';
import { errorPayload } from '../errors.js';

export const socketFailure = z.object({ ok: z.literal(false), error: errorPayload });
export type SocketFailure = z.infer<typeof socketFailure>;
export type SocketReply<T extends object = object> = ({ ok: true } & T) | SocketFailure;

/** Upper bound of one socket.io message, enforced by the server (maxHttpBufferSize). */
export const SOCKET_MESSAGE_MAX_BYTES = 1024 * 1024;
