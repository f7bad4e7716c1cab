/**
 * `debian:bookworm-slim`, built with mmdebstrap from Debian's archive (the host's own apt
 * sources): the minbase variant (Essential packages and apt), with dpkg told to skip what the
 * official slim images drop: documentation except copyright notices, man and info pages, and
 * translations. The excludes stay in the image (/etc/dpkg/dpkg.cfg.d/), so packages a learner
 * installs later are slim too. `include` adds packages (the bench image: sysbench, iperf3).
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ImageStoreError } from '../image-store/errors.js';
import { DEFAULT_DEBIAN_SOURCES, hostDebianSources, toDeb822 } from './apt-sources.js';

export const DEBIAN_SUITE = 'bookworm';

export const SLIM_DPKG_OPTIONS: readonly string[] = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/groff/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/lintian/*',
  'path-exclude=/usr/share/linda/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];

/** Long enough for a slow mirror; a hung download must not hold the base-image lock forever. */
const MMDEBSTRAP_TIMEOUT_MS = 20 * 60_000;

export interface DebianRootfs {
  /** Contents of /etc/debian_version, e.g. "12.11". */
  debianVersion: string;
}

function run(command: string, args: string[], log: Logger, timeoutMs: number): Promise<{ code: number; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        lines.push(line);
        if (lines.length > 40) lines.shift();
        log.debug({ step: 'mmdebstrap' }, line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), tail: lines.slice(-15).join('\n') });
    });
  });
}

/**
 * Builds the root filesystem into `target` (must not exist yet). `workDir` holds the sources
 * file handed to mmdebstrap. Needs root and network access to the Debian archive.
 */
export async function buildDebianSlimRootfs(target: string, workDir: string, log: Logger, include: readonly string[] = []): Promise<DebianRootfs> {
  let sources = await hostDebianSources();
  if (sources.length === 0) {
    log.warn({ step: 'debian-slim' }, 'the host lists no Debian archive in /etc/apt; using deb.debian.org');
    sources = [...DEFAULT_DEBIAN_SOURCES];
  }
  const sourcesFile = join(workDir, 'debian.sources');
  await writeFile(sourcesFile, toDeb822(sources));

  const args = [
    '--variant=minbase',
    '--mode=root',
    '--format=directory',
    ...SLIM_DPKG_OPTIONS.map((option) => `--dpkgopt=${option}`),
    // The image is offline: no translated package descriptions to fetch later.
    '--aptopt=Acquire::Languages "none"',
    ...(include.length ? [`--include=${include.join(',')}`] : []),
    DEBIAN_SUITE,
    target,
    sourcesFile,
  ];
  log.info({ step: 'debian-slim', sources: sources.map((s) => s.uri) }, 'building debian:bookworm-slim with mmdebstrap');
  const started = Date.now();
  let result: { code: number; tail: string };
  try {
    result = await run('mmdebstrap', args, log, MMDEBSTRAP_TIMEOUT_MS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImageStoreError('baseImage.unavailable', 'mmdebstrap is not installed: install it (npm run setup does)', {
        image: 'debian:bookworm-slim',
        package: 'mmdebstrap',
      });
    }
    throw err;
  }
  if (result.code !== 0) {
    throw new ImageStoreError('baseImage.unavailable', `mmdebstrap failed (exit ${result.code}):\n${result.tail}`, {
      image: 'debian:bookworm-slim',
      exitCode: result.code,
    });
  }
  log.info({ step: 'debian-slim', ms: Date.now() - started }, 'mmdebstrap finished');

  // What the container runtime provides must not be baked into the image: device nodes (the
  // launcher mounts a fresh /dev) and the build host's resolver and name.
  for (const entry of await readdir(join(target, 'dev'))) await rm(join(target, 'dev', entry), { recursive: true, force: true });
  await writeFile(join(target, 'etc/hostname'), 'localhost\n');
  await writeFile(join(target, 'etc/resolv.conf'), '');
  const debianVersion = (await readFile(join(target, 'etc/debian_version'), 'utf8')).trim();
  return { debianVersion };
}
