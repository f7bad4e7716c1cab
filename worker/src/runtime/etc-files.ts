// /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker gives them to a container (`docker
// run --network none`) and BuildKit to a RUN step, in every image, FROM scratch included. Each is
// a file of the engine's, bind-mounted over the image's: what a program writes to it stays out of
// the writable layer, so commit, diff and a build's layers never show it (Docker keeps them in the
// container's directory the same way).
//
// The mount points come from a tiny lower layer of the engine's own, placed above the image's
// layers and below the writable one (Docker's "init layer"): without it the launcher would create
// /etc/hosts in the upper to mount over, and a FROM scratch container's diff would show /etc.
// It also holds /proc, /sys and /dev for an image that lacks them, for the same reason.
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ExtraMount } from './oci-spec.js';

export type EtcFlavour = 'container' | 'build';

/** Docker's /etc/hosts for a container with no network of its own (`--network none`). */
function hostsFor(flavour: EtcFlavour): string {
  if (flavour === 'build') {
    // BuildKit's RUN: its sandbox's name on the loopback line, and no other entries.
    return '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  }
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    '',
  ].join('\n');
}

/** BuildKit's host name for a RUN step's sandbox (a container's is its short id). */
export const BUILD_HOSTNAME = 'buildkitsandbox';

const isLoopbackNameserver = (line: string): boolean => /^\s*nameserver\s+(127\.\S*|::1)\s*$/.test(line);

/**
 * The host's resolv.conf as Docker passes it on: a loopback nameserver cannot be reached from
 * the container's own network namespace, so it is left out (systemd-resolved's stub is replaced
 * by the servers it forwards to), and with none left, Docker's defaults (Google's public DNS).
 */
export async function containerResolvConf(): Promise<string> {
  let text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  if (/^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(text)) {
    text = await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => text);
  }
  const lines = text.split('\n').filter((line) => !isLoopbackNameserver(line));
  if (!lines.some((line) => /^\s*nameserver\s/.test(line))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}

export interface EtcFiles {
  /** The lower layer of mount points, to put right above the image's layers. */
  initLayer: string;
  /** The bind mounts, for hardenedSpec's `mounts`. */
  mounts: ExtraMount[];
}

const ETC_FILES = { container: ['hosts', 'hostname', 'resolv.conf'], build: ['hosts', 'resolv.conf'] } as const;

/**
 * Writes the files under `dir` (the container's or the step's own directory, which nothing else
 * writes) and returns where they mount. `owner` is the host uid of the container's root: the
 * files are its own, as in Docker (root may edit /etc/hosts). A RUN step gets them read-only,
 * as BuildKit mounts them. Written afresh at every start, as Docker does.
 */
export async function writeEtcFiles(o: {
  dir: string;
  hostname: string;
  owner: number;
  flavour: EtcFlavour;
  /** More files of the engine's in the init layer, read-only to the container (the egress's CA bundle). */
  files?: readonly { path: string; content: string }[];
}): Promise<EtcFiles> {
  const initLayer = join(o.dir, 'init');
  const files = join(o.dir, 'etc-mounts');
  const names = ETC_FILES[o.flavour];
  const content: Record<string, string> = {
    hosts: hostsFor(o.flavour),
    hostname: `${o.hostname}\n`,
    'resolv.conf': await containerResolvConf(),
  };
  // The init layer is the host's (root-owned, read-only below the container); rebuilt whole so
  // a start never finds half of an earlier one.
  await rm(initLayer, { recursive: true, force: true });
  for (const name of ['proc', 'sys', 'dev', 'etc']) await mkdir(join(initLayer, name), { recursive: true, mode: 0o755 });
  for (const file of o.files ?? []) {
    const path = join(initLayer, file.path);
    // Relative paths of the engine's own (not a learner's): nothing may name a place outside.
    if (!path.startsWith(`${initLayer}/`) || file.path.split('/').includes('..')) throw new Error(`not a path in the init layer: ${file.path}`);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, file.content, { mode: 0o444 });
  }
  await mkdir(files, { recursive: true, mode: 0o755 });
  for (const name of names) {
    await writeFile(join(initLayer, 'etc', name), '', { mode: 0o644 });
    const path = join(files, name);
    await rm(path, { force: true });
    await writeFile(path, content[name]!, { mode: 0o644 });
    await chown(path, o.owner, o.owner);
  }
  const options = o.flavour === 'build' ? ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] : ['bind', 'nosuid', 'nodev', 'noexec'];
  return {
    initLayer,
    mounts: names.map((name) => ({ destination: `/etc/${name}`, type: 'bind', source: join(files, name), options })),
  };
}
