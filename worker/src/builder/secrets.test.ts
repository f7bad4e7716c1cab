// RUN --mount=type=secret for real (sandbox-native, overlayfs, the host tmpfs it is mounted
// from): the step reads the secret as a file and as an environment variable, and its bytes are
// nowhere afterwards: not in a layer, the history, the build cache, the events, or any file under
// the test's work dir (the whole store, state and scratch dirs); a step that copies the secret
// into its layer is the control that shows the search finds it when it is there. Behaviour not
// compared with Docker here (Docker 20.10's frontend predates env=) follows BuildKit's dockerfile
// frontend source (instructions/commands_runmount.go, dockerfile2llb/convert_secrets.go);
// docker.test.ts compares the file form with Docker.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { createHarness, type Harness } from './test-support/harness.js';

const execFileP = promisify(execFile);

let h: Harness;
beforeAll(async () => {
  h = await createHarness('secrets');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

const learner = (err: unknown): LearnerError => {
  if (!(err instanceof LearnerError)) throw err;
  return err;
};

/** Files under the work dir holding `needle` (grep: text or binary, every file, no symlink followed). */
async function filesHolding(needle: string): Promise<string[]> {
  const { stdout } = await execFileP('grep', ['-r', '-l', '-a', '-F', '--', needle, h.work]).catch((err: { code?: number; stdout?: string }) => {
    if (err.code === 1) return { stdout: '' };
    throw err;
  });
  return stdout.split('\n').filter(Boolean);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('RUN --mount=type=secret', () => {
  it('the step reads the secret as a file and as a variable; no layer, history, cache entry, event or file of the store holds it', async () => {
    const secret = `lc-secret-${randomBytes(12).toString('hex')}`;
    const dockerfile = [
      'FROM busybox',
      // Digests and metadata only: what the step saw, never the bytes themselves.
      'RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d" " -f1 > /file-sum && stat -c "%a %u:%g" /run/secrets/token > /file-stat && stat -f -c %T /run/secrets/token > /file-fs',
      'RUN --mount=type=secret,id=token,target=/etc/app/key,mode=0440,uid=100,gid=101 stat -c "%a %u:%g" /etc/app/key > /key-stat && cat /etc/app/key | sha256sum | cut -d" " -f1 > /key-sum',
      'RUN --mount=type=secret,id=token,env=TOKEN printf %s "$TOKEN" | sha256sum | cut -d" " -f1 > /env-sum && ls /run/secrets > /env-files 2>&1; true',
      'RUN ls -A /run/secrets /etc/app > /after 2>&1; echo "TOKEN=${TOKEN-unset}" >> /after',
    ].join('\n');
    const built = await h.build(dockerfile, { secrets: { token: Buffer.from(secret) } });
    const files = await h.inImage(built.imageId, 'cd "$ROOT" && cat file-sum file-stat file-fs key-stat key-sum env-sum after; echo "env-files: $(cat env-files)"');
    expect(files).toBe(
      [
        // On a tmpfs: the secret's bytes never reach a disk.
        sha256(secret), '400 0:0', 'tmpfs', '440 100:101', sha256(secret), sha256(secret),
        // A later step sees neither the file, its directories nor the variable.
        'ls: /run/secrets: No such file or directory', 'ls: /etc/app: No such file or directory', 'TOKEN=unset',
        // env= alone mounts no file (BuildKit: no target, no /run/secrets).
        'env-files: ls: /run/secrets: No such file or directory',
      ].join('\n') + '\n',
    );
    // Nothing of the secret, its mount points or its directories is in any layer.
    const listing = await h.inImage(built.imageId, 'cd "$ROOT" && ls -A; ls -A etc');
    expect(listing).not.toMatch(/^run$|^app$/m);

    expect(JSON.stringify(built.events.events)).not.toContain(secret);
    const history = (await h.store.inspect(built.imageId)).config.history!.map((entry) => entry.created_by);
    expect(history.slice(-4)).toEqual([
      'RUN /bin/sh -c sha256sum /run/secrets/token | cut -d" " -f1 > /file-sum && stat -c "%a %u:%g" /run/secrets/token > /file-stat && stat -f -c %T /run/secrets/token > /file-fs # buildkit',
      'RUN /bin/sh -c stat -c "%a %u:%g" /etc/app/key > /key-stat && cat /etc/app/key | sha256sum | cut -d" " -f1 > /key-sum # buildkit',
      'RUN /bin/sh -c printf %s "$TOKEN" | sha256sum | cut -d" " -f1 > /env-sum && ls /run/secrets > /env-files 2>&1; true # buildkit',
      'RUN /bin/sh -c ls -A /run/secrets /etc/app > /after 2>&1; echo "TOKEN=${TOKEN-unset}" >> /after # buildkit',
    ]);
    // The store (layers, images, the build cache's entries), the launcher's state, scratch dirs.
    expect(await filesHolding(secret)).toEqual([]);
    // While a secret step ran its tmpfs was mounted; none is left (leftovers() looks too).
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(h.work);

    // Control: a step that copies the secret into its layer puts it where the search looks.
    const leaked = await h.build('FROM busybox\nRUN --mount=type=secret,id=token cp /run/secrets/token /leak\n', { secrets: { token: Buffer.from(secret) } });
    expect(await h.inImage(leaked.imageId, 'cat "$ROOT/leak"')).toBe(secret);
    expect((await filesHolding(secret)).some((file) => file.includes('/store/layers/'))).toBe(true);
  });

  it('a new value, or none, does not re-run a cached step (BuildKit keys a secret by its id, not its bytes)', async () => {
    const dockerfile = 'FROM busybox\nRUN --mount=type=secret,id=pin cat /run/secrets/pin | wc -c > /len\n';
    const first = await h.build(dockerfile, { secrets: { pin: Buffer.from('1234') } });
    expect(await h.inImage(first.imageId, 'cat "$ROOT/len"')).toMatch(/^\s*4\n$/);
    const changed = await h.build(dockerfile, { secrets: { pin: Buffer.from('123456') } });
    expect(changed.steps.at(-1)!.cacheHit).toBe(true);
    expect(changed.imageId).toBe(first.imageId);
    const without = await h.build(dockerfile);
    expect(without.steps.at(-1)!.cacheHit).toBe(true);
    // Another id (or another target) is another step.
    const other = await h.build(dockerfile.replace('id=pin', 'id=pin,target=/pin').replace('/run/secrets/pin', '/pin'), { secrets: { pin: Buffer.from('12') } });
    expect(other.steps.at(-1)!.cacheHit).toBe(false);
  });

  it('a secret the build was not given is left out (its directory is there, as BuildKit makes it); required=true stops the build at its line', async () => {
    const built = await h.build('FROM busybox\nRUN --mount=type=secret,id=absent ls -A /run/secrets > /listing; test ! -e /run/secrets/absent && echo absent >> /listing\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/listing"; ls -A "$ROOT" | grep -x run || echo no-run-in-layer')).toBe('absent\nno-run-in-layer\n');

    const failed = await h.buildFails('FROM busybox\nRUN echo ran-before\nRUN --mount=type=secret,id=needed,required cat /run/secrets/needed\n', { secrets: { other: Buffer.from('x') } });
    const err = learner(failed.error);
    expect(err.key).toBe('build.secretMissing');
    expect(err.facts).toMatchObject({ id: 'needed', line: 3 });
    expect(err.where?.line).toBe(3);
    // As in BuildKit, the steps before it ran: a secret is looked up when its step runs.
    expect(failed.events.ofType('build.log').map((e) => e.text).join('')).toContain('ran-before');
    expect(failed.events.ofType('build.failed')[0]?.error).toMatchObject({ kind: 'learner', key: 'build.secretMissing' });
  });

  it('checks the flag as BuildKit does, before step 1: an id or a target, not both id and source, a variable name for env; ssh stays refused', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['FROM busybox\nRUN echo ran\nRUN --mount=type=secret cat /x\n', 'build.mountSecretNeedsId', { line: 3 }],
      ['FROM busybox\nRUN --mount=type=secret,id=a,source=b true\n', 'build.invalidFlagValue', { line: 2, value: 'source=b' }],
      ['FROM busybox\nRUN --mount=type=secret,id=a,env=A-B true\n', 'build.invalidFlagValue', { line: 2, value: 'env=A-B' }],
      ['FROM busybox\nRUN --mount=type=secret,id=a,sharing=locked true\n', 'build.invalidFlagValue', { line: 2, value: 'sharing=locked' }],
      ['FROM busybox\nRUN --mount=type=secret,id=a,mode=rw true\n', 'build.invalidFlagValue', { line: 2, value: 'mode=rw' }],
      ['FROM busybox\nRUN --mount=type=secret,id=.. true\n', 'build.invalidFlagValue', { line: 2, value: 'id=..' }],
      ['FROM busybox\nRUN --mount=type=cache,target=/c,required true\n', 'build.invalidFlagValue', { line: 2, value: 'required' }],
      ['FROM busybox\nRUN echo ran\nRUN --mount=type=ssh ssh-add -l\n', 'build.mountSshUnsupported', { line: 3 }],
    ];
    for (const [dockerfile, key, facts] of cases) {
      const failed = await h.buildFails(dockerfile);
      const err = learner(failed.error);
      expect(err.key, dockerfile).toBe(key);
      expect(err.facts).toMatchObject(facts);
      expect(failed.events.ofType('build.log')).toEqual([]);
    }
    // The target alone names the secret (its base name), as BuildKit's frontend does.
    const built = await h.build('FROM busybox\nRUN --mount=type=secret,target=/keys/api-key wc -c < /keys/api-key > /n\n', { secrets: { 'api-key': Buffer.from('abc') } });
    expect((await h.inImage(built.imageId, 'cat "$ROOT/n"')).trim()).toBe('3');
  });
});
