// `layercake run/create --network`, as a learner types it from Docker's docs: `none` (and `--net
// none`, `--network=none`) gives loopback and nothing else, not even the door to package archives
// that a foreground container gets without the flag (egress/README.md); what this playground
// does not have (host, bridge, named networks) is refused with Docker's status for a bad flag
// value, never quietly replaced by the default. Real parts: the `layercake` binary, the launcher,
// busybox, the egress service's socat door; Docker's side on a private dockerd.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesMentioning } from '../containers/test-support/harness.js';
import { reachable } from '../egress/test-support/reachable.js';
import { DOCKERD_MISSING, startPrivateDocker, type PrivateDocker } from '../test-support/private-dockerd.js';
import { spawnCli, type Result } from './test-support/spawn-cli.js';

let work: string;
let env: NodeJS.ProcessEnv;

function cli(args: readonly string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  return spawnCli(args, { cwd: work, env: { ...env, ...extra } });
}

// What a program inside can find of a network: its interfaces, the proxy's variables, and the
// TCP sockets listening in its network namespace (the door listens on 127.0.0.1:3128, 0C38 in hex).
const PROBE = [
  'echo "ifaces $(ls /sys/class/net | tr "\\n" " ")"',
  'echo "dev $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" " ")"',
  'echo "proxy $(env | grep -ci _proxy=)"',
  'echo "listen $(cat /proc/net/tcp /proc/net/tcp6 | awk "\\$4 == \\"0A\\" { print \\$2 }" | tr "\\n" " ")"',
  // The attack: name the door by hand, as a learner who read another container's env would.
  'if nc -w 2 127.0.0.1 3128 </dev/null; then echo door open; else echo door closed; fi',
].join('; ');

function facts(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.split(' ')[0]!, line.slice(line.indexOf(' ') + 1).trim()]),
  );
}

beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-network-');
  // squid runs as `proxy`: the data root's parents must let it in (egress/README.md), and the
  // engine would make a new root 0700.
  await chmod(work, 0o755);
  await mkdir(join(work, 'data'), { mode: 0o755 });
  // The language from LANG alone (each test sets it or --lang).
  const { LC_ALL: _all, LC_MESSAGES: _messages, ...outer } = process.env;
  env = { ...outer, LAYERCAKE_DATA: join(work, 'data'), LAYERCAKE_ID_RANGE_BASE: '2155000000', LANG: 'C.UTF-8' };
});

