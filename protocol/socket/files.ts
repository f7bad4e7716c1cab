// The learner's build context (the "workspace"), kept by the gateway per session in Redis.
// Browser → gateway messages, each answered through the ack callback with SocketReply<…>;
// the gateway → browser broadcast `files:changed` keeps every tab of a session in step.
//
//   files:list   {}                                   → { ok, files: FileInfo[], limits }
//   files:read   { path }                             → { ok, file: FileContent }
//   files:write  { path, content, encoding?, mode? }  → { ok, file: FileInfo }
//   files:rename { from, to }                         → { ok, file: FileInfo }
//   files:delete { path }                             → { ok }
//   files:changed (broadcast to the session's room)   FilesChanged
// Larger or binary files: POST /api/files/upload?path=<path> with the raw bytes as the body
// (answered with the same JSON reply as files:write).
import { z } from 'zod';
import { buildInputLimits } from '../limits.js';

const MiB = 1024 * 1024;

/**
 * What one session's workspace may hold: inside what one build may carry (protocol/limits.ts),
 * whose Dockerfile bound is the engine's own (build.dockerfileTooLarge).
 */
export const WORKSPACE_LIMITS = Object.freeze({
  fileBytes: 2 * MiB,
  totalBytes: 10 * MiB,
  files: 500,
  dockerfileBytes: buildInputLimits.dockerfileBytes,
  pathChars: 1024,
});

/**
 * A path inside the build context: relative, '/'-separated, no '', '.' or '..' segment, no
 * control characters or backslashes. A strict subset of protocol/jobs.ts's contextPath, so every
 * saved file can go into a build job.
 */
export const workspacePath = z
  .string()
  .min(1)
  .max(WORKSPACE_LIMITS.pathChars)
  .refine(
    (p) => !/[\u0000-\u001f\u007f\\]/.test(p) && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && s.length <= 255),
    'a relative path inside the build context',
  );

export const fileEncoding = z.enum(['utf8', 'base64']);
export const fileMode = z.number().int().min(0).max(0o7777);

export const filesListRequest = z.object({}).strict();
export const filesReadRequest = z.object({ path: workspacePath }).strict();
export const filesWriteRequest = z
  .object({
    path: workspacePath,
    /** utf8 text, or base64 for binary. Its decoded size is checked against the limits. */
    content: z.string(),
    encoding: fileEncoding.default('utf8'),
    mode: fileMode.default(0o644),
  })
  .strict();
export const filesRenameRequest = z.object({ from: workspacePath, to: workspacePath }).strict();
export const filesDeleteRequest = z.object({ path: workspacePath }).strict();

export type FilesWriteRequest = z.input<typeof filesWriteRequest>;

export const fileInfo = z.object({
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  mode: z.number().int(),
  /** ms since the epoch */
  updatedAt: z.number().int(),
  /** false when the bytes are not valid UTF-8 (shown as binary, not opened in the editor) */
  text: z.boolean(),
});
export type FileInfo = z.infer<typeof fileInfo>;

export const fileContent = fileInfo.extend({ content: z.string(), encoding: fileEncoding });
export type FileContent = z.infer<typeof fileContent>;

export const filesChanged = z.discriminatedUnion('change', [
  z.object({ change: z.literal('written'), file: fileInfo, origin: z.string() }),
  z.object({ change: z.literal('renamed'), from: z.string(), file: fileInfo, origin: z.string() }),
  z.object({ change: z.literal('deleted'), path: z.string(), origin: z.string() }),
]);
/** `origin` is the socket id that made the change ('' for an HTTP upload): a tab ignores its own echo. */
export type FilesChanged = z.infer<typeof filesChanged>;

export interface FilesReplies {
  'files:list': { files: FileInfo[]; limits: typeof WORKSPACE_LIMITS };
  'files:read': { file: FileContent };
  'files:write': { file: FileInfo };
  'files:rename': { file: FileInfo };
  'files:delete': object;
}

export const filesRequests = {
  'files:list': filesListRequest,
  'files:read': filesReadRequest,
  'files:write': filesWriteRequest,
  'files:rename': filesRenameRequest,
  'files:delete': filesDeleteRequest,
} as const;

export const FILES_UPLOAD_PATH = '/api/files/upload';
