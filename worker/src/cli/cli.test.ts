// The `layercake` binary as a learner runs it: a subprocess per command over a temp data dir,
// the real launcher, real containers. Checks Docker's output shapes and exit statuses. After
// every test all containers are removed and nothing may be left: launcher states or monitors,
// cgroups, id ranges, container directories.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enginePaths } from '../config.js';
import { processesMentioning } from '../containers/test-support/harness.js';
import { BIN, spawnCli, type Result } from './test-support/spawn-cli.js';

let work: string;
let dataDir: string;
/** Every container id a test made, for the cgroup check. */
const seen = new Set<string>();

function cli(args: readonly string[], options: { input?: string; env?: Record<string, string>; command?: string[] } = {}): Promise<Result> {
  return spawnCli(args, {
    ...options,
    cwd: work,
    env: { ...process.env, LAYERCAKE_DATA: dataDir, LAYERCAKE_ID_RANGE_BASE: '2100000000', LANG: 'C.UTF-8', ...options.env },
  });
}

/** Runs a shell line under `script`, which gives it a pseudo-terminal (as a learner's shell has). */
function inTerminal(line: string, input = ''): Promise<Result> {
  return cli([], { command: ['script', '-qec', line, '/dev/null'], input });
}

async function collectIds(): Promise<void> {
  for (const name of await readdir(enginePaths(dataDir).containers).catch(() => [] as string[])) seen.add(name.slice(0, 12));
}

async function leftovers(): Promise<string[]> {
  const paths = enginePaths(dataDir);
  const found: string[] = [];
  for (const name of await readdir(paths.launcherState).catch(() => [] as string[])) if (!name.startsWith('.')) found.push(`launcher state ${name}`);
  for (const pid of processesMentioning(paths.launcherState)) found.push(`launcher process ${pid}`);
  for (const name of await readdir(paths.idRanges).catch(() => [] as string[])) found.push(`id range ${name}`);
  for (const name of await readdir(paths.containers).catch(() => [] as string[])) found.push(`container ${name}`);
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const parent = join('/sys/fs/cgroup', hierarchy, 'layercake');
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent)) if (seen.has(name)) found.push(`cgroup ${hierarchy}/layercake/${name}`);
  }
  return found;
}

beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-cli-');
  dataDir = join(work, 'data');
  // The first command makes the busybox base image in this data dir.
  const first = await cli(['images']);
  expect(first.code).toBe(0);
  await cli(['run', '--rm', 'busybox', 'true']);
});

