// `inspect -f`, `ps`/`images`/`history` with and without --format, side by side with real Docker
// (a private dockerd, test-support/private-dockerd.ts): the same busybox image (saved here, loaded
// there), the same container (`sh -c 'exit 3'` named x1), the same templates; what must match is
// the text, with only the container's id and clock-dependent columns put aside. Then `save`
// into Docker under the learner's name, and `load` of Docker's archive back.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePaths } from '../config.js';
import { ImageStore } from '../image-store/index.js';
import { DOCKERD_MISSING, startPrivateDocker, type PrivateDocker } from '../test-support/private-dockerd.js';
import { BIN, spawnCli, type Result } from './test-support/spawn-cli.js';

let work: string;
let env: NodeJS.ProcessEnv;
let docker: PrivateDocker;
let ourId = '';
let dockerId = '';

function cli(args: readonly string[]): Promise<Result> {
  return spawnCli(args, { cwd: work, env });
}

/** Both sides' output of the same command, each container's id replaced by CID. */
async function both(args: string[]): Promise<{ ours: Result; theirs: Result }> {
  const [ours, theirs] = await Promise.all([cli(args), docker.run(args)]);
  const mask = (text: string, id: string): string => text.replaceAll(id, 'CID').replaceAll(id.slice(0, 12), 'CID');
  return {
    ours: { ...ours, stdout: mask(ours.stdout, ourId), stderr: mask(ours.stderr, ourId).replace(/^Error: /gm, '') },
    theirs: { ...theirs, stdout: mask(theirs.stdout, dockerId), stderr: mask(theirs.stderr, dockerId) },
  };
}

beforeAll(async () => {
  if (DOCKERD_MISSING) return;
  work = await mkdtemp('/tmp/lc-format-');
  env = { ...process.env, LAYERCAKE_DATA: join(work, 'data'), LAYERCAKE_ID_RANGE_BASE: '2140000000', LANG: 'C.UTF-8' };
  docker = await startPrivateDocker();
  // --network none on both sides: the private dockerd has no bridge, and the network fields below are compared.
  expect((await cli(['run', '--network', 'none', '--name', 'x1', 'busybox', 'sh', '-c', 'exit 3'])).code).toBe(3);
  expect((await cli(['save', '-o', join(work, 'busybox.tar'), 'busybox'])).code).toBe(0);
  await docker.ok(['load', '-i', join(work, 'busybox.tar')]);
  expect((await docker.run(['run', '--network', 'none', '--name', 'x1', 'busybox', 'sh', '-c', 'exit 3'])).code).toBe(3);
  ourId = (await cli(['inspect', '-f', '{{.Id}}', 'x1'])).stdout.trim();
  dockerId = (await docker.ok(['inspect', '-f', '{{.Id}}', 'x1'])).trim();
}, 180_000);

