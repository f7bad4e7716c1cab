// The learner's files over socket.io (files:list/read/write/rename/delete) and HTTP (upload),
// stored by workspace.ts. Every change is told to the session's room (files:changed), so a
// second tab, on this or another app process, shows it at once.
import type { IncomingMessage } from 'node:http';
import { formatBytes, LearnerError } from '../../../protocol/errors.js';
import {
  filesRequests,
  workspacePath,
  WORKSPACE_LIMITS,
  type FileInfo,
  type FilesChanged,
} from '../../../protocol/socket/files.js';
import { FILES_UPLOAD_PATH } from '../../../protocol/socket/files.js';
import type { GatewayContext, GatewayServer } from '../context.js';
import { queryParam, sendJson } from '../http.js';
import { errorPayloadOf } from '../replies.js';
import { Workspace } from '../workspace.js';

function decode(path: string, content: string, encoding: 'utf8' | 'base64'): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  // Buffer.from(…, 'base64') skips what is not base64; a learner's broken upload should say so.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content) || content.length % 4 === 1) throw new LearnerError('files.badEncoding', { path, encoding: 'base64' });
  return Buffer.from(content, 'base64');
}

/**
 * Reads a request body up to `limit` bytes; past it, stops reading and refuses, so a 200 MB
 * upload never sits in memory. The connection is closed after the reply (the rest unread).
 */
async function readBody(req: IncomingMessage, limit: number, tooLarge: (size: number) => LearnerError): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(size);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Lets a refused upload's sender finish writing (a browser that cannot finish its request may
 * never read the reply), without keeping anything, and hangs up after a few MiB more.
 */
function discardRest(req: IncomingMessage): void {
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > 8 * 1024 * 1024) req.socket.destroy();
  });
  req.resume();
}

export function register(io: GatewayServer, ctx: GatewayContext): void {
  const workspaceOf = (sessionId: string) => new Workspace(ctx.redis, ctx.prefix, sessionId);
  const tell = (sessionId: string, change: FilesChanged) => io.to(ctx.sessionRoom(sessionId)).emit('files:changed', change);

  io.on('connection', (socket) => {
    const origin = socket.id;
    ctx.handle(socket, 'files:list', filesRequests['files:list'], async (_, sessionId) => {
      const ws = workspaceOf(sessionId);
      await ws.seedOnce();
      return { files: await ws.list(), limits: WORKSPACE_LIMITS };
    });
    ctx.handle(socket, 'files:read', filesRequests['files:read'], async ({ path }, sessionId) => ({ file: await workspaceOf(sessionId).read(path) }));
    ctx.handle(
      socket,
      'files:write',
      filesRequests['files:write'],
      async ({ path, content, encoding, mode }, sessionId) => {
        const file = await workspaceOf(sessionId).write(path, decode(path, content, encoding), mode);
        tell(sessionId, { change: 'written', file, origin });
        return { file };
      },
      { rate: 'fileWrites' },
    );
    ctx.handle(
      socket,
      'files:rename',
      filesRequests['files:rename'],
      async ({ from, to }, sessionId) => {
        const moved = await workspaceOf(sessionId).rename(from, to);
        for (const file of moved) tell(sessionId, { change: 'renamed', from: from === to ? from : from + file.path.slice(to.length), file, origin });
        return { file: moved[0]! };
      },
      { rate: 'fileWrites' },
    );
    ctx.handle(
      socket,
      'files:delete',
      filesRequests['files:delete'],
      async ({ path }, sessionId) => {
        for (const gone of await workspaceOf(sessionId).delete(path)) tell(sessionId, { change: 'deleted', path: gone, origin });
        return {};
      },
      { rate: 'fileWrites' },
    );
  });

  // POST /api/files/upload?path=<path>&mode=<octal>: the raw bytes as the body.
  ctx.route('POST', FILES_UPLOAD_PATH, async (req, res, sessionId) => {
    let file: FileInfo;
    try {
      const parsedPath = workspacePath.safeParse(queryParam(req, 'path') ?? '');
      if (!parsedPath.success) throw new LearnerError('files.badPath', { path: (queryParam(req, 'path') ?? '').slice(0, 200) });
      const path = parsedPath.data;
      const mode = queryParam(req, 'mode');
      const modeBits = mode && /^[0-7]{3,4}$/.test(mode) ? parseInt(mode, 8) : 0o644;
      await ctx.limiter.take(sessionId, 'uploads');
      const ws = workspaceOf(sessionId);
      const limit = WORKSPACE_LIMITS.fileBytes;
      const body = await readBody(req, limit, (size) => new LearnerError('files.tooLarge', { path, size: formatBytes(size), limit: formatBytes(limit) }));
      file = await ws.write(path, body, modeBits);
    } catch (err) {
      const error = errorPayloadOf(err, ctx.log, { route: FILES_UPLOAD_PATH, session: sessionId });
      // Whatever of the body is still coming is not read: close once the reply is out.
      res.setHeader('connection', 'close');
      sendJson(res, error.kind === 'learner' ? (error.key === 'files.tooLarge' ? 413 : error.key.startsWith('rateLimited') ? 429 : 400) : 500, { ok: false, error });
      discardRest(req);
      return;
    }
    tell(sessionId, { change: 'written', file, origin: '' });
    sendJson(res, 200, { ok: true, file });
  });
}
