// vitest globalSetup: builds what the isolation suite puts into every container — the
// static probe and a busybox rootfs — once per run, and afterwards checks that the run as
// a whole left nothing behind.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUILD_DIR, PROBE_BIN, PROBE_SRC, ROOTFS_MARKER, rootfsTemplate, TEST_ROOT } from './paths.js';
import { findLeaks, sweepLeftovers } from './leaks.js';

function buildProbe(): void {
  const fresh = existsSync(PROBE_BIN) && statSync(PROBE_BIN).mtimeMs >= statSync(PROBE_SRC).mtimeMs;
  if (fresh) return;
  mkdirSync(dirname(PROBE_BIN), { recursive: true });
  const tmp = `${PROBE_BIN}.${process.pid}`;
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-o', tmp, PROBE_SRC], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(tmp, PROBE_BIN);
}

// busybox's applet list (`--list-full` gives paths such as usr/bin/awk) becomes symlinks
// to /bin/busybox, as Debian's busybox image does.
function buildRootfs(): void {
  const template = rootfsTemplate();
  if (existsSync(template)) return;
  const tmp = `${template}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'dev', 'sys', 'tmp', 'root', 'home/user', 'mnt']) {
    mkdirSync(join(tmp, dir), { recursive: true, mode: 0o755 });
  }
  chmodSync(join(tmp, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(tmp, 'bin/busybox'));
  chmodSync(join(tmp, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet === 'bin/busybox') continue;
    const link = join(tmp, applet);
    mkdirSync(dirname(link), { recursive: true });
    if (!existsSync(link)) symlinkSync('/bin/busybox', link);
  }
  copyFileSync(PROBE_BIN, join(tmp, 'probe'));
  chmodSync(join(tmp, 'probe'), 0o755);
  writeFileSync(
    join(tmp, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  writeFileSync(join(tmp, 'etc/group'), 'root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n');
  // A file only this rootfs has: escape tests look for it to tell "/" apart from the host's.
  writeFileSync(join(tmp, ROOTFS_MARKER), 'layercake test rootfs\n');
  // Renamed into place whole, so a concurrent reader never copies half a rootfs. A
  // concurrent builder may have won the race; its copy is identical.
  try {
    renameSync(tmp, template);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Templates of an older probe or layout: nobody still needs them after a day.
  for (const name of readdirSync(BUILD_DIR)) {
    const dir = `${BUILD_DIR}/${name}`;
    if (/^rootfs-[0-9a-f]{16}$/.test(name) && dir !== template && statSync(dir).mtimeMs < Date.now() - 86_400_000) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

export async function setup(): Promise<() => Promise<void>> {
  mkdirSync(BUILD_DIR, { recursive: true });
  mkdirSync(TEST_ROOT, { recursive: true, mode: 0o711 });
  buildProbe();
  buildRootfs();
  // A previous run that was killed may have left containers behind; they would hold
  // id ranges and cgroups and make this run's leak check fail for the wrong reason.
  await sweepLeftovers();

  return async () => {
    const leaks = await findLeaks();
    if (leaks.length > 0) {
      await sweepLeftovers();
      throw new Error(`isolation suite leaked:\n  ${leaks.join('\n  ')}`);
    }
  };
}
