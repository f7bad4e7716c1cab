// Host uid/gid ranges for containers: each container's root maps to its own unprivileged
// range (hostId … hostId+size-1), so two containers never share a host uid — a process
// that escaped one container still could not touch the other's files or signal its
// processes.
//
// The allocation must hold across processes (several workers, test runs, a restarted
// worker), so it lives in the filesystem: range n is taken while `<dir>/<n>.lock` exists.
// A lock records the pid (and that pid's start time) of the process that owns it; when that
// process is gone, the range is free again and the next allocation reclaims it.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface IdRange {
  /** Host uid and gid that container id 0 maps to. */
  hostId: number;
  size: number;
  /** Slot number: hostId = baseId + index * size. */
  index: number;
}

export interface IdRangeLease extends IdRange {
  containerId: string;
  ownerPid: number;
  lockPath: string;
  /** The lock's nonce: release removes the lock only if it still carries it. */
  token: string;
}

/** What a lock file says. `nonce` tells one holder's lock from a later holder's. */
interface LockRecord {
  containerId: string;
  pid: number;
  pidStartTime: string | null;
  nonce: string;
  hostId: number;
  size: number;
}

export interface IdRangeAllocatorOptions {
  /** Where lock files live. */
  dir?: string;
  /** hostId of slot 0. Must leave host uid 0 and system users out. */
  baseId?: number;
  size?: number;
  /** Slots available; hostId of the last one is baseId + (maxRanges-1)*size. */
  maxRanges?: number;
}

export class IdRangesExhaustedError extends Error {
  constructor(maxRanges: number) {
    super(`all ${maxRanges} host id ranges are in use`);
    this.name = 'IdRangesExhaustedError';
  }
}

