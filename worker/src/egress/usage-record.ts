// A session's way-out counts on disk, beside its other records: <data>/sessions/<s>/egress-usage.log.
// One JSON line per flush of one relay: what it counted since its previous line (bytes, ms, bytes
// per host, a limit it cut at; the refusals stay with the relay, for its step's report). Lines are only appended (O_APPEND: each write lands whole at the
// end), never rewritten, so every process that relays for the session (the worker, a `layercake
// build` or `run`) adds to one total without a lock, and a restarted worker starts from it. A line
// torn by a crash mid-write is skipped. The file stays small: a relay writes at most two lines a
// second, and only while its session uses the way out, which its limits end.
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Usage } from './relay.js';

export function emptyUsage(): Usage {
  return { bytes: 0, ms: 0, hosts: {}, refused: [], limit: null };
}

export function isEmpty(u: Usage): boolean {
  return u.bytes === 0 && u.ms === 0 && u.limit === null && Object.keys(u.hosts).length === 0;
}

/** `into` plus `more`, in place. */
export function addUsage(into: Usage, more: Usage): Usage {
  into.bytes += more.bytes;
  into.ms += more.ms;
  for (const [host, bytes] of Object.entries(more.hosts)) into.hosts[host] = (into.hosts[host] ?? 0) + bytes;
  into.limit ??= more.limit;
  return into;
}

/** The record of a session's usage: `<sessionsDir>/<session>/egress-usage.log`. */
export function usageRecordPath(sessionsDir: string, session: string): string {
  // Session ids are [a-z0-9]{1,64} (protocol/jobs.ts, the command line's --session); a name
  // with a slash or a dot-dot would reach outside its own directory.
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(session) || /^\.\.?$/.test(session)) throw new Error(`not a session id: ${JSON.stringify(session)}`);
  return join(sessionsDir, session, 'egress-usage.log');
}

export class UsageRecord {
  private seenMtimeMs = -1;

  constructor(readonly path: string) {}

  /** The session's total so far, every process's lines summed. */
  async read(): Promise<Usage> {
    const total = emptyUsage();
    const text = await readFile(this.path, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        addUsage(total, parseLine(JSON.parse(line)));
      } catch {
        // torn by a crash mid-write: its counts are lost, the others' are not
      }
    }
    return total;
  }

  async append(delta: Usage): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const { bytes, ms, hosts, limit } = delta;
    await appendFile(this.path, `${JSON.stringify({ bytes, ms, hosts, limit })}\n`, { mode: 0o600 });
  }

  /** Whether the file changed (another process appended) since the last call. */
  async changed(): Promise<boolean> {
    const mtimeMs = await stat(this.path).then((s) => s.mtimeMs, () => 0);
    if (mtimeMs === this.seenMtimeMs) return false;
    this.seenMtimeMs = mtimeMs;
    return true;
  }
}

function parseLine(v: unknown): Usage {
  const o = v as Partial<Usage>;
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);
  const hosts: Record<string, number> = {};
  if (o.hosts && typeof o.hosts === 'object') for (const [h, b] of Object.entries(o.hosts)) hosts[h] = n(b);
  return {
    bytes: n(o.bytes),
    ms: n(o.ms),
    hosts,
    refused: [],
    limit: o.limit === 'bytes' || o.limit === 'time' ? o.limit : null,
  };
}
