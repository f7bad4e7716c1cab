// The same Dockerfiles built by this builder and by Debian's buildah (`buildah bud --layers`),
// from the same base image (ours, saved with `store.save` and pulled into a private buildah
// storage root, offline), must give the same files — paths, types, modes, owners, contents,
// symlink targets — and the same config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts,
// Labels, Volumes, StopSignal). Where the two deliberately differ, the difference is named here
// and normalised, not hidden: see KNOWN_DIFFERENCES.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './test-support/harness.js';

const execFileP = promisify(execFile);

let h: Harness;
let buildahRoot: string;

/** buildah with a storage root of its own, never touching the host's images or a registry. */
async function buildah(...args: string[]): Promise<string> {
  const { stdout } = await execFileP(
    'buildah',
    ['--root', join(buildahRoot, 'root'), '--runroot', join(buildahRoot, 'run'), '--storage-driver', 'vfs', ...args],
    { maxBuffer: 64 << 20, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } },
  );
  return stdout;
}

/**
 * One line per path: type, mode, owner, symlink target, and for files a sha256 of the content.
 * The same script reads both trees: ours through a real overlay mount, buildah's from its vfs
 * directory. Times are not compared (each builder stamps its own). Each inode is hashed once:
 * busybox's ~400 applets are hard links to one 2 MB binary, and hashing every name read 800 MB
 * per tree (most of this file's time); a link's content is its inode's, so nothing goes unchecked.
 */
const LIST = `export LC_ALL=C; cd "$ROOT" && find . -mindepth 1 -printf '%P\\t%y\\t%m\\t%U:%G\\t%l\\t%D:%i\\n' | sort > /tmp/lc-list.$$; \
find . -type f -printf '%D:%i\\t%P\\n' | sort -t "$(printf '\\t')" -k1,1 -u > /tmp/lc-inodes.$$; \
cut -f2 /tmp/lc-inodes.$$ | tr '\\n' '\\0' | xargs -0 -r sha256sum | awk '{ print $2 "\\t" $1 }' > /tmp/lc-sums.$$; \
awk -F'\\t' 'FILENAME == ARGV[1] { path[$1] = $2; next } FILENAME == ARGV[2] { sum[$1] = $2; next } \
{ line = $0; sub(/\\t[^\\t]*$/, "", line); print line "\\t" ($2 == "f" ? sum[path[$NF]] : "") }' /tmp/lc-inodes.$$ /tmp/lc-sums.$$ /tmp/lc-list.$$; \
rm -f /tmp/lc-list.$$ /tmp/lc-inodes.$$ /tmp/lc-sums.$$`;

/**
 * What buildah adds that a Docker build does not, removed before comparing:
 * - the label io.buildah.version on every image it builds;
 * - after a RUN (chroot isolation, buildah 1.28): empty /etc/hostname, /etc/hosts and
 *   /etc/resolv.conf (mode 755) and a /run directory, left from the mount points it made for
 *   them. Docker keeps those out of layers, and so does this builder.
 */
const KNOWN_DIFFERENCES = {
  labels: ['io.buildah.version'],
  runArtifacts: [/^etc\/(hostname|hosts|resolv\.conf)\tf\t755\t0:0\t\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855$/, /^run\td\t755\t0:0\t\t$/],
};

interface Case {
  name: string;
  dockerfile: string;
  context?: Record<string, string | { content: string | Buffer; mode?: number }>;
  /** Shell commands run in the context dir after it is written (e.g. to make a tar). */
  prepare?: string;
  buildArgs?: Record<string, string>;
  /**
   * Where buildah and Docker disagree and this builder follows Docker: asserts both sides
   * are what each tool documents, then makes buildah's side Docker's so the rest is compared.
   */
  knownDifference?: (mine: Snapshot, peer: Snapshot) => void;
}

