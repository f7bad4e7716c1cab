/**
 * `busybox:latest`, built offline from Debian's busybox-static: one static binary and a hard
 * link per applet in /bin (as Docker Hub's busybox image is laid out), minimal account files and
 * the empty directories a container expects. Every timestamp is the binary's own, so the same
 * Debian package always yields the same layer and the same image id, on any host.
 */
import { spawn } from 'node:child_process';
import { chmod, copyFile, link, lstat, mkdir, open, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStoreError } from '../image-store/errors.js';

/** Where Debian's busybox-static installs the binary. */
export const BUSYBOX_PATH = '/bin/busybox';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'bin:x:2:2:bin:/bin:/bin/false',
  'sys:x:3:3:sys:/dev:/bin/false',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
];
const GROUP = ['root:x:0:', 'daemon:x:1:', 'bin:x:2:', 'sys:x:3:', 'tty:x:5:', 'wheel:x:10:root', 'users:x:100:', 'nogroup:x:65534:'];

/** Directories of the root filesystem and their modes (sticky /tmp, private /root). */
const DIRECTORIES: [string, number][] = [
  ['bin', 0o755],
  ['dev', 0o755],
  ['etc', 0o755],
  ['home', 0o755],
  ['proc', 0o555],
  ['root', 0o700],
  ['sys', 0o555],
  ['tmp', 0o1777],
];

function output(command: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', () => resolve({ code: -1, stdout: '' }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
  });
}

/** True for an ELF executable without a program interpreter, i.e. statically linked. */
export async function isStaticElf(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return false; // 64-bit LE ELF
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    await handle.close();
  }
}

export interface BusyboxRootfs {
  /** The Debian package version, for the image's history. */
  version: string;
  applets: number;
  /** Seconds since the epoch: the binary's mtime, used for every entry and the image's `created`. */
  mtime: number;
}

/** Lays out the busybox root filesystem in `dir` (an empty directory). */
export async function buildBusyboxRootfs(dir: string, busybox = BUSYBOX_PATH): Promise<BusyboxRootfs> {
  let st;
  try {
    st = await lstat(busybox);
  } catch {
    throw new ImageStoreError('baseImage.unavailable', `${busybox} is missing: install Debian's busybox-static (npm run setup does)`, {
      image: 'busybox',
      package: 'busybox-static',
    });
  }
  if (!(await isStaticElf(busybox))) {
    // A dynamically linked busybox (Debian's "busybox" package) would not run in an empty image.
    throw new ImageStoreError('baseImage.unavailable', `${busybox} is not statically linked: install busybox-static instead of busybox`, {
      image: 'busybox',
      package: 'busybox-static',
    });
  }
  const mtime = Math.floor(st.mtimeMs / 1000);
  const list = await output(busybox, ['--list']);
  const applets = list.stdout.split('\n').filter((name) => /^[\w.[\]-]+$/.test(name) && name !== 'busybox');
  if (list.code !== 0 || !applets.includes('sh')) throw new Error(`${busybox} --list did not list a shell`);
  const versionQuery = await output('dpkg-query', ['-W', '-f=${Version}', 'busybox-static']);
  const version = versionQuery.code === 0 && versionQuery.stdout.trim() !== '' ? versionQuery.stdout.trim() : 'unknown';

  for (const [path, mode] of DIRECTORIES) {
    await mkdir(join(dir, path));
    await chmod(join(dir, path), mode);
  }
  const binary = join(dir, 'bin/busybox');
  await copyFile(busybox, binary);
  await chmod(binary, 0o755);
  await utimes(binary, mtime, mtime);
  for (const applet of applets) await link(binary, join(dir, 'bin', applet));
  await writeFile(join(dir, 'etc/passwd'), `${PASSWD.join('\n')}\n`, { mode: 0o644 });
  await writeFile(join(dir, 'etc/group'), `${GROUP.join('\n')}\n`, { mode: 0o644 });
  for (const file of ['etc/passwd', 'etc/group']) await utimes(join(dir, file), mtime, mtime);
  // Directories last: adding entries bumped their times.
  for (const [path] of DIRECTORIES) await utimes(join(dir, path), mtime, mtime);
  return { version, applets: applets.length, mtime };
}