afterAll(async () => {
  const left = (await cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (left.length > 0) await cli(['rm', '-f', ...left]);
  expect((await cli(['ps', '-aq'])).stdout).toBe('');
  expect(processesMentioning(join(work, 'data', 'egress', 'sessions'))).toEqual([]); // no door left
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe('run --network none', () => {
  it.each([[['--network', 'none']], [['--net', 'none']], [['--network=none']], [['--net=none']]])(
    'run %j: loopback only, no proxy variables, nothing listening, the door not there to name by hand',
    async (flags) => {
      const ran = await cli(['run', '--rm', ...flags, 'busybox', 'sh', '-c', PROBE]);
      expect(ran.code, ran.stderr).toBe(0);
      expect(facts(ran.stdout)).toEqual({ ifaces: 'lo', dev: 'lo', proxy: '0', listen: '', door: 'closed' });
    },
  );

  it('the control: without the flag the same container has a door to package archives on its loopback (and still lo only)', async () => {
    const ran = await cli(['run', '--rm', 'busybox', 'sh', '-c', PROBE]);
    expect(ran.code, ran.stderr).toBe(0);
    const seen = facts(ran.stdout);
    expect(seen).toMatchObject({ ifaces: 'lo', dev: 'lo', listen: '0100007F:0C38', door: 'open' });
    expect(Number(seen.proxy)).toBeGreaterThan(0);
  });

  it('the learner’s own proxy variables lead nowhere with --network none', async () => {
    // (No -T: busybox's wget crashes with it after a fetch through a proxy.)
    const ran = await cli(['run', '--rm', '--network', 'none', '-e', 'http_proxy=http://127.0.0.1:3128', 'busybox', 'sh', '-c', 'wget -q -O /dev/null http://deb.debian.org/debian/ && echo fetched || echo refused']);
    expect(ran.stdout).toBe('refused\n');
    expect(ran.stderr).toMatch(/can't connect to remote host \(127\.0\.0\.1\): Connection refused/);
  });

  it('create --network none, then start: the record keeps it, inspect and ps say none; no flag says default', async () => {
    const made = await cli(['create', '--network', 'none', '--name', 'quiet', 'busybox', 'sh', '-c', PROBE]);
    expect(made.code, made.stderr).toBe(0);
    const plain = await cli(['create', '--name', 'plain', 'busybox', 'true']);
    expect(plain.code, plain.stderr).toBe(0);
    const started = await cli(['start', '-a', 'quiet']);
    expect(started.code, started.stderr).toBe(0);
    expect(facts(started.stdout)).toEqual({ ifaces: 'lo', dev: 'lo', proxy: '0', listen: '', door: 'closed' });
    const inspected = await cli(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Networks}} {{.NetworkSettings.IPAddress}}|', 'quiet', 'plain']);
    expect(inspected.stdout).toBe('none {"none":{"Gateway":"","IPAddress":"","IPPrefixLen":0,"MacAddress":""}} |\ndefault {} |\n');
    expect((await cli(['ps', '-a', '--format', '{{.Names}}={{.Networks}}'])).stdout).toBe('plain=\nquiet=none\n');
    expect((await cli(['rm', 'quiet', 'plain'])).code).toBe(0);
  });
});

describe('what this playground does not have is refused, with the flag named, exit 125', () => {
  it.each([
    ['host', /--network host is not offered here: a container never shares this machine’s network/],
    ['bridge', /--network "bridge": this playground has no such network/],
    ['mynet', /--network "mynet": this playground has no such network/],
    ['container:other', /--network "container:other": this playground has no such network/],
    ['', /--network "": this playground has no such network/],
    // Docker's names are case-sensitive: NONE is a network's name, not the mode.
    ['NONE', /--network "NONE": this playground has no such network/],
  ])('run --network %j', async (value, message) => {
    for (const verb of ['run', 'create']) {
      const refused = await cli([verb, '--network', value, 'busybox', 'true']);
      expect(refused.code, verb).toBe(125);
      expect(refused.stderr).toMatch(message);
      expect(refused.stderr).toMatch(/Use --network none for loopback only, or leave the flag out/);
      expect(refused.stdout).toBe('');
    }
    expect((await cli(['ps', '-aq'])).stdout).toBe(''); // nothing was made
  });

  it('given twice, even the same value (as Docker refuses it)', async () => {
    const refused = await cli(['run', '--network', 'none', '--net', 'none', 'busybox', 'true']);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toMatch(/--network was given more than once \(none, none\)/);
  });

  it('in Korean for a Korean learner', async () => {
    const host = await cli(['--lang', 'ko', 'run', '--network', 'host', 'busybox', 'true']);
    expect(host.code).toBe(125);
    expect(host.stderr).toMatch(/^오류: 여기서는 --network host를 쓸 수 없어요/);
    const bridge = await cli(['run', '--network', 'bridge', 'busybox', 'true'], { LANG: 'ko_KR.UTF-8' });
    expect(bridge.code).toBe(125);
    expect(bridge.stderr).toMatch(/^오류: --network "bridge": 이 플레이그라운드에는 그런 네트워크가 없어요/);
  });

  it('--help shows --network in both languages; the older --net is accepted but not listed, as in Docker’s', async () => {
    for (const verb of ['run', 'create']) {
      const en = await cli([verb, '--help']);
      expect(en.stdout).toMatch(/--network <network> +the container’s network: none \(loopback only, not\s+even the proxy to package archives\) or default/);
      expect(en.stdout).not.toMatch(/--net </);
      const ko = await cli(['--lang', 'ko', verb, '--help']);
      expect(ko.stdout).toMatch(/--network <network> +컨테이너의 네트워크: none\(루프백만 있고/);
    }
  });
});

const online = await reachable('deb.debian.org');
describe.skipIf(!online)(`package archives with and without --network none${online ? '' : ' (skipped: deb.debian.org is not reachable)'}`, () => {
  const fetch = 'wget -q -O /dev/null http://deb.debian.org/debian/dists/bookworm/Release && echo fetched || echo refused';
  it('the default foreground container fetches through the proxy; with --network none the same command cannot', { timeout: 120_000 }, async () => {
    const control = await cli(['run', '--rm', 'busybox', 'sh', '-c', fetch]);
    expect(control.stdout, control.stderr).toBe('fetched\n');
    const none = await cli(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', fetch]);
    expect(none.stdout, none.stderr).toBe('refused\n');
  });
});

describe.skipIf(DOCKERD_MISSING)(`side by side with Docker${DOCKERD_MISSING ? ' (skipped: dockerd is not installed)' : ''}`, () => {
  let docker: PrivateDocker;
  beforeAll(async () => {
    docker = await startPrivateDocker();
    expect((await cli(['save', '-o', join(work, 'busybox.tar'), 'busybox'])).code).toBe(0);
    await docker.ok(['load', '-i', join(work, 'busybox.tar')]);
  }, 180_000);
  afterAll(async () => {
    await docker?.stop();
  }, 60_000);

  it.each([[['--network', 'none']], [['--net', 'none']], [['--network=none']], [[]], [['--network', 'default']]])(
    'create %j: inspect’s NetworkMode and ps’s NETWORKS as Docker’s (its default lists bridge, which is not here)',
    async (flags) => {
      const both = async (args: string[]): Promise<[string, string]> => [(await cli(args)).stdout, await docker.ok(args)];
      await Promise.all([cli(['create', ...flags, '--name', 'net', 'busybox', 'true']), docker.ok(['create', ...flags, '--name', 'net', 'busybox', 'true'])]);
      try {
        const [ours, theirs] = await both(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{.NetworkSettings.IPAddress}}|', 'net']);
        expect(ours).toBe(theirs);
        const [ourNets, theirNets] = await both(['ps', '-a', '--filter', 'name=^net$', '--format', '{{.Networks}}']);
        if (ours.startsWith('none')) expect(ourNets).toBe(theirNets);
        else expect([ourNets, theirNets]).toEqual(['\n', 'bridge\n']);
      } finally {
        await Promise.all([cli(['rm', 'net']), docker.run(['rm', 'net'])]);
      }
    },
  );

  it('a running container made with --network none has what Docker’s has: lo, nothing listening', async () => {
    const probe = 'ls /sys/class/net; cat /proc/net/tcp /proc/net/tcp6 | awk "\\$4 == \\"0A\\""';
    const [ours, theirs] = await Promise.all([cli(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', probe]), docker.run(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', probe])]);
    expect(theirs.stdout).toBe('lo\n');
    expect(ours.stdout).toBe(theirs.stdout);
  });

  it.each([[['--network', 'nosuch']], [['--network', '']], [['--network', 'none', '--network', 'none']]])('run %j exits 125 on both sides', async (flags) => {
    const [ours, theirs] = await Promise.all([cli(['run', '--rm', ...flags, 'busybox', 'true']), docker.run(['run', '--rm', ...flags, 'busybox', 'true'])]);
    expect([ours.code, theirs.code]).toEqual([125, 125]);
  });
});
