// The launcher's one error contract (README "Errors"): every failure, on every channel (the setup
// sync pipe of `run`, a detached monitor's report pipe behind `create`, its control socket behind
// `start`, and `exec`'s own sync pipe), ends as the same record on stderr — one JSON line
// {"launcherError":{step, errno, errnoName, message, exitStatus}} beside runc's human line — and
// the launcher exits with the status the record names. runc writes no record: native only.
// The failure paths: a bad spec, a missing binary, one not executable, a working directory
// outside the root or unusable, refused limits, no id mapping, a bind source that is not there.

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { launcherFailure, type LauncherFailure } from '../../worker/src/runtime/launcher-error.js';
import type { OciSpec } from '../../worker/src/runtime/oci-spec.js';
import { runtimes, useSandbox, type Bundle, type ProcessResult, type Sandbox } from './harness.js';

const native = runtimes().find((rt) => rt.name === 'sandbox-native');

/** The record, checked against the exit status and the human line beside it. */
function record(r: Pick<ProcessResult, 'code' | 'stderr'>): LauncherFailure {
  const failure = launcherFailure(r.stderr);
  expect(failure, `no record on stderr: ${r.stderr}`).not.toBeNull();
  expect(r.code, r.stderr).toBe(failure!.exitStatus);
  expect(r.stderr).toMatch(/^sandbox-native: /m); // runc's human line stays
  return failure!;
}

/** `create`, until the launcher exits (the container it made holds the pipes open). */
async function createOnly(sb: Sandbox, b: Bundle): Promise<{ code: number | null; stderr: string }> {
  const launched = sb.launch(['create', '--bundle', b.dir, b.id]);
  launched.child.stdin?.end();
  const { code } = await launched.exitedOnly();
  if (code !== 0) return launched.exited;
  return { code, stderr: launched.stderr };
}

interface Case {
  name: string;
  bundle: (sb: Sandbox) => Bundle;
  /** What `run` reports; `create`+`start` report the same, from the monitor's pipe or socket. */
  want: Partial<LauncherFailure>;
}

const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'));

const cases: Case[] = [
  {
    name: 'a bad spec (an unknown rlimit)',
    bundle: (sb) =>
      sb.bundle({
        args: ['/probe', 'status'],
        edit: (spec: OciSpec) => {
          spec.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }];
        },
      }),
    want: { step: 'spec', errno: 0, exitStatus: 125 },
  },
  {
    name: 'a missing binary',
    bundle: (sb) => sb.bundle({ args: ['/no/such/binary'] }),
    want: { step: 'exec', errnoName: 'ENOENT', exitStatus: 127 },
  },
  {
    name: 'a file that is not executable',
    bundle: (sb) =>
      sb.bundle({
        args: ['/plain'],
        rootfs: (dir) => {
          writeFileSync(join(dir, 'plain'), 'not a program\n');
          chmodSync(join(dir, 'plain'), 0o644);
        },
      }),
    want: { step: 'exec', errnoName: 'EACCES', exitStatus: 126 },
  },
  {
    name: 'a working directory outside the root (..)',
    bundle: (sb) =>
      sb.bundle({
        args: ['/probe', 'status'],
        edit: (spec: OciSpec) => {
          spec.process.cwd = '/../..';
        },
      }),
    want: { step: 'spec', exitStatus: 125 },
  },
  {
    name: 'a working directory that is a file',
    bundle: (sb) => sb.bundle({ args: ['/probe', 'status'], spec: { cwd: '/probe' } }),
    want: { step: 'cwd', errnoName: 'ENOTDIR', exitStatus: 126 },
  },
  {
    // CVE-2024-21626: every descriptor above 2 is closed before the chdir, so the leaked host
    // directory a runtime fd would have named is not there to enter.
    name: 'a working directory /proc/self/fd/N (CVE-2024-21626)',
    bundle: (sb) => sb.bundle({ args: ['/probe', 'status'], spec: { cwd: '/proc/self/fd/3' } }),
    want: { step: 'cwd', exitStatus: 126 },
  },
  {
    name: 'no user namespace mapping (runc spec’s default)',
    bundle: (sb) =>
      sb.bundle({
        args: ['/probe', 'status'],
        edit: (spec: OciSpec) => {
          spec.linux.uidMappings = [];
          spec.linux.gidMappings = [];
        },
      }),
    want: { step: 'spec', errno: 0, exitStatus: 125 },
  },
  {
    name: 'a bind mount whose source is missing',
    bundle: (sb) =>
      sb.bundle({
        args: ['/probe', 'status'],
        spec: { mounts: [{ destination: '/data', type: 'bind', source: '/run/layercake-test/no-such-source', options: ['rbind', 'ro'] }] },
      }),
    want: { step: 'mounts', errnoName: 'ENOENT', exitStatus: 125 },
  },
  {
    name: 'limits the kernel refuses (NOFILE above fs.nr_open)',
    bundle: (sb) =>
      sb.bundle({
        args: ['/probe', 'status'],
        edit: (spec: OciSpec) => {
          spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: nrOpen + 1, hard: nrOpen + 1 }];
        },
      }),
    want: { step: 'rlimits', errnoName: 'EPERM', exitStatus: 125 },
  },
];

