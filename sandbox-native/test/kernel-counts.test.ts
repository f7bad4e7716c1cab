// Per-user kernel counts ("ucounts"): inotify instances and watches, POSIX message queue
// bytes, pending signals, locked memory. The kernel charges each to the user that uses it and
// then, level by level, to the owner of every user namespace above it (kernel/ucount.c), so a
// container whose user namespace host root owns spends host root's counts. sandbox-native
// creates each container's user namespace with the euid of that container's root (the start
// of its host range), so one container exhausting a count leaves the host and every other
// container their own.
//
// The control is runc, which creates user namespaces as host root: there the same exhaustion
// does reach host root and the next container. That control briefly takes host root's counts
// (about a second per case, released by killing the container), so other root processes on
// this machine could see EMFILE/ENOSPC/EAGAIN from inotify, mq_open or sigqueue meanwhile.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox, type Launched, type ProbeLine, type Sandbox } from './harness.js';
import { hostProbe } from './host.js';
import { PROBE_BIN } from './paths.js';

const MAX_USER_WATCHES = Number(readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8'));
const MAX_USER_INSTANCES = Number(readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8'));

/** A container that takes all it can of one count and holds it; killed by `release`. */
async function hog(sb: Sandbox, args: string[]): Promise<{ line: ProbeLine; release: () => Promise<void> }> {
  const bundle = sb.bundle({ args: ['/probe', '--hold', ...args] });
  const launched: Launched = sb.start(bundle, { timeoutMs: 60_000 });
  launched.child.stdin?.end();
  const line = await launched.probeLine(30_000);
  return {
    line,
    release: async () => {
      await sb.command(['kill', bundle.id, 'KILL']);
      await launched.exitedOnly();
    },
  };
}

describe.each(runtimes())('$name', (rt) => {
  const sandbox = useSandbox(rt);
  const native = isNative(rt);
  // runc's names say what runc does: it is the control, where the counts are shared.
  const name = (fixed: string, shared: string): string => (native ? fixed : `runc: ${shared}`);

  test(name("the container's user namespace is owned by its own root, not by host root", 'its user namespaces are owned by host root (unmapped inside)'), async () => {
    const line = await sandbox().probe(['userns-owner']);
    expect(line.ok).toBe(true);
    // 65534 is the overflow uid: the owner is a host uid the container does not map.
    expect(line.owner).toBe(native ? 0 : 65534);
  });

  test(name('a container holding every inotify instance it may leaves the host and another container theirs', 'one container holding the inotify instances takes them from host root and the next container'), async () => {
    const sb = sandbox();
    const { line, release } = await hog(sb, ['inotify-fill', '100000']);
    try {
      expect(line.error).toBe('EMFILE');
      if (native) expect(line.instances).toBe(MAX_USER_INSTANCES); // a whole allowance of its own
      else expect(line.instances).toBeGreaterThan(0);
      const host = hostProbe(['inotify']);
      const other = await sb.probe(['inotify']);
      if (native) {
        expect(host.ok).toBe(true);
        expect(other.ok).toBe(true);
      } else {
        expect(host).toMatchObject({ ok: false, error: 'EMFILE', step: 'instance' });
        expect(other).toMatchObject({ ok: false, error: 'EMFILE', step: 'instance' });
      }
    } finally {
      await release();
    }
  });

  test(name('a container holding every inotify watch it may leaves the host and another container theirs', 'one container holding the inotify watches takes them from host root and the next container'), async () => {
    const sb = sandbox();
    // 64 instances × 3100 files is more than max_user_watches, and fewer instances than the
    // per-user limit, so the watches run out first.
    const files = Math.ceil(MAX_USER_WATCHES / 64) + 100;
    const { line, release } = await hog(sb, ['inotify-watches-fill', '64', String(files), String(MAX_USER_WATCHES + 1000)]);
    try {
      expect(line.error).toBe('ENOSPC');
      if (native) expect(line.watches).toBe(MAX_USER_WATCHES);
      else expect(line.watches).toBeGreaterThan(0);
      const host = hostProbe(['inotify']);
      const other = await sb.probe(['inotify']);
      if (native) {
        expect(host.ok).toBe(true);
        expect(other.ok).toBe(true);
      } else {
        expect(host).toMatchObject({ ok: false, error: 'ENOSPC', step: 'watch' });
        expect(other).toMatchObject({ ok: false, error: 'ENOSPC', step: 'watch' });
      }
    } finally {
      await release();
    }
  });

  test(name("a container using up its message queue bytes leaves the host and another container theirs", 'one container using up the message queue bytes takes them from host root and the next container'), async () => {
    const sb = sandbox();
    const { line, release } = await hog(sb, ['mqueue-fill', '1000']);
    try {
      // RLIMIT_MSGQUEUE (800 KiB here) holds nine queues of 80 KiB.
      expect(line.error).toBe('EMFILE');
      expect(line.queues).toBeGreaterThan(0);
      const host = hostProbe(['mqueue']);
      const other = await sb.probe(['mqueue']);
      if (native) {
        expect(host.ok).toBe(true);
        expect(other.ok).toBe(true);
      } else {
        expect(host).toMatchObject({ ok: false, error: 'EMFILE' });
        expect(other).toMatchObject({ ok: false, error: 'EMFILE' });
      }
    } finally {
      await release();
    }
  });

  test(name('a container filling its pending signals leaves the host and another container theirs', 'one container filling the pending signals takes them from host root and the next container'), async () => {
    const sb = sandbox();
    const { line, release } = await hog(sb, ['sigqueue-fill', '10000000']);
    try {
      // RLIMIT_SIGPENDING counts per real uid; EAGAIN once it is reached.
      expect(line.error).toBe('EAGAIN');
      expect(line.queued).toBeGreaterThan(0);
      const host = hostProbe(['sigqueue']);
      const other = await sb.probe(['sigqueue']);
      if (native) {
        expect(host.ok).toBe(true);
        expect(other.ok).toBe(true);
      } else {
        expect(host).toMatchObject({ ok: false, error: 'EAGAIN' });
        expect(other).toMatchObject({ ok: false, error: 'EAGAIN' });
      }
    } finally {
      await release();
    }
  });

  // Host root itself is exempt (CAP_IPC_LOCK), so the host side is a root process without
  // that capability, as a service that drops capabilities runs.
  test(name('a container locking all the memory it may leaves the host and another container theirs', 'one container locking memory takes the allowance of host root'), async () => {
    const sb = sandbox();
    const { line, release } = await hog(sb, ['memlock', '1024']);
    try {
      // RLIMIT_MEMLOCK (8 MiB here) stops it: ENOMEM.
      expect(line.error).toBe('ENOMEM');
      expect(line.lockedMib).toBeGreaterThan(0);
      const host = JSON.parse(
        execFileSync('setpriv', ['--bounding-set=-ipc_lock', PROBE_BIN, 'memlock-one'], { encoding: 'utf8' }),
      ) as ProbeLine;
      const other = await sb.probe(['memlock-one']);
      if (native) expect(host.ok).toBe(true);
      else expect(host).toMatchObject({ ok: false, error: 'ENOMEM' });
      // Measured: the kernel bounds a user namespace's locked memory by its own users'
      // RLIMIT_MEMLOCK only, so even under runc the next container still locks its own.
      expect(other.ok).toBe(true);
    } finally {
      await release();
    }
  });
});