afterAll(async () => {
  if (DOCKERD_MISSING) return;
  const left = (await cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (left.length > 0) await cli(['rm', '-f', ...left]);
  expect((await cli(['ps', '-aq'])).stdout).toBe('');
  await docker?.stop();
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe.skipIf(DOCKERD_MISSING)(`--format and tables, side by side with Docker${DOCKERD_MISSING ? ' (skipped: dockerd is not installed)' : ''}`, () => {
  it.each([
    ['{{.State.ExitCode}}'],
    ['{{.State.Status}} {{.State.Running}} {{.State.OOMKilled}} {{.Name}} {{.Path}} {{.Args}} {{len .Args}}'],
    ['{{.Config.Cmd}} {{.Config.Env}} {{json .Config.Cmd}} {{index .Config.Cmd 0}} {{join .Args ","}}'],
    ['{{range .Config.Env}}{{.}};{{end}} {{if eq .State.ExitCode 3}}three{{else}}other{{end}} {{with .State}}{{.Pid}}{{end}}'],
    ['{{.Id}} {{.Image}}'],
  ])('inspect -f %s', async (template) => {
    const { ours, theirs } = await both(['inspect', '-f', template, 'x1']);
    expect(ours).toEqual(theirs);
  });

  it('inspect -f of an image: id, root filesystem, config', async () => {
    const { ours, theirs } = await both(['inspect', '-f', '{{.Id}} {{.RootFS.Type}} {{json .RootFS.Layers}} {{.Config.Cmd}} {{.Os}} {{.Size}}', 'busybox']);
    expect(ours).toEqual(theirs);
  });

  it.each([['busybox'], ['x1']])('inspect -f of %s: unset lists and maps print [] and map[], omitempty fields are there, JSON says null', async (ref) => {
    const template = '{{.Config.Entrypoint}}|{{.Config.Volumes}}|{{.Config.OnBuild}}|{{.Config.Labels}}|{{.Config.ExposedPorts}}|{{.Config.StopSignal}}|{{.Config.Shell}}|{{.Config.ArgsEscaped}}|{{json .Config.Entrypoint}}|{{json .Config.ExposedPorts}}|{{len .Config.Entrypoint}}|{{json .Config}}';
    const { ours, theirs } = await both(['inspect', '-f', template, ref]);
    expect(theirs.stdout).toMatch(/^\[\]\|map\[\]\|\[\]\|map\[\]\|map\[\]\|\|\[\]\|false\|null\|null\|0\|/);
    // Docker's container config also says which streams a run attached (AttachStdout…): the engine's record does not.
    const unattached = (text: string): string => text.replace(/"AttachStdin":\w+,"AttachStdout":\w+,"AttachStderr":\w+,/, '');
    expect({ ...ours, stdout: unattached(ours.stdout) }).toEqual({ ...theirs, stdout: unattached(theirs.stdout) });
  });

  it('inspect of an image: its Config as Docker’s struct (every field, in order), Parent, Comment, VirtualSize', async () => {
    const { ours, theirs } = await both(['inspect', '-f', '{{json .Config}} {{json .Parent}} {{json .Comment}} {{.VirtualSize}} {{json .RepoDigests}}', 'busybox']);
    expect(theirs.stdout).toMatch(/^\{"Hostname":"","Domainname":""/);
    expect(ours).toEqual(theirs);
  });

  it('inspect of a container: the fields tutorials read, as Docker shows them for --network none', async () => {
    const template = '{{.Config.WorkingDir}}|{{.Config.Domainname}}|{{json .Config.Labels}}|{{json .Config.Volumes}}|{{.Config.StdinOnce}}|{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.Networks.none.IPAddress}}|{{.HostConfig.NetworkMode}}|{{.RestartCount}}|{{json .Mounts}}|{{.Platform}}';
    const { ours, theirs } = await both(['inspect', '-f', template, 'x1']);
    expect(theirs.stdout).toBe('||{}|null|false|||none|0|[]|linux\n');
    expect(ours).toEqual(theirs);
    // The container's top-level keys come in Docker's order (Docker has more of them).
    const keys = async (run: (args: string[]) => Promise<{ stdout: string }>): Promise<string[]> => Object.keys((JSON.parse((await run(['inspect', 'x1'])).stdout) as object[])[0]!);
    const dockerKeys = await keys(docker.run);
    const ourKeys = (await keys(cli)).filter((k) => k !== 'Layercake');
    expect(ourKeys.filter((k) => !dockerKeys.includes(k))).toEqual([]);
    expect(ourKeys).toEqual(dockerKeys.filter((k) => ourKeys.includes(k)));
  });

  it.each([['{{.Nope}}'], ['{{.State.Nope}}'], ['{{index .Config.Cmd 7}}'], ['{{'], ['{{nosuch .Id}}']])('inspect -f %s fails with Docker’s message and status', async (template) => {
    const { ours, theirs } = await both(['inspect', '-f', template, 'x1']);
    expect(theirs.code).not.toBe(0);
    expect(ours).toEqual(theirs);
  });

  it.each([
    [127, ['nonexistent']],
    [126, ['/etc']],
    [3, ['sh', '-c', 'exit 3']],
  ])('run exits %i as Docker’s does', async (status, command) => {
    const [ours, theirs] = await Promise.all([cli(['run', '--rm', 'busybox', ...command]), docker.run(['run', '--rm', '--network', 'none', 'busybox', ...command])]);
    expect(theirs.code).toBe(status);
    expect(ours.code).toBe(status);
    // Both name the command and the reason in runc's words.
    if (status > 100) expect(ours.stderr).toContain(theirs.stderr.match(/exec: "[^"]+": [^:]+/)![0]);
  });

  it('a flag run does not know exits 125; a killed container 137, in wait, inspect and ps', async ({ onTestFinished }) => {
    onTestFinished(async () => void (await Promise.all([cli(['rm', '-f', 'killed']), docker.run(['rm', '-f', 'killed'])])));
    const [ours, theirs] = await Promise.all([cli(['run', '--bogus', 'busybox', 'true']), docker.run(['run', '--bogus', 'busybox', 'true'])]);
    expect([ours.code, theirs.code]).toEqual([125, 125]);
    await Promise.all([cli(['run', '-d', '--name', 'killed', 'busybox', 'sleep', '100']), docker.ok(['run', '-d', '--network', 'none', '--name', 'killed', 'busybox', 'sleep', '100'])]);
    await Promise.all([cli(['kill', 'killed']), docker.ok(['kill', 'killed'])]);
    const { ours: waited, theirs: dockerWaited } = await both(['wait', 'killed']);
    expect(waited).toEqual({ ...dockerWaited, stdout: '137\n' });
    const { ours: state, theirs: dockerState } = await both(['inspect', '-f', '{{.State.ExitCode}} {{.State.Status}} {{.State.Running}}', 'killed']);
    expect(state).toEqual({ ...dockerState, stdout: '137 exited false\n' });
    const { ours: listed, theirs: dockerListed } = await both(['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Status}}']);
    for (const text of [listed.stdout, dockerListed.stdout]) expect(text.split('\n').find((l) => l.startsWith('killed'))).toMatch(/^killed exited Exited \(137\) /);
  });

  it('inspect of something that is neither: Docker’s words and status, after the objects it found', async () => {
    const { ours, theirs } = await both(['inspect', '-f', '{{.Name}}', 'x1', 'nosuch']);
    expect(theirs).toMatchObject({ code: 1, stdout: '/x1\n' });
    expect(ours).toEqual({ ...theirs, stderr: theirs.stderr.replace(/^Error: /, '') });
  });

  it('inspect’s JSON leaves <, > and & as they are, as Docker’s does (its --format json escapes them)', async () => {
    await Promise.all([
      cli(['create', '--name', 'angle', '-e', 'A=<b>&', 'busybox', 'true']),
      docker.ok(['create', '--network', 'none', '--name', 'angle', '-e', 'A=<b>&', 'busybox', 'true']),
    ]);
    const { ours, theirs } = await both(['inspect', 'angle']);
    // (The comma aside: the line's place in the list is the next test's.)
    const envLine = (text: string): string | undefined => text.split('\n').find((line) => line.includes('"A='))?.replace(/,$/, '');
    expect(envLine(theirs.stdout)).toBe('                "A=<b>&"');
    expect(envLine(ours.stdout)).toBe(envLine(theirs.stdout));
    await Promise.all([cli(['rm', 'angle']), docker.ok(['rm', 'angle'])]);
  });

  it.each([[['-e', 'Q=1']], [['-e', 'PATH=/x:/bin']], [['-e', 'HOSTNAME=h']], [[]]])(
    'Env %j: -e first, then the image’s, in inspect, in the process and in a commit, as Docker orders them',
    { timeout: 60_000 },
    async (flags) => {
      // One -e each: Docker 20.10's daemon orders several -e by a Go map, differently on each run.
      const names = ['envc', 'envimg'];
      const cleanup = async (): Promise<void> => void (await Promise.all([cli(['rm', 'envc']), docker.run(['rm', 'envc']), cli(['rmi', 'envimg']), docker.run(['rmi', 'envimg'])]));
      await Promise.all([cli(['create', '--name', names[0]!, ...flags, 'busybox', 'true']), docker.ok(['create', '--network', 'none', '--name', names[0]!, ...flags, 'busybox', 'true'])]);
      try {
        const { ours, theirs } = await both(['inspect', '-f', '{{json .Config.Env}}', 'envc']);
        expect(theirs.stdout).toContain('PATH=');
        expect(ours).toEqual(theirs);
        await Promise.all([cli(['commit', 'envc', 'envimg']), docker.ok(['commit', 'envc', 'envimg'])]);
        const { ours: committed, theirs: dockerCommitted } = await both(['inspect', '-f', '{{json .Config.Env}}', 'envimg']);
        expect(committed).toEqual(dockerCommitted);
        // The process: PATH and HOSTNAME first (replaced in place by -e), then the rest, then HOME.
        const [ran, dockerRan] = await Promise.all([cli(['run', '--rm', ...flags, 'busybox', 'env']), docker.run(['run', '--rm', '--network', 'none', ...flags, 'busybox', 'env'])]);
        // The proxy's variables are this engine's door to package archives (egress/), Docker has none.
        const masked = (text: string): string => text.replace(/^HOSTNAME=[0-9a-f]{12}$/m, 'HOSTNAME=<id>').replace(/^(https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=.*\n/gm, '');
        expect(dockerRan.code).toBe(0);
        expect(masked(ran.stdout)).toBe(masked(dockerRan.stdout));
      } finally {
        await cleanup();
      }
    },
  );

  it.each([
    ['{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Ports}}'],
    ['table {{.ID}}\\t{{.Names}}\\t{{.Image}}\\t{{.Command}}'],
    ['{{.Names}}\\t{{.Networks}}'],
  ])('ps -a --format %s', async (format) => {
    const { ours, theirs } = await both(['ps', '-a', '--format', format]);
    expect(ours).toEqual(theirs);
  });

  it('ps -a: the same columns, widths and quoting', async () => {
    const { ours, theirs } = await both(['ps', '-a']);
    // CREATED and STATUS say how long ago: equal only in their words' shape.
    const shape = (text: string): string => text.replace(/(About a minute|Less than a second|\d+ seconds?|\d+ minutes?) ago/g, 'AGO');
    // The columns before CREATED start where Docker's start (the later ones move with the clock's words).
    const starts = (text: string): number[] => ['IMAGE', 'COMMAND', 'CREATED'].map((name) => text.split('\n')[0]!.indexOf(name));
    expect(starts(ours.stdout)).toEqual(starts(theirs.stdout));
    expect(shape(ours.stdout).replace(/ +/g, ' ')).toBe(shape(theirs.stdout).replace(/ +/g, ' '));
  });

  it('ps -f/--filter, -n and -l pick the containers Docker’s pick, and a bad filter fails as Docker’s', { timeout: 60_000 }, async ({ onTestFinished }) => {
    onTestFinished(async () => void (await Promise.all([cli(['rm', 'fa', 'fb']), docker.run(['rm', 'fa', 'fb'])])));
    // Made in the same order on both sides: x1 (exit 3), then fa (exit 0), then fb (created).
    await Promise.all([cli(['run', '--name', 'fa', 'busybox', 'true']), docker.ok(['run', '--network', 'none', '--name', 'fa', 'busybox', 'true'])]);
    await Promise.all([cli(['create', '--name', 'fb', 'busybox', 'true']), docker.ok(['create', '--network', 'none', '--name', 'fb', 'busybox', 'true'])]);
    for (const flags of [
      ['-f', 'status=exited'],
      ['--filter', 'status=created'],
      ['-f', 'status=exited', '-f', 'status=created'],
      ['-a', '-f', 'exited=3'],
      ['-f', 'exited=0'],
      ['-a', '-f', 'name=^f'],
      ['-a', '-f', 'name=fa', '-f', 'name=x1'],
      ['-a', '-f', 'status=exited', '-f', 'name=f'],
      ['-a', '-f', 'ancestor=busybox'],
      ['-l'],
      ['-n', '2'],
    ]) {
      const { ours, theirs } = await both(['ps', ...flags, '--format', '{{.Names}}']);
      expect(ours, flags.join(' ')).toEqual(theirs);
    }
    expect((await both(['ps', '-a', '-f', 'name=^f', '--format', '{{.Names}}'])).theirs.stdout).toBe('fb\nfa\n');
    for (const [flags, status] of [[['-f', 'bogus=1'], 1], [['-f', 'status=nope'], 1], [['-f', 'name'], 125]] as const) {
      const { ours, theirs } = await both(['ps', '-a', ...flags]);
      expect([ours.code, ours.stdout], flags.join(' ')).toEqual([status, '']);
      expect(theirs.code).toBe(status);
    }
  });

  it('ps -s and {{.Size}}: the writable layer, then virtual with the image, as Docker prints them', { timeout: 60_000 }, async ({ onTestFinished }) => {
    onTestFinished(async () => void (await Promise.all([cli(['rm', 'sized']), docker.run(['rm', 'sized'])])));
    // 4 bytes of file, 2 of symlink (its target's length); a directory and a whiteout count nothing.
    const script = 'echo abc > /a; ln -s /a /l; mkdir -p /d/e; rm /bin/ls';
    await Promise.all([cli(['run', '--name', 'sized', 'busybox', 'sh', '-c', script]), docker.ok(['run', '--network', 'none', '--name', 'sized', 'busybox', 'sh', '-c', script])]);
    for (const format of ['{{.Names}} {{.Size}}', 'table {{.Names}}\\t{{.Size}}']) {
      const { ours, theirs } = await both(['ps', '-a', '--format', format]);
      expect(theirs.stdout).toMatch(/sized +6B \(virtual 1\.98MB\)\n/);
      expect(ours).toEqual(theirs);
    }
    // Without -s or .Size Docker measures nothing: 0B.
    const { ours: unmeasured, theirs: dockerUnmeasured } = await both(['ps', '-a', '-s', '--format', '{{.Names}}']);
    expect(unmeasured).toEqual(dockerUnmeasured);
    const { ours: listed, theirs: dockerListed } = await both(['ps', '-a', '-s']);
    const shape = (text: string): string =>
      text.replace(/(About a minute|Less than a second|\d+ seconds?|\d+ minutes?) ago/g, 'AGO').replace(/^[0-9a-f]{12} /gm, 'CID ').replace(/ +/g, ' ');
    expect(listed.stdout.split('\n')[0]).toMatch(/ NAMES +SIZE$/);
    expect(shape(listed.stdout)).toBe(shape(dockerListed.stdout));
    // {{json .}} reads every field, Size among them, in Docker's order.
    const { ours: json, theirs: dockerJson } = await both(['ps', '-a', '--format', '{{json .}}']);
    const fields = (text: string): [string, unknown][] => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).map((row) => [Object.keys(row).join(','), row.Size]);
    expect(fields(json.stdout)).toEqual(fields(dockerJson.stdout));
  });

  it.each([[[]], [['-a']], [['--format', '{{json .}}']], [['--format', 'table {{.Repository}}:{{.Tag}}\\t{{.ID}}\\t{{.Size}}']], [['--no-trunc', '--format', '{{.ID}}']]])(
    'images %j',
    async (flags) => {
      const { ours, theirs } = await both(['images', ...flags]);
      expect(ours).toEqual(theirs);
    },
  );

  it.each([
    [[]],
    [['--format', '{{json .}}']],
    [['--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}']],
    [['-q']],
    // -H=false: sizes in bytes, dates in RFC 3339, the CREATED AT column; Go's other boolean spellings too.
    [['-H=false']],
    [['--human=false', '--format', '{{json .}}']],
    [['-H=0', '--no-trunc', '--format', 'table {{.ID}}\t{{.CreatedSince}}\t{{.Size}}']],
    [['-H', '--human=true']],
  ])('history %j busybox', async (flags) => {
    const { ours, theirs } = await both(['history', ...flags, 'busybox']);
    expect(ours).toEqual(theirs);
  });

  it('history -H=false is not the default table (the comparison above could not pass by ignoring it)', async () => {
    const [raw, human] = await Promise.all([cli(['history', '-H=false', 'busybox']), cli(['history', 'busybox'])]);
    expect(raw.stdout).toMatch(/^IMAGE +CREATED AT +CREATED BY/);
    expect(raw.stdout).toMatch(/ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /);
    expect(human.stdout).toMatch(/^IMAGE +CREATED +CREATED BY/);
    expect(raw.stdout).not.toBe(human.stdout);
  });
});

describe.skipIf(DOCKERD_MISSING)(`history’s ids, side by side with Docker (BuildKit)${DOCKERD_MISSING ? ' (skipped: dockerd is not installed)' : ''}`, () => {
  it('a built image shows its own id only, a commit the image it was made from, every other row <missing>', { timeout: 180_000 }, async () => {
    const dir = join(work, 'hist');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nENV A=1\nRUN echo hi > /hi\nCMD ["sh"]\n');
    const ids = new Map<string, string>();
    for (const [side, run] of [['ours', cli], ['theirs', docker.run]] as const) {
      const net = side === 'theirs' ? ['--network', 'none'] : [];
      expect((await run(['build', ...net, '-t', 'hist-built', dir])).code).toBe(0);
      expect((await run(['run', ...net, '--name', 'hist-c', 'hist-built', 'touch', '/t'])).code).toBe(0);
      // images sorts by creation in whole seconds: in the same second as the build, Docker's
      // order of the two was a coin toss (a CI run listed the build first).
      await new Promise((r) => setTimeout(r, 1100));
      expect((await run(['commit', 'hist-c', 'hist-commit'])).code).toBe(0);
      expect((await run(['rm', 'hist-c'])).code).toBe(0);
      for (const name of ['hist-built', 'hist-commit']) ids.set(`${side} ${name}`, (await run(['inspect', '-f', '{{.Id}}', name])).stdout.trim());
    }
    // Each side's ids named alike; the busybox rows are the same image on both sides.
    const named = async (side: 'ours' | 'theirs', args: string[]): Promise<string> => {
      let text = (side === 'ours' ? await cli(args) : await docker.run(args)).stdout;
      for (const name of ['hist-built', 'hist-commit']) text = text.replaceAll(ids.get(`${side} ${name}`)!, name.toUpperCase());
      return text;
    };
    for (const ref of ['hist-built', 'hist-commit']) {
      const args = ['history', '--no-trunc', '--format', '{{.ID}} {{.CreatedBy}}', ref];
      const theirs = await named('theirs', args);
      expect(theirs.split('\n').filter((l) => !l.startsWith('<missing>')).length).toBe(ref === 'hist-built' ? 2 : 3); // and the last newline
      expect(await named('ours', args)).toBe(theirs);
      // inspect's Parent is the same link; Comment the last step's.
      const inspectArgs = ['inspect', '-f', '{{.Parent}}|{{.Comment}}', ref];
      expect(await named('ours', inspectArgs)).toBe(await named('theirs', inspectArgs));
    }
    expect(await named('ours', ['inspect', '-f', '{{.Parent}}|{{.Comment}}', 'hist-commit'])).toBe('HIST-BUILT|\n');
    // images -a lists no build step, as BuildKit leaves none (the classic builder's would be here).
    const { ours: all, theirs: dockerAll } = await both(['images', '-a', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(dockerAll.stdout).toBe('hist-commit:latest\nhist-built:latest\nbusybox:latest\n');
    expect(all).toEqual(dockerAll);
    // Control: the engine's history (what this verb printed before, and what the web app shows
    // with each step's Dockerfile line) has an image for the build's steps and for busybox.
    const store = await ImageStore.open(enginePaths(join(work, 'data')).store);
    const stepIds = (await store.history(ids.get('ours hist-built')!)).map((row) => row.id);
    expect(stepIds.filter((id) => id !== null).length).toBeGreaterThanOrEqual(4);
    for (const ref of ['hist-commit', 'hist-built']) await Promise.all([cli(['rmi', ref]), docker.run(['rmi', ref])]);
  });
});

describe.skipIf(DOCKERD_MISSING)(`save and load between Layercake and Docker${DOCKERD_MISSING ? ' (skipped: dockerd is not installed)' : ''}`, () => {
  it('save NAME:TAG to stdout, then docker load and docker run NAME:TAG: the archive carries the learner’s name', { timeout: 60_000 }, async () => {
    expect((await cli(['commit', 'x1', 'myapp:v1'])).code).toBe(0);
    const archive = join(work, 'myapp.tar');
    const saved = await spawnCli([], { cwd: work, env, command: ['sh', '-c', `${process.execPath} ${BIN} save myapp:v1 > ${archive}`] });
    expect(saved).toMatchObject({ code: 0, stderr: '' });
    // The store's session-prefixed name stays in the store (before: RepoTags local.layercake/local/myapp:v1).
    expect(JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }))[0].RepoTags).toEqual(['myapp:v1']);
    expect(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })).not.toContain('layercake');
    expect((await docker.ok(['load', '-i', archive])).trim()).toBe('Loaded image: myapp:v1');
    // The committed image's command is the container's: sh -c 'exit 3'.
    expect((await docker.run(['run', '--rm', '--network', 'none', 'myapp:v1'])).code).toBe(3);
  });

  it('save of a repository without a tag carries every tag the session has of it, as Docker’s does', { timeout: 60_000 }, async () => {
    expect((await cli(['tag', 'myapp:v1', 'myapp:other'])).code).toBe(0);
    const archive = join(work, 'repo.tar');
    expect((await cli(['save', '-o', archive, 'myapp'])).code).toBe(0);
    expect(JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }))[0].RepoTags.sort()).toEqual(['myapp:other', 'myapp:v1']);
    expect((await cli(['rmi', 'myapp:other'])).code).toBe(0);
  });

  it('load of Docker’s archive holding the base image we have lists it once, as Docker does', { timeout: 60_000 }, async () => {
    const archive = join(work, 'from-docker.tar');
    await docker.ok(['save', '-o', archive, 'busybox', 'myapp:v1']);
    const before = (await cli(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout;
    const loaded = await cli(['load', '-i', archive]);
    // Docker's archive lists its images in no fixed order.
    expect(loaded.code).toBe(0);
    expect(loaded.stdout.trim().split('\n').sort()).toEqual(['Loaded image: busybox:latest', 'Loaded image: myapp:v1']);
    const after = (await cli(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout;
    expect(after).toBe(before);
    expect(after.split('\n').filter((row) => row.startsWith('busybox:'))).toHaveLength(1);
  });

  it('save to a terminal is refused, as Docker refuses it', { timeout: 30_000 }, async () => {
    const r = await spawnCli([], { cwd: work, env, command: ['script', '-qec', `${process.execPath} ${BIN} save busybox`, '/dev/null'] });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('cowardly refusing to save to a terminal');
  });
});