const MAX_HOST_ID = 2 ** 32 - 2; // (uid_t)-1 is "no id"

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot; tells pid reuse apart. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(record: LockRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch (err) {
    // EPERM: it exists, we just may not signal it.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(record.pid);
  // Without /proc we cannot tell reuse apart; a live pid then counts as the owner.
  return started === null || record.pidStartTime === null || started === record.pidStartTime;
}

function readRecord(path: string): LockRecord | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as LockRecord;
    return typeof parsed.pid === 'number' && typeof parsed.nonce === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

export class IdRangeAllocator {
  readonly dir: string;
  readonly baseId: number;
  readonly size: number;
  readonly maxRanges: number;

  constructor(options: IdRangeAllocatorOptions = {}) {
    this.dir = options.dir ?? '/run/layercake/id-ranges';
    this.baseId = options.baseId ?? 200_000;
    this.size = options.size ?? 65536;
    this.maxRanges = options.maxRanges ?? 1024;
    if (!Number.isInteger(this.baseId) || this.baseId < 65536) {
      throw new RangeError('baseId must be an integer ≥ 65536: below it live the host’s own users');
    }
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError('size must be a positive integer');
    if (!Number.isInteger(this.maxRanges) || this.maxRanges < 1) throw new RangeError('maxRanges must be a positive integer');
    if (this.baseId + this.size * this.maxRanges - 1 > MAX_HOST_ID) throw new RangeError('ranges would pass the largest uid');
  }

  /**
   * Take the lowest free range for `containerId`. `ownerPid` is the process whose life
   * holds the range (default: this process); when it dies the range may be reclaimed.
   */
  allocate(containerId: string, ownerPid: number = process.pid): IdRangeLease {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const record: LockRecord = {
      containerId,
      pid: ownerPid,
      pidStartTime: processStartTime(ownerPid),
      nonce: randomBytes(12).toString('hex'),
      hostId: 0,
      size: this.size,
    };
    for (let index = 0; index < this.maxRanges; index++) {
      record.hostId = this.baseId + index * this.size;
      const lockPath = this.lockPath(index);
      if (this.tryTake(lockPath, record)) {
        return { hostId: record.hostId, size: this.size, index, containerId, ownerPid, lockPath, token: record.nonce };
      }
    }
    throw new IdRangesExhaustedError(this.maxRanges);
  }

  /** Give a range back. Only removes the lock if it is still this lease's (not a reclaimer's). */
  release(lease: IdRangeLease): void {
    const current = readRecord(lease.lockPath);
    if (!current || current.nonce !== lease.token) return;
    try {
      unlinkSync(lease.lockPath);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
  }

  /**
   * Hand a lease to another owner process, e.g. a detached container's launcher monitor, which
   * outlives the process that allocated the range: the range must stay taken as long as the
   * monitor lives, and become reclaimable when it dies. The lock is replaced atomically (rename),
   * keeping its nonce, so `release(lease)` still works. Returns false if the lock is no longer
   * this lease's (it was reclaimed meanwhile).
   */
  transfer(lease: IdRangeLease, ownerPid: number): boolean {
    const current = readRecord(lease.lockPath);
    if (!current || current.nonce !== lease.token) return false;
    const record: LockRecord = { ...current, pid: ownerPid, pidStartTime: processStartTime(ownerPid) };
    const tmp = `${lease.lockPath}.move-${process.pid}-${lease.token}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(record) + '\n');
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, lease.lockPath);
    lease.ownerPid = ownerPid;
    return true;
  }

  /** Release whatever range `containerId` holds, e.g. from another process on container removal. */
  releaseContainer(containerId: string): boolean {
    let released = false;
    for (const lease of this.leases()) {
      if (lease.containerId !== containerId) continue;
      this.release(lease);
      released = true;
    }
    return released;
  }

  /** Every lock present, with whether its owner still lives. */
  leases(): (IdRangeLease & { alive: boolean })[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    }
    const out: (IdRangeLease & { alive: boolean })[] = [];
    for (const name of names) {
      const m = /^(\d+)\.lock$/.exec(name);
      if (!m) continue;
      const index = Number(m[1]);
      const lockPath = join(this.dir, name);
      const record = readRecord(lockPath);
      if (!record) continue;
      out.push({
        hostId: this.baseId + index * this.size,
        size: this.size,
        index,
        containerId: record.containerId,
        ownerPid: record.pid,
        lockPath,
        token: record.nonce,
        alive: isAlive(record),
      });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  private lockPath(index: number): string {
    return join(this.dir, `${index}.lock`);
  }

  // A lock must never be seen half-written (an empty file would look like garbage, i.e.
  // stale). So the record is written to a private file created with O_EXCL, and published
  // with link(2): atomic, and like O_EXCL it fails with EEXIST if the lock is there.
  private publish(lockPath: string, record: LockRecord): boolean {
    const tmp = `${lockPath}.new-${process.pid}-${record.nonce}`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(record) + '\n');
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, lockPath);
      return true;
    } catch (err) {
      if (errorCode(err) === 'EEXIST') return false;
      throw err;
    } finally {
      unlinkSync(tmp);
    }
  }

  private tryTake(lockPath: string, record: LockRecord): boolean {
    if (this.publish(lockPath, record)) return true;
    const seen = readRecord(lockPath);
    if (seen && isAlive(seen)) return false;
    // Stale (owner dead) or unreadable. Removing it by name could remove a fresh lock that
    // another process put there in the meantime, so: rename it away (atomic), then look at
    // what we actually took. Same nonce as we judged stale → ours to delete. Otherwise we
    // took a live lock: put it back with link(2), which cannot overwrite anything.
    const grave = `${lockPath}.stale-${process.pid}-${record.nonce}`;
    try {
      renameSync(lockPath, grave);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return this.publish(lockPath, record);
      throw err;
    }
    const taken = readRecord(grave);
    if (taken?.nonce !== seen?.nonce) {
      try {
        linkSync(grave, lockPath);
      } catch {
        // Someone published in the gap; theirs stands, ours was never taken.
      }
      unlinkSync(grave);
      return false;
    }
    unlinkSync(grave);
    return this.publish(lockPath, record);
  }
}