describe.runIf(native)('the launcher’s failure record', () => {
  const sandbox = useSandbox(native!);

  describe.each(cases)('$name', ({ bundle, want }) => {
    test('run: through the setup sync pipe', async () => {
      const sb = sandbox();
      const r = await sb.run(bundle(sb));
      expect(r.lines).toEqual([]); // the command never ran
      expect(record(r)).toMatchObject(want);
    });

    test('create + start: through the monitor’s report pipe or its control socket', async () => {
      const sb = sandbox();
      const b = bundle(sb);
      // A bad spec (or refused limits) fails in create; a command that cannot run, in start.
      const created = await createOnly(sb, b);
      const r = created.code === 0 ? await sb.command(['start', b.id]) : created;
      expect(record(r)).toMatchObject(want);
    });
  });

  test('exec: a missing command and a plain file, in a running container', async () => {
    const sb = sandbox();
    const b = sb.bundle({
      args: ['/probe', 'sleep', '30000'],
      rootfs: (dir) => writeFileSync(join(dir, 'plain'), 'x\n', { mode: 0o644 }),
    });
    sb.start(b);
    for (let i = 0; i < 100 && (await sb.state(b.id).catch(() => null))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(record(await sb.command(['exec', b.id, '/no/such/binary']))).toMatchObject({ step: 'exec', errnoName: 'ENOENT', exitStatus: 127 });
    expect(record(await sb.command(['exec', b.id, '/plain']))).toMatchObject({ step: 'exec', errnoName: 'EACCES', exitStatus: 126 });
    expect(record(await sb.command(['exec', '--cwd', '/probe', b.id, '/probe', 'status']))).toMatchObject({ step: 'cwd', errnoName: 'ENOTDIR', exitStatus: 126 });
    expect(record(await sb.command(['exec', '--cwd', '/proc/self/fd/3', b.id, '/probe', 'status']))).toMatchObject({ step: 'cwd', exitStatus: 126 });
  });

  test('a container that does not exist: step state, ENOENT, for state, start, kill and delete', async () => {
    const sb = sandbox();
    for (const verb of [['state'], ['start'], ['kill'], ['delete']]) {
      const r = await sb.command([...verb, 'no-such-container']);
      expect(record(r), verb[0]).toMatchObject({ step: 'state', errnoName: 'ENOENT', exitStatus: 125 });
    }
  });

  test('state names the live monitor (monitorPid), and 0 once it is gone', async () => {
    const sb = sandbox();
    const b = sb.bundle({ args: ['/probe', 'status'] });
    expect((await createOnly(sb, b)).code).toBe(0);
    const monitor = Number((await sb.state(b.id)).monitorPid);
    expect(monitor).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${monitor}/cmdline`, 'utf8')).toContain('sandbox-native');
    process.kill(monitor, 'SIGKILL');
    for (let i = 0; i < 50 && Number((await sb.state(b.id)).monitorPid) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await sb.state(b.id)).monitorPid).toBe(0);
  });
});