const CASES: Case[] = [
  {
    name: 'six steps: ENV, RUN, COPY, WORKDIR, RUN, CMD',
    dockerfile: 'FROM busybox\nENV A=1\nRUN echo hi > /x && mkdir /d\nCOPY hello.txt /d/\nWORKDIR /app\nRUN cp /d/hello.txt . && rm /x\nCMD ["cat", "/app/hello.txt"]\n',
    context: { 'hello.txt': 'hello\n' },
  },
  {
    name: 'whiteouts and opaque directories',
    dockerfile:
      'FROM busybox\nRUN mkdir -p /data/keep /data/old && touch /data/keep/a /data/old/b /tmp/gone\nRUN rm -f /tmp/gone /etc/group && rm -rf /data/old\nRUN rm -rf /data && mkdir /data && echo new > /data/new\n',
  },
  {
    name: 'COPY of files and directories, modes, symlinks inside, relative destinations',
    dockerfile: 'FROM busybox\nWORKDIR /srv\nCOPY site/ ./site/\nCOPY site /flat\nCOPY run.sh secret.txt /opt/bin/\nCOPY secret.txt renamed\nCOPY site/css/main.css /deep/er/path/\n',
    context: {
      'site/index.html': '<h1>hi</h1>\n',
      'site/css/main.css': 'body {}\n',
      'site/latest': '-> index.html',
      'run.sh': { content: '#!/bin/sh\necho run\n', mode: 0o755 },
      'secret.txt': { content: 'secret\n', mode: 0o600 },
    },
  },
  {
    name: '.dockerignore with exceptions',
    dockerfile: 'FROM busybox\nCOPY . /app/\n',
    context: {
      '.dockerignore': 'node_modules\n*.log\n!important.log\nbuild/\n',
      'index.js': 'console.log(1)\n',
      'debug.log': 'x',
      'important.log': 'y',
      'node_modules/dep/index.js': 'dep',
      'build/out.js': 'out',
      'src/lib.js': 'lib',
    },
  },
  {
    name: 'owners: --chown by name and number, --chmod, USER',
    dockerfile:
      'FROM busybox\nCOPY --chown=daemon:bin f /owned-by-name\nCOPY --chown=1234:5678 dir /owned-dir/\nCOPY --chmod=640 f /chmodded\nUSER nobody\nRUN touch /tmp/by-nobody && mkdir /tmp/nobody-dir\nUSER root\nRUN chown 42:43 /tmp/by-nobody\n',
    context: { 'f': 'f\n', 'dir/g': 'g\n', 'dir/sub/h': 'h\n' },
  },
  {
    name: 'multi-stage: COPY --from by name and index, scratch final',
    dockerfile:
      'FROM busybox AS build\nRUN mkdir -p /out && echo app > /out/app && chmod 755 /out/app\nFROM busybox\nRUN echo other > /other\nFROM scratch\nCOPY --from=build /out/ /\nCOPY --from=1 /other /other\nCOPY --from=build /bin/busybox /bin/busybox\n',
  },
  {
    name: 'ARG, build args, substitution, LABEL, EXPOSE, ENTRYPOINT, USER, STOPSIGNAL, VOLUME',
    dockerfile: [
      'ARG BASE=busybox',
      'FROM $BASE',
      'ARG VERSION=1.0',
      'ARG UNSET',
      'ENV APP_HOME=/opt/app PATH=/opt/app/bin:$PATH',
      'LABEL version=$VERSION name="my app" unset="${UNSET:-none}"',
      'EXPOSE 80 443/tcp 53/udp',
      'WORKDIR ${APP_HOME}',
      'RUN echo "$VERSION" > version',
      'USER 1000:1000',
      'STOPSIGNAL SIGQUIT',
      'VOLUME ["/data"]',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD ["echo hello"]',
    ].join('\n'),
    buildArgs: { VERSION: '2.5' },
    knownDifference: (mine, peer) => {
      // ENV of an existing name: Docker (BuildKit's addEnv, and the classic builder) replaces
      // it in place; buildah moves it to the end.
      const path = 'PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
      expect(mine.config.Env).toEqual([path, 'APP_HOME=/opt/app']);
      expect(peer.config.Env).toEqual(['APP_HOME=/opt/app', path]);
      peer.config.Env = mine.config.Env;
    },
  },
  {
    name: 'ADD: local archives unpacked, other files copied',
    dockerfile: 'FROM busybox\nADD bundle.tar.gz /opt/\nADD bundle.tar /plain/\nADD notes.txt /opt/notes/\n',
    context: { 'payload/a.txt': 'a\n', 'payload/bin/tool': { content: '#!/bin/sh\n', mode: 0o755 }, 'notes.txt': 'notes\n' },
    prepare: 'tar --owner=0 --group=0 -czf bundle.tar.gz payload && tar --owner=7 --group=8 -cf bundle.tar payload && rm -r payload',
  },
  {
    name: 'wildcards',
    dockerfile: 'FROM busybox\nCOPY *.txt /texts/\nCOPY src/*/main.c /mains/\nCOPY ?.md /one-char/\n',
    context: { 'a.txt': 'a', 'b.txt': 'b', 'c.md': 'c', 'long.md': 'l', 'src/x/main.c': 'x', 'src/y/main.c': 'y', 'src/y/other.c': 'o' },
  },
  {
    name: 'destinations through symlinks, copy-up of /tmp and /etc',
    dockerfile:
      'FROM busybox\nRUN mkdir -p /real/inner && ln -s /real /abs && ln -s real/inner /rel\nCOPY f /abs/\nCOPY f /rel/g\nCOPY f /tmp/\nCOPY f /etc/f\nWORKDIR /abs/work\nRUN pwd > where\n',
    context: { 'f': 'f\n' },
  },
  {
    name: 'directories created for COPY --chown and for WORKDIR under a USER',
    dockerfile: 'FROM busybox\nCOPY --chown=7:8 f /made/for/copy/f\nUSER daemon\nWORKDIR /srv/data\nCOPY f .\nUSER 1234\nWORKDIR /numeric/user\n',
    context: { 'f': 'f\n' },
    knownDifference: (mine, peer) => {
      // WORKDIR: Docker (BuildKit's dispatchWorkdir) creates the directory at once, owned by
      // the USER with the parents it makes; buildah makes it root's, and only when a later step
      // needs it (so a final WORKDIR leaves no directory).
      const docker = ['numeric\td\t755\t1234:0\t\t', 'numeric/user\td\t755\t1234:0\t\t', 'srv\td\t755\t1:1\t\t', 'srv/data\td\t755\t1:1\t\t'];
      const buildahLines = ['srv\td\t755\t0:0\t\t', 'srv/data\td\t755\t0:0\t\t'];
      expect(mine.files).toEqual(expect.arrayContaining(docker));
      expect(peer.files).toEqual(expect.arrayContaining(buildahLines));
      expect(peer.files.filter((line) => line.startsWith('numeric'))).toEqual([]);
      peer.files = [...peer.files.filter((line) => !buildahLines.includes(line)), ...docker].sort();
    },
  },
  {
    name: 'SHELL, HEALTHCHECK and exec-form RUN',
    dockerfile: 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN echo shell > /shell\nRUN ["/bin/sh", "-c", "echo exec > /exec"]\nHEALTHCHECK --interval=10s CMD true\nCMD echo done\n',
    knownDifference: (mine, peer) => {
      // A shell-form CMD after SHELL: Docker wraps it in the SHELL (Dockerfile reference,
      // "SHELL"); buildah 1.28 keeps /bin/sh -c.
      expect(mine.config.Cmd).toEqual(['/bin/sh', '-ec', 'echo done']);
      expect(peer.config.Cmd).toEqual(['/bin/sh', '-c', 'echo done']);
      peer.config.Cmd = mine.config.Cmd;
    },
  },
];

