// `layercake build --secret`, as Docker's CLI reads the flag (buildx parseSecret, BuildKit's
// secretsprovider): real files and this process's environment, then one real build through the
// binary (a private data dir) whose RUN step reads the secret that the image never holds.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { readBuildSecrets } from './commands/build-secrets.js';
import { spawnCli } from './test-support/spawn-cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-cli-secrets-');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const keyOf = async (entries: string[], env: NodeJS.ProcessEnv = {}): Promise<string> =>
  readBuildSecrets(entries, env).then(
    () => 'ok',
    (err: unknown) => (err instanceof LearnerError ? err.key : String(err)),
  );

describe('build --secret', () => {
  it('reads src=FILE, env=VAR, type=env with src, and id alone (the variable if set, else the file)', async () => {
    const file = join(work, 'token.txt');
    await writeFile(file, 'from-file');
    const env = { TOKEN_VAR: 'from-env', same: 'id-named-var' };
    const secrets = await readBuildSecrets(
      [`id=a,src=${file}`, `id=b,source=${file},type=file`, 'id=c,env=TOKEN_VAR', 'type=env,id=d,src=TOKEN_VAR', 'id=same', `id=e,src=${file},env=TOKEN_VAR`, 'id=unset,env=NOPE'],
      env,
    );
    expect(Object.fromEntries(Object.entries(secrets).map(([id, bytes]) => [id, bytes.toString()]))).toEqual({
      a: 'from-file',
      b: 'from-file',
      c: 'from-env',
      d: 'from-env',
      same: 'id-named-var',
      // Both: the variable wins, as BuildKit's store reads env first.
      e: 'from-env',
      // An unset variable is an empty secret (Go's os.Getenv), as in Docker.
      unset: '',
    });
    // id alone without such a variable is a file of that name (relative to the working directory).
    const cwd = process.cwd();
    process.chdir(work);
    try {
      expect((await readBuildSecrets(['id=token.txt'], {}))['token.txt']!.toString()).toBe('from-file');
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses what Docker refuses: no id, an unknown key, a bare word, another type, a missing file, more than 500 KiB', async () => {
    const big = join(work, 'big');
    await writeFile(big, Buffer.alloc(500 * 1024 + 1));
    const fits = join(work, 'fits');
    await writeFile(fits, Buffer.alloc(500 * 1024));
    expect(await keyOf([`src=${fits}`])).toBe('cli.secretSyntax');
    expect(await keyOf(['id=a,colour=blue'])).toBe('cli.secretSyntax');
    expect(await keyOf(['id=a,required'])).toBe('cli.secretSyntax');
    expect(await keyOf(['id=a,type=ssh'])).toBe('cli.secretSyntax');
    expect(await keyOf([`id=a,src=${join(work, 'missing')}`])).toBe('cli.secretUnreadable');
    expect(await keyOf([`id=a,src=${big}`])).toBe('cli.secretTooLarge');
    expect(await keyOf(['id=a,env=BIG'], { BIG: 'x'.repeat(500 * 1024 + 1) })).toBe('cli.secretTooLarge');
    // Control: exactly 500 KiB is accepted.
    expect(await keyOf([`id=a,src=${fits}`])).toBe('ok');
  });

  it('a build through the binary hands the step its secret; the image does not keep it', { timeout: 240_000 }, async () => {
    const secret = `lc-cli-secret-${process.pid}-${Date.now()}`;
    const context = join(work, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN --mount=type=secret,id=tok,required wc -c < /run/secrets/tok > /len\nRUN --mount=type=secret,id=tok,env=TOK sh -c \'echo ${#TOK} >> /len\'\n');
    await writeFile(join(work, 'secret.txt'), secret);
    const env = { ...process.env, LAYERCAKE_DATA: join(work, 'data'), LAYERCAKE_ID_RANGE_BASE: '2145000000', LANG: 'C.UTF-8', LC_ALL: '' };
    const built = await spawnCli(['build', '-t', 'sec', '--secret', `id=tok,src=${join(work, 'secret.txt')}`, context], { cwd: work, env });
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    expect(built.stdout).not.toContain(secret);
    const len = await spawnCli(['run', '--rm', 'sec', 'cat', '/len'], { cwd: work, env });
    expect(len.stdout).toBe(`${secret.length}\n${secret.length}\n`);
    // Every file of the image but the kernel's (/proc holds this command line), searched for the bytes.
    const search = `ls -A /run 2>&1; cd / && grep -rlF '${secret}' $(ls -A / | grep -vx -e proc -e sys -e dev) 2>/dev/null; true`;
    const saved = await spawnCli(['run', '--rm', 'sec', 'sh', '-c', search], { cwd: work, env });
    expect(saved.stdout).toBe('ls: /run: No such file or directory\n');
    // Control: the same search finds the bytes in a file that holds them.
    const control = await spawnCli(['run', '--rm', 'sec', 'sh', '-c', `printf %s '${secret}' > /tmp/copy; ${search}`], { cwd: work, env });
    expect(control.stdout).toBe('ls: /run: No such file or directory\ntmp/copy\n');
    // Without --secret, required=true stops the build at line 2 with the message naming the flag.
    const missing = await spawnCli(['build', '--no-cache', context], { cwd: work, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Line 2: this step requires the secret tok');
    const unreadable = await spawnCli(['build', '--secret', 'id=tok,src=/nonexistent/secret', context], { cwd: work, env });
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toBe('Error: --secret id=tok: the file /nonexistent/secret cannot be read (ENOENT).\n');
  });
});
