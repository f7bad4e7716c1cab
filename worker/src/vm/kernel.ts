// The guest kernel: Debian's own package, fetched and unpacked by scripts/guest-kernel.sh (the
// same cache the cgroup v2 test suite boots from), never a second copy.
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, rename, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../config.js';

const run = promisify(execFile);

export interface GuestKernel {
  /** The unpacked package, e.g. .data/guest-kernel/kernel/linux-image-6.1.0-57-amd64. */
  dir: string;
  /** Debian's package name: what `uname -r` says in the guest, after "linux-image-". */
  packageName: string;
  vmlinuz: string;
  /**
   * The same kernel uncompressed (an ELF with a PVH entry note): qemu's microvm starts it
   * directly, without firmware, and the emulated CPU does not spend seconds in the xz decompressor.
   */
  vmlinux: string;
  /** The kernel's build config: which features are modules. */
  config: Map<string, string>;
  modulesDir: string;
}

let cached: Promise<GuestKernel> | null = null;

/** Fetches (once per host, into .data/guest-kernel) and describes the guest kernel. */
export function guestKernel(): Promise<GuestKernel> {
  cached ??= load().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}

async function load(): Promise<GuestKernel> {
  // A download can take a minute on a slow mirror; an unpacked cache answers at once.
  const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/guest-kernel.sh')], { timeout: 10 * 60_000 });
  const dir = stdout.trim().split('\n').pop()!;
  const config = new Map<string, string>();
  for (const line of (await readFile(join(dir, 'config'), 'utf8')).split('\n')) {
    const m = /^CONFIG_([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) config.set(m[1]!, m[2]!);
  }
  const vmlinux = await uncompressed(join(dir, 'vmlinuz'), join(dir, 'vmlinux'));
  return { dir, packageName: basename(dir), vmlinuz: join(dir, 'vmlinuz'), vmlinux, config, modulesDir: join(dir, 'modules') };
}

/** xz's stream header: Debian compresses its kernels with xz (CONFIG_KERNEL_XZ). */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The vmlinux inside a bzImage: the xz stream after the boot stub, decompressed once. */
async function uncompressed(vmlinuz: string, vmlinux: string): Promise<string> {
  if (await stat(vmlinux).then(() => true, () => false)) return vmlinux;
  const image = await readFile(vmlinuz);
  const at = image.indexOf(XZ_MAGIC);
  if (at < 0) throw new Error(`${vmlinuz} holds no xz-compressed kernel`);
  const tmp = `${vmlinux}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    // --single-stream: the bzImage goes on after the stream (its size field, padding).
    const xz = spawn('xz', ['-dc', '--single-stream'], { stdio: ['pipe', 'pipe', 'ignore'] });
    xz.stdout.pipe(createWriteStream(tmp, { mode: 0o644 }));
    xz.on('error', reject);
    // xz stops reading at the stream's end and exits: what follows (the bzImage's tail) may meet
    // a closed pipe, EPIPE, which is no failure (its exit status says whether the stream was whole).
    xz.stdin.on('error', () => {});
    xz.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`xz could not unpack ${vmlinuz} (${code})`))));
    xz.stdin.end(image.subarray(at));
  });
  await rename(tmp, vmlinux);
  return vmlinux;
}
