// The learner's files (the build context), kept per session in Redis so they survive a reload,
// a browser restart and a restart of every process (the private Redis writes an AOF). Two
// hashes per session: bytes by path, and facts by path (size, mode, time, text or binary).
// Every change that must respect the limits runs as one Lua script, so two tabs (or two app
// processes) writing at once cannot together pass the workspace's size or file-count limit.
import { isUtf8 } from 'node:buffer';
import type { Redis } from 'ioredis';
import { formatBytes, LearnerError } from '../../protocol/errors.js';
import { WORKSPACE_LIMITS, type FileContent, type FileInfo } from '../../protocol/socket/files.js';

/** An untouched workspace is dropped after this long; every change renews it. */
export const WORKSPACE_TTL_MS = 90 * 24 * 3600 * 1000;

export const STARTER_DOCKERFILE = `# A first image: busybox with one more layer on top.
FROM busybox
RUN echo "hello from a new layer" > /hello.txt
CMD ["cat", "/hello.txt"]
`;

export type WorkspaceLimits = typeof WORKSPACE_LIMITS;

const SCRIPT_LIB = `
local function total_and_count(info)
  local total, count = 0, 0
  for _, v in ipairs(redis.call('HVALS', info)) do
    total = total + cjson.decode(v).sizeBytes
    count = count + 1
  end
  return total, count
end
local function starts_with(s, p) return string.sub(s, 1, #p) == p end
-- a file may not sit where a folder of another file is, nor a folder where a file is
local function clash(info, path, except)
  for _, k in ipairs(redis.call('HKEYS', info)) do
    if k ~= except and k ~= path and (starts_with(path, k .. '/') or starts_with(k, path .. '/')) then return k end
  end
  return false
end
`;

// KEYS data, info; ARGV path, bytes, info json, size, max files, max total, ttl
const WRITE = `${SCRIPT_LIB}
local path, size = ARGV[1], tonumber(ARGV[4])
local old = redis.call('HGET', KEYS[2], path)
-- The cheap refusal first (HLEN): a flood of new files past the limit costs O(1) each.
if not old then
  local count = redis.call('HLEN', KEYS[2])
  if count >= tonumber(ARGV[5]) then return {'tooMany', count} end
  local c = clash(KEYS[2], path, false)
  if c then return {'clash', c} end
end
local total = total_and_count(KEYS[2])
if old then total = total - cjson.decode(old).sizeBytes end
if total + size > tonumber(ARGV[6]) then return {'full', total + size} end
redis.call('HSET', KEYS[1], path, ARGV[2])
redis.call('HSET', KEYS[2], path, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[7]); redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {'ok', 0}
`;

// KEYS data, info; ARGV from, to, now, ttl. A file, or every file under a folder.
const RENAME = `${SCRIPT_LIB}
local from, to = ARGV[1], ARGV[2]
local moves = {}
if redis.call('HEXISTS', KEYS[2], from) == 1 then
  moves[1] = {from, to}
else
  for _, k in ipairs(redis.call('HKEYS', KEYS[2])) do
    if starts_with(k, from .. '/') then moves[#moves + 1] = {k, to .. string.sub(k, #from + 1)} end
  end
end
if #moves == 0 then return {'notFound', from} end
for _, m in ipairs(moves) do
  if redis.call('HEXISTS', KEYS[2], m[2]) == 1 then return {'exists', m[2]} end
  local c = clash(KEYS[2], m[2], m[1])
  if c and not starts_with(c, from .. '/') and c ~= from then return {'clash', c} end
end
for _, m in ipairs(moves) do
  local bytes = redis.call('HGET', KEYS[1], m[1])
  local info = cjson.decode(redis.call('HGET', KEYS[2], m[1]))
  info.path = m[2]
  info.updatedAt = tonumber(ARGV[3])
  redis.call('HDEL', KEYS[1], m[1]); redis.call('HDEL', KEYS[2], m[1])
  redis.call('HSET', KEYS[1], m[2], bytes); redis.call('HSET', KEYS[2], m[2], cjson.encode(info))
end
redis.call('PEXPIRE', KEYS[1], ARGV[4]); redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {'ok', #moves}
`;

// KEYS data, info; ARGV path. A file, or every file under a folder.
const DELETE = `${SCRIPT_LIB}
local path = ARGV[1]
local gone = {}
if redis.call('HEXISTS', KEYS[2], path) == 1 then gone[1] = path else
  for _, k in ipairs(redis.call('HKEYS', KEYS[2])) do
    if starts_with(k, path .. '/') then gone[#gone + 1] = k end
  end
end
for _, k in ipairs(gone) do redis.call('HDEL', KEYS[1], k); redis.call('HDEL', KEYS[2], k) end
return gone
`;