interface Snapshot {
  files: string[];
  config: Record<string, unknown>;
}

/** The parts of the config the comparison covers, with "unset" spelt one way. */
function comparable(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const c = config ?? {};
  const empty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
  const labels = { ...((c.Labels as Record<string, string> | null) ?? {}) };
  for (const label of KNOWN_DIFFERENCES.labels) delete labels[label];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries({ ...c, Labels: labels } as Record<string, unknown>)) {
    if (!['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Labels', 'Volumes', 'StopSignal'].includes(key)) continue;
    if (empty(value) || value === '') continue;
    out[key] = value;
  }
  return out;
}

async function ours(c: Case, context: string): Promise<Snapshot> {
  const built = await h.build(c.dockerfile, { context, ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}) });
  const image = await h.store.inspect(built.imageId);
  return { files: (await h.inImage(built.imageId, LIST)).trim().split('\n'), config: comparable(image.config.config as Record<string, unknown>) };
}

async function theirs(c: Case, context: string, index: number): Promise<Snapshot> {
  const tag = `compare-${index}`;
  const dockerfile = join(h.work, `Dockerfile.${index}`);
  await writeFile(dockerfile, c.dockerfile);
  const buildArgs = Object.entries(c.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  await buildah('bud', '--layers', '--isolation', 'chroot', '--pull=never', '--format', 'docker', '-q', '-t', tag, '-f', dockerfile, ...buildArgs, context);
  const container = (await buildah('from', '--pull=never', tag)).trim();
  try {
    const root = (await buildah('mount', container)).trim();
    const { stdout } = await execFileP('sh', ['-ec', LIST], { env: { ...process.env, ROOT: root }, maxBuffer: 64 << 20 });
    const inspect = JSON.parse(await buildah('inspect', '--type', 'image', tag)) as { Docker: { config: Record<string, unknown> } };
    const files = stdout
      .trim()
      .split('\n')
      .filter((line) => !KNOWN_DIFFERENCES.runArtifacts.some((artifact) => artifact.test(line)));
    return { files, config: comparable(inspect.Docker.config) };
  } finally {
    await buildah('rm', container);
  }
}

beforeAll(async () => {
  h = await createHarness('buildah');
  buildahRoot = join(h.work, 'buildah');
  await mkdir(buildahRoot, { recursive: true });
  const archive = join(h.work, 'busybox.tar');
  await h.store.save(['busybox'], archive);
  await buildah('pull', '-q', `docker-archive:${archive}`);
}, 120_000);

afterAll(async () => {
  await buildah('rm', '--all').catch(() => undefined);
  await buildah('rmi', '--all', '--force').catch(() => undefined);
  expect(await h.leftovers()).toEqual([]);
  await h.close();
}, 120_000);

describe('the same Dockerfile built here and by buildah bud --layers', () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, index) => {
    const context = await h.context(c.context ?? {});
    if (c.prepare) await execFileP('sh', ['-ec', c.prepare], { cwd: context });
    const [mine, peer] = [await ours(c, context), await theirs(c, context, index)];
    c.knownDifference?.(mine, peer);
    expect(mine.files).toEqual(peer.files);
    expect(mine.config).toEqual(peer.config);
  }, 90_000);
});