afterEach(async () => {
  await collectIds();
  for (const session of ['local', 'other']) {
    const ids = (await cli(['--session', session, 'ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await cli(['--session', session, 'rm', '-f', ...ids]);
  }
  expect(await leftovers()).toEqual([]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('run', () => {
  it('exits with the container’s status, 127/126 for a command that cannot run, 125 for engine and flag errors', async () => {
    const ok = await cli(['run', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(ok).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect((await cli(['run', '--rm', 'busybox', 'true'])).code).toBe(0);

    const missing = await cli(['run', '--rm', 'busybox', 'no-such-program']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('Error: exec: "no-such-program": executable file not found in $PATH\n');
    const notExecutable = await cli(['run', '--rm', 'busybox', '/etc/passwd']);
    expect(notExecutable.code).toBe(126);
    expect(notExecutable.stderr).toBe('Error: exec: "/etc/passwd": permission denied\n');

    const noImage = await cli(['run', 'no-such-image']);
    expect(noImage).toMatchObject({ code: 125, stderr: 'Error: No such image: no-such-image\n' });
    const badFlag = await cli(['run', '--bogus', 'busybox']);
    expect(badFlag.code).toBe(125);
    expect(badFlag.stderr).toContain("unknown option '--bogus'");
    expect(badFlag.stderr).toContain("See 'layercake run --help'.");
    const badLimit = await cli(['run', '-m', '1t', 'busybox', 'true']);
    expect(badLimit).toMatchObject({ code: 125 });
    expect(badLimit.stderr).toContain('--memory must be between 6 MiB and 1 GiB');
  });

  it('passes -e, -w, -u, --name and a memory limit; options after the image belong to the command', async () => {
    const r = await cli(['run', '--name', 'flags', '-e', 'A=1', '-e', 'B', '-w', '/made/here', '-u', 'nobody', '-m', '64m', 'busybox', 'sh', '-c', 'echo $A-$B $(pwd) $(id -u); ls -d /made'], {
      env: { B: 'from-shell' },
    });
    expect(r).toMatchObject({ code: 0, stdout: '1-from-shell /made/here 65534\n/made\n' });
    const inspect = JSON.parse((await cli(['inspect', 'flags'])).stdout) as { HostConfig: { Memory: number }; Name: string; State: { ExitCode: number } }[];
    expect(inspect[0]).toMatchObject({ Name: '/flags', HostConfig: { Memory: 64 << 20 }, State: { ExitCode: 0 } });
    expect((await cli(['run', 'busybox', 'ls', '-d', '/etc'])).stdout).toBe('/etc\n');
  });

  it('-i passes stdin through and closes it at its end', async () => {
    expect(await cli(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'hello\n' })).toMatchObject({
      code: 0,
      stdout: 'HELLO\ndone\n',
    });
    // Without -i the container reads end-of-file at once.
    expect(await cli(['run', '--rm', 'busybox', 'cat'], { input: 'ignored\n' })).toMatchObject({ code: 0, stdout: '' });
  });

  it('-it gives a terminal of the local size that follows SIGWINCH, and Ctrl-P Ctrl-Q detaches', async () => {
    const sized = await inTerminal(`stty rows 33 cols 101; ${BIN} run -it --rm busybox sh -c 'tty; stty size; exit 4'`);
    expect(sized.code).toBe(4);
    // (libuv's raw mode keeps the local terminal's \n → \r\n: lines end \r\r\n, which shows the same.)
    expect(sized.stdout).toMatch(/\/dev\/pts\/0\r+\n33 101\r+\n/);

    // The terminal is resized while the container runs: the kernel sends SIGWINCH, the size moves on.
    // (A background job's stdin is /dev/null in a non-interactive shell, so stty names the terminal.)
    const resized = await inTerminal(`stty rows 20 cols 70; (sleep 2.5; stty -F /dev/tty rows 40 cols 120) & ${BIN} run -it --rm busybox sh -c 'sleep 4; stty size'`);
    expect(resized.code).toBe(0);
    expect(resized.stdout).toContain('40 120');

    // Typed input reaches the shell; Ctrl-P Ctrl-Q leaves it running and the command exits 0.
    const typed = await cli([], {
      command: ['sh', '-c', `(sleep 2.5; printf 'echo typed\\r'; sleep 1; printf '\\020\\021'; sleep 2) | script -qec "${BIN} run -it --name keep busybox sh" /dev/null`],
    });
    expect(typed.code).toBe(0);
    expect(typed.stdout).toContain('typed');
    expect((await cli(['inspect', 'keep'])).stdout).toContain('"Running": true');
  });

  it('-d prints the id and leaves the container running; logs, wait, stop and rm manage it', async () => {
    const started = await cli(['run', '-d', '--name', 'bg', 'busybox', 'sh', '-c', 'echo one; echo two; trap "exit 9" TERM; while :; do sleep 0.1; done']);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = started.stdout.trim();

    // Docker's COMMAND: an argument with a space in single quotes, cut to 20 characters.
    const ps = await cli(['ps']);
    const [header, row] = ps.stdout.split('\n');
    expect(header).toMatch(/^CONTAINER ID\s{3}IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(row).toMatch(new RegExp(`^${id.slice(0, 12)}\\s{3}busybox\\s+"sh -c 'echo one; ec…"\\s+(Less than a second|\\d+ seconds?) ago\\s+Up .+\\s+bg$`));
    expect((await cli(['ps', '-q'])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await cli(['ps', '-q', '--no-trunc'])).stdout).toBe(`${id}\n`);

    expect((await cli(['logs', 'bg'])).stdout).toBe('one\ntwo\n');
    expect((await cli(['logs', '--tail', '1', 'bg'])).stdout).toBe('two\n');

    const rmRunning = await cli(['rm', 'bg']);
    expect(rmRunning.code).toBe(1);
    expect(rmRunning.stderr).toBe('Error: Container bg is running: stop it first, or remove it with --force.\n');

    const [stopped, waited] = await Promise.all([cli(['stop', 'bg']), cli(['wait', 'bg'])]);
    expect(stopped).toMatchObject({ code: 0, stdout: 'bg\n' });
    expect(waited).toMatchObject({ code: 0, stdout: '9\n' });
    expect((await cli(['ps', '-a'])).stdout).toMatch(/Exited \(9\) (Less than a second|\d+ seconds?) ago\s+bg\n$/);
    expect(await cli(['rm', 'bg'])).toMatchObject({ code: 0, stdout: 'bg\n' });
    expect(await cli(['rm', 'bg'])).toMatchObject({ code: 1, stderr: 'Error: No such container: bg\n' });
  });
});

describe('exec, kill, pause, stats, inspect', () => {
  it('exec exits with the command’s status and runs as asked', async () => {
    await cli(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '1000']);
    expect(await cli(['exec', 'ex', 'sh', '-c', 'echo $(id -u) $(pwd); exit 6'])).toMatchObject({ code: 6, stdout: '0 /\n' });
    expect(await cli(['exec', '-e', 'X=y', '-u', 'nobody', '-w', '/tmp', 'ex', 'sh', '-c', 'echo $X $(id -u) $(pwd)'])).toMatchObject({
      code: 0,
      stdout: 'y 65534 /tmp\n',
    });
    expect(await cli(['exec', '-i', 'ex', 'cat'], { input: 'piped\n' })).toMatchObject({ code: 0, stdout: 'piped\n' });
    expect((await cli(['exec', 'ex', 'no-such-program'])).code).toBe(127);
    const tty = await inTerminal(`stty rows 11 cols 66; ${BIN} exec -it ex stty size`);
    expect(tty.stdout).toContain('11 66');
  });

  it('kill, pause and unpause show in ps; stats prints Docker’s columns; inspect reports the exit', async () => {
    await cli(['run', '-d', '--name', 'k', 'busybox', 'sh', '-c', 'trap "exit 12" USR1; while :; do sleep 0.1; done']);
    expect(await cli(['pause', 'k'])).toMatchObject({ code: 0, stdout: 'k\n' });
    expect((await cli(['ps'])).stdout).toMatch(/Up .+ \(Paused\)\s+k\n/);
    expect(await cli(['pause', 'k'])).toMatchObject({ code: 1, stderr: 'Error: Container k is already paused.\n' });
    expect(await cli(['unpause', 'k'])).toMatchObject({ code: 0, stdout: 'k\n' });

    const stats = await cli(['stats', '--no-stream', 'k']);
    const [header, row] = stats.stdout.split('\n');
    expect(header).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
    expect(row).toMatch(/^[0-9a-f]{12}\s+k\s+\d+\.\d\d%\s+[\d.]+(B|KiB|MiB) \/ 256MiB\s+\d+\.\d\d%\s+\d+$/);

    expect(await cli(['kill', '-s', 'USR1', 'k'])).toMatchObject({ code: 0, stdout: 'k\n' });
    expect((await cli(['wait', 'k'])).stdout).toBe('12\n');
    const [info] = JSON.parse((await cli(['inspect', 'k'])).stdout) as { State: { Status: string; ExitCode: number; OOMKilled: boolean } }[];
    expect(info!.State).toMatchObject({ Status: 'exited', ExitCode: 12, OOMKilled: false });
    expect(await cli(['kill', 'k'])).toMatchObject({ code: 1, stderr: 'Error: Container k is not running.\n' });
  });
});

describe('images', () => {
  it('diff, commit, history, images, run the committed image; rmi refused while a container uses it', async () => {
    await cli(['run', '--name', 'src', 'busybox', 'sh', '-c', 'echo saved > /saved.txt; rm /etc/group']);
    expect((await cli(['diff', 'src'])).stdout).toBe('C /etc\nD /etc/group\nA /saved.txt\n');
    const commit = await cli(['commit', '-m', 'keep the file', 'src', 'keeper:v1']);
    expect(commit).toMatchObject({ code: 0 });
    expect(commit.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const imageId = commit.stdout.trim();

    const images = (await cli(['images'])).stdout.split('\n');
    expect(images[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(images.find((l) => l.startsWith('keeper '))).toMatch(new RegExp(`^keeper\\s+v1\\s+${imageId.slice(7, 19)}\\s+\\S.* ago\\s+[\\d.]+[kM]?B$`));
    const history = (await cli(['history', 'keeper:v1'])).stdout.split('\n');
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history[1]).toMatch(new RegExp(`^${imageId.slice(7, 19)}\\s+.* ago\\s+sh -c echo saved > /saved.txt; rm /etc/group\\s+\\d+B\\s+keep the file$`));

    expect(await cli(['run', '--name', 'user', 'keeper:v1', 'cat', '/saved.txt'])).toMatchObject({ code: 0, stdout: 'saved\n' });
    const refused = await cli(['rmi', 'keeper:v1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error: conflict: unable to remove repository reference "keeper:v1" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    expect(await cli(['rmi', 'busybox'])).toMatchObject({ code: 1, stderr: 'Error: busybox is a base image that everyone on this machine shares, so it cannot be removed.\n' });
    await cli(['rm', 'user']);
    const removed = await cli(['rmi', 'keeper:v1']);
    expect(removed.code).toBe(0);
    // The image (no layer lines: whether its layers went depends on what other sessions hold).
    expect(removed.stdout).toMatch(new RegExp(`^Untagged: keeper:v1\nDeleted: ${imageId}\n$`));
  });

  it('build from a Dockerfile, then run it; save in one session and load in another', async () => {
    const dir = join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\nCMD ["cat", "/hello.txt", "/built.txt"]\n');
    await writeFile(join(dir, 'hello.txt'), 'hello from the context\n');
    const build = await cli(['build', '-t', 'app', dir]);
    expect(build.code).toBe(0);
    expect(build.stdout).toMatch(/^Step 1\/4 : FROM busybox\n/);
    expect(build.stdout).toContain('Step 3/4 : RUN echo built > /built.txt\n');
    expect(build.stdout).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged app:latest\n$/);
    expect(await cli(['run', '--rm', 'app'])).toMatchObject({ code: 0, stdout: 'hello from the context\nbuilt\n' });
    expect((await cli(['build', '-t', 'app', dir])).stdout).toContain(' ---> Using cache\n');

    const archive = join(work, 'app.tar');
    expect((await cli(['save', '-o', archive, 'app'])).code).toBe(0);
    expect((await cli(['--session', 'other', 'images'])).stdout).not.toMatch(/^app /m);
    expect(await cli(['--session', 'other', 'load', '-i', archive])).toMatchObject({ code: 0, stdout: 'Loaded image: app:latest\n' });
    expect(await cli(['--session', 'other', 'run', '--rm', 'app'])).toMatchObject({ code: 0, stdout: 'hello from the context\nbuilt\n' });
    // The archive's tag landed in the loading session's names only.
    expect(readFileSync(join(enginePaths(dataDir).store, 'refs', encodeURIComponent('local.layercake/other/app:latest')), 'utf8')).toMatch(/sha256:/);
    expect(existsSync(join(enginePaths(dataDir).store, 'refs', encodeURIComponent('app:latest')))).toBe(false);
  });
});

describe('messages', () => {
  it('speaks Korean with --lang ko or a Korean LANG, and never shows a stack trace', async () => {
    expect(await cli(['--lang', 'ko', 'rm', 'nothing'])).toMatchObject({ code: 1, stderr: '오류: 컨테이너가 없어요: nothing\n' });
    expect(await cli(['stop', 'nothing'], { env: { LANG: 'ko_KR.UTF-8' } })).toMatchObject({ code: 1, stderr: '오류: 컨테이너가 없어요: nothing\n' });
    const bad = await cli(['--session', 'Not Valid', 'ps']);
    expect(bad.code).toBe(125);
    for (const r of [bad]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