/** Is this file a Dockerfile by name (the engine's Dockerfile size bound applies)? */
export function isDockerfileName(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return base === 'dockerfile' || base.endsWith('.dockerfile') || base.startsWith('dockerfile.');
}

export class Workspace {
  private readonly data: string;
  private readonly info: string;
  private readonly seeded: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly sessionId: string,
    private readonly limits: WorkspaceLimits = WORKSPACE_LIMITS,
  ) {
    const base = `${prefix}:workspace:${sessionId}`;
    this.data = `${base}:data`;
    this.info = `${base}:info`;
    this.seeded = `${base}:seeded`;
  }

  /** A first visit gets the starter Dockerfile, once: deleting every file later leaves it empty. */
  async seedOnce(): Promise<void> {
    const first = await this.redis.set(this.seeded, '1', 'PX', WORKSPACE_TTL_MS, 'NX');
    if (first === 'OK') await this.write('Dockerfile', Buffer.from(STARTER_DOCKERFILE));
    else await this.redis.pexpire(this.seeded, WORKSPACE_TTL_MS);
  }

  async list(): Promise<FileInfo[]> {
    const all = await this.redis.hvals(this.info);
    return all.map((v) => JSON.parse(v) as FileInfo).sort((a, b) => a.path.localeCompare(b.path));
  }

  async read(path: string): Promise<FileContent> {
    const [bytes, info] = await Promise.all([this.redis.hgetBuffer(this.data, path), this.redis.hget(this.info, path)]);
    if (!bytes || !info) throw new LearnerError('files.notFound', { path });
    const facts = JSON.parse(info) as FileInfo;
    return { ...facts, content: bytes.toString(facts.text ? 'utf8' : 'base64'), encoding: facts.text ? 'utf8' : 'base64' };
  }

  /** Every file's bytes, for a build job. */
  async readAll(): Promise<{ info: FileInfo; bytes: Buffer }[]> {
    const [data, infos] = await Promise.all([this.redis.hgetallBuffer(this.data), this.redis.hvals(this.info)]);
    return infos.map((v) => {
      const info = JSON.parse(v) as FileInfo;
      return { info, bytes: data[info.path] ?? Buffer.alloc(0) };
    });
  }

  /** Refuses a single file above the limits before its bytes are even all read (uploads). */
  checkSize(path: string, sizeBytes: number): void {
    const limit = isDockerfileName(path) ? Math.min(this.limits.dockerfileBytes, this.limits.fileBytes) : this.limits.fileBytes;
    if (sizeBytes > limit) {
      throw isDockerfileName(path) && sizeBytes <= this.limits.fileBytes
        ? new LearnerError('build.dockerfileTooLarge', { size: formatBytes(sizeBytes), limit: formatBytes(limit) })
        : new LearnerError('files.tooLarge', { path, size: formatBytes(sizeBytes), limit: formatBytes(limit) });
    }
  }

  async write(path: string, bytes: Buffer, mode = 0o644): Promise<FileInfo> {
    this.checkSize(path, bytes.length);
    const info: FileInfo = { path, sizeBytes: bytes.length, mode, updatedAt: Date.now(), text: isUtf8(bytes) };
    const [status, detail] = (await this.redis.eval(
      WRITE, 2, this.data, this.info,
      path, bytes, JSON.stringify(info), bytes.length, this.limits.files, this.limits.totalBytes, WORKSPACE_TTL_MS,
    )) as [string, string | number];
    if (status === 'tooMany') throw new LearnerError('files.tooMany', { count: Number(detail), limit: this.limits.files });
    if (status === 'clash') throw new LearnerError('files.exists', { path: String(detail) });
    if (status === 'full') throw new LearnerError('files.workspaceFull', { size: formatBytes(Number(detail)), limit: formatBytes(this.limits.totalBytes) });
    return info;
  }

  /** Renames a file, or a folder (every file under it). Returns the files as they are now. */
  async rename(from: string, to: string): Promise<FileInfo[]> {
    if (from === to) return [(await this.read(from)) as FileInfo];
    if (to.startsWith(`${from}/`)) throw new LearnerError('files.badPath', { path: to });
    const [status, detail] = (await this.redis.eval(RENAME, 2, this.data, this.info, from, to, Date.now(), WORKSPACE_TTL_MS)) as [string, string | number];
    if (status === 'notFound') throw new LearnerError('files.notFound', { path: from });
    if (status === 'exists' || status === 'clash') throw new LearnerError('files.exists', { path: String(detail) });
    const now = await this.list();
    return now.filter((f) => f.path === to || f.path.startsWith(`${to}/`));
  }

  /** Deletes a file, or a folder (every file under it). Returns the deleted paths. */
  async delete(path: string): Promise<string[]> {
    const gone = (await this.redis.eval(DELETE, 2, this.data, this.info, path)) as string[];
    if (gone.length === 0) throw new LearnerError('files.notFound', { path });
    return gone;
  }
}
