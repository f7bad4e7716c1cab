// The BuildKit-era syntax today's Docker docs teach, built for real (sandbox-native, overlayfs):
// here-documents in RUN and COPY, COPY/ADD --link, RUN --mount=type=cache|tmpfs|bind. Docker
// 20.10's built-in frontend here predates here-documents, so the expected files and history
// text are BuildKit's dockerfile:1 as its reference documents them ("Here-Documents", "RUN
// --mount", "COPY --link") and as its frontend's source writes them (dockerfile2llb: `RUN
// /bin/sh -c <body>`, `COPY <<NAME /dest`, a `#!` body run from /dev/pipes/NAME).
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { cacheMountRoot } from './run-mounts.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('buildkit-syntax');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

const historyOf = async (id: string) => (await h.store.inspect(id)).config.history!.map((entry) => entry.created_by);
const learner = (err: unknown): LearnerError => {
  if (!(err instanceof LearnerError)) throw err;
  return err;
};

describe('RUN here-documents', () => {
  it('runs a lone <<EOF body with the shell, and BuildKit writes the body into created_by', async () => {
    const built = await h.build('FROM busybox\nRUN <<EOF\necho one > /one\necho two >> /one\nEOF\nRUN echo after > /after\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/one" "$ROOT/after"')).toBe('one\ntwo\nafter\n');
    const history = await historyOf(built.imageId);
    expect(history.at(-2)).toBe('RUN /bin/sh -c echo one > /one\necho two >> /one\n # buildkit');
    // The body line `echo two` was no instruction: two RUN steps after FROM.
    expect(built.steps.map((s) => s.instruction)).toEqual(['FROM busybox', 'RUN <<EOF', 'RUN echo after > /after']);
  });

  it('runs a #! body as a file by its interpreter, mounted read-only at /dev/pipes and never in the layer', async () => {
    const built = await h.build('FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho "$0" > /script-name\nls -l /dev/pipes/EOF | cut -c1-10 >> /script-name\nEOF\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/script-name"; ls "$ROOT/dev"')).toBe('/dev/pipes/EOF\n-rwxr-xr-x\n');
    expect((await historyOf(built.imageId)).at(-1)).toBe('RUN /bin/sh -c /dev/pipes/EOF # buildkit');
  });

  it('passes `cmd <<EOF` and several documents to the shell, which expands unquoted ones only; <<- strips tabs', async () => {
    const built = await h.build(
      'FROM busybox\nENV WHO=world\nRUN <<A cat > /a && <<\'B\' cat > /b\nhello $WHO\nA\nliteral $WHO\nB\nRUN <<-EOF\n\techo tabbed > /tabs\n\tEOF\n',
    );
    expect(await h.inImage(built.imageId, 'cat "$ROOT/a" "$ROOT/b" "$ROOT/tabs"')).toBe('hello world\nliteral $WHO\ntabbed\n');
    expect((await historyOf(built.imageId)).at(-2)).toBe("RUN /bin/sh -c <<A cat > /a && <<'B' cat > /b\nhello $WHO\nA\nliteral $WHO\nB # buildkit");
  });

  it('keys the cache on the body: the same RUN <<EOF line with another body runs again', async () => {
    const first = await h.build('FROM busybox\nRUN <<EOF\necho a > /v\nEOF\n');
    const again = await h.build('FROM busybox\nRUN <<EOF\necho a > /v\nEOF\n');
    expect(again.steps.at(-1)!.cacheHit).toBe(true);
    expect(again.imageId).toBe(first.imageId);
    const changed = await h.build('FROM busybox\nRUN <<EOF\necho b > /v\nEOF\n');
    expect(changed.steps.at(-1)!.cacheHit).toBe(false);
    // The reason names the body it was built with before, not "a build argument changed".
    expect(changed.steps.at(-1)!.reason).toEqual({ key: 'cache.miss.instructionChanged', facts: { previous: 'RUN <<EOF\necho a > /v\nEOF' } });
    expect(await h.inImage(changed.imageId, 'cat "$ROOT/v"')).toBe('b\n');
    // A #! script's body is not in the command line; it is in the key all the same.
    const s1 = await h.build('FROM busybox\nRUN <<EOF\n#!/bin/sh\necho 1 > /s\nEOF\n');
    const s2 = await h.build('FROM busybox\nRUN <<EOF\n#!/bin/sh\necho 2 > /s\nEOF\n');
    expect(s2.steps.at(-1)!.cacheHit).toBe(false);
    expect(await h.inImage(s2.imageId, 'cat "$ROOT/s"')).toBe('2\n');
    expect(s1.imageId).not.toBe(s2.imageId);
  });

  it('refuses an unterminated here-document before any step runs, naming it and its line', async () => {
    const failed = await h.buildFails('FROM busybox\nRUN echo first\nRUN <<EOF\necho never\n');
    const err = learner(failed.error);
    expect(err.key).toBe('build.heredocUnterminated');
    expect(err.facts).toMatchObject({ line: 3, name: 'EOF', instruction: 'RUN' });
    expect(failed.events.ofType('build.log')).toEqual([]);
  });
});

describe('COPY here-documents', () => {
  it('creates files from <<EOF with --chmod/--chown, substituting unquoted bodies with quotes kept', async () => {
    const context = await h.context({});
    const built = await h.build(
      [
        'FROM busybox',
        'ARG NAME=layercake',
        'COPY --chmod=755 --chown=1:2 <<EOF /usr/local/bin/hello',
        '#!/bin/sh',
        'echo "hello ${NAME}" \'$NAME\'',
        'EOF',
        'COPY <<"RAW" /raw.txt',
        'kept $NAME',
        'RAW',
        'COPY <<a <<-b /etc/conf.d/',
        'first',
        'a',
        '\tsecond',
        '\tb',
        '',
      ].join('\n'),
      { context, tags: ['hello-img'] },
    );
    const out = await h.inImage(
      built.imageId,
      'cd "$ROOT"; cat usr/local/bin/hello raw.txt etc/conf.d/a etc/conf.d/b; stat -c "%a %u %g" usr/local/bin/hello raw.txt etc/conf.d/a',
    );
    expect(out).toBe('#!/bin/sh\necho "hello layercake" \'layercake\'\nkept $NAME\nfirst\nsecond\n755 1 2\n644 0 0\n644 0 0\n');
    const history = await historyOf(built.imageId);
    expect(history.slice(-3)).toEqual(['COPY <<EOF /usr/local/bin/hello # buildkit', 'COPY <<RAW /raw.txt # buildkit', 'COPY <<a <<b /etc/conf.d/ # buildkit']);
    // The file runs: the image's own shell reads it.
    const ran = await h.build('FROM hello-img\nRUN hello > /said\n', { context });
    expect(await h.inImage(ran.imageId, 'cat "$ROOT/said"')).toBe('hello layercake layercake\n');
  });

  it('ADD <<EOF writes a file too, and a relative destination follows WORKDIR', async () => {
    const built = await h.build('FROM busybox\nWORKDIR /srv\nADD <<EOF notes.txt\nadded\nEOF\n', { context: await h.context({}) });
    expect(await h.inImage(built.imageId, 'cat "$ROOT/srv/notes.txt"')).toBe('added\n');
    expect((await historyOf(built.imageId)).at(-1)).toBe('ADD <<EOF notes.txt # buildkit');
  });

  it('keys the cache on the body and on the build args it substituted', async () => {
    const context = await h.context({});
    const dockerfile = 'FROM busybox\nARG V=1\nCOPY <<EOF /v\n$V\nEOF\n';
    const first = await h.build(dockerfile, { context });
    expect((await h.build(dockerfile, { context })).imageId).toBe(first.imageId);
    const other = await h.build(dockerfile, { context, buildArgs: { V: '2' } });
    expect(other.steps.at(-1)!.cacheHit).toBe(false);
    expect(other.steps.at(-1)!.reason).toEqual({ key: 'cache.miss.argChanged', facts: { args: 'V' } });
    expect(await h.inImage(other.imageId, 'cat "$ROOT/v"')).toBe('2\n');
  });
});

describe('COPY --link and ADD --link', () => {
  it('give the same files, modes and owners as without --link', async () => {
    const context = await h.context({ 'app/a.txt': 'a', 'app/sub/b.txt': { content: 'b', mode: 0o600 } });
    const plain = await h.build('FROM busybox\nCOPY --chown=5:6 app /opt/app\nADD app/a.txt /a\n', { context });
    const linked = await h.build('FROM busybox\nCOPY --link --chown=5:6 app /opt/app\nADD --link=true app/a.txt /a\n', { context });
    const list = 'cd "$ROOT"; find opt/app a | sort | while read f; do stat -c "%n %a %u %g %s" "$f"; done';
    expect(await h.inImage(linked.imageId, list)).toBe(await h.inImage(plain.imageId, list));
    // The layers' content is the same: the same diff_ids.
    const diffIds = async (id: string) => (await h.store.inspect(id)).config.rootfs.diff_ids.slice(-2);
    expect(await diffIds(linked.imageId)).toEqual(await diffIds(plain.imageId));
  });
});

describe('RUN --mount', () => {
  it('type=cache keeps a directory between builds of one session, out of every layer', async () => {
    const dockerfile = (n: number) => `FROM busybox\nRUN --mount=type=cache,target=/var/cache/demo echo ${n} >> /var/cache/demo/runs && cat /var/cache/demo/runs > /seen\n`;
    const first = await h.build(dockerfile(1));
    const second = await h.build(dockerfile(2));
    expect(await h.inImage(first.imageId, 'cat "$ROOT/seen"')).toBe('1\n');
    expect(await h.inImage(second.imageId, 'cat "$ROOT/seen"')).toBe('1\n2\n');
    // Nothing under the mount point, and not the mount point itself, is in the layer.
    expect(await h.inImage(second.imageId, '[ -e "$ROOT/var/cache" ] && echo present || echo absent')).toBe('absent\n');
  });

  it('type=cache belongs to one session: another session with the same id starts empty (control: the same session sees it)', async () => {
    const write = 'FROM busybox\nRUN --mount=type=cache,id=shared-name,target=/c echo secret-of-a > /c/note\n';
    const read = 'FROM busybox\nRUN --mount=type=cache,id=shared-name,target=/c cat /c/note > /got 2>/dev/null || echo none > /got\n';
    await h.build(write, { session: 'cachea' });
    const same = await h.build(read, { session: 'cachea' });
    const other = await h.build(read, { session: 'cacheb' });
    expect(await h.inImage(same.imageId, 'cat "$ROOT/got"')).toBe('secret-of-a\n');
    expect(await h.inImage(other.imageId, 'cat "$ROOT/got"')).toBe('none\n');
    expect(await readdir(cacheMountRoot(h.dataDir, 'cacheb'))).toHaveLength(1);
  });

  it('a cache id cannot name another session\'s cache, and a bind source cannot leave the context through a symlink', async () => {
    await h.build('FROM busybox\nRUN --mount=type=cache,id=x,target=/c echo of-a > /c/f\n', { session: 'attacka' });
    const aDir = (await readdir(cacheMountRoot(h.dataDir, 'attacka')))[0]!;
    // The id is hashed into a name: a path in it reaches nothing (control: A's own dir holds the file).
    expect(readFileSync(join(cacheMountRoot(h.dataDir, 'attacka'), aDir, 'f'), 'utf8')).toBe('of-a\n');
    for (const id of [`../../attacka/cache/${aDir}`, `/${join(cacheMountRoot(h.dataDir, 'attacka'), aDir)}`]) {
      const other = await h.build(`FROM busybox\nRUN --mount=type=cache,id=${id},target=/c ls -A /c > /got\n`, { session: 'attackb' });
      expect(await h.inImage(other.imageId, 'cat "$ROOT/got"')).toBe('');
    }
    expect((await readdir(cacheMountRoot(h.dataDir, 'attackb'))).every((name) => /^[0-9a-f]{32}$/.test(name))).toBe(true);
    // A symlink in the context pointing at the host's /etc is followed inside the context only.
    const context = await h.context({ 'etc-link': '-> /etc', 'passwd-link': '-> /etc/passwd' });
    expect(readFileSync('/etc/passwd', 'utf8')).toContain('root:'); // control: the host file is there
    for (const source of ['etc-link/passwd', 'passwd-link']) {
      const failed = await h.buildFails(`FROM busybox\nRUN --mount=type=bind,source=${source},target=/p cat /p\n`, { context });
      expect(learner(failed.error)).toMatchObject({ key: 'build.mountSourceMissing', facts: { line: 2, source } });
    }
  });

  it('type=cache files keep their owners across steps with different id ranges (uid=, mode= for a new cache)', async () => {
    const built = await h.build(
      'FROM busybox\nRUN --mount=type=cache,target=/c,id=owners,uid=1000,gid=1000,mode=0770 stat -c "%u %g %a" /c > /first && touch /c/f && chown 7:8 /c/f\n' +
        'RUN --mount=type=cache,target=/c,id=owners stat -c "%u %g" /c/f > /second && echo more >> /c/f\n',
    );
    expect(await h.inImage(built.imageId, 'cat "$ROOT/first" "$ROOT/second"')).toBe('1000 1000 770\n7 8\n');
  });

  it('type=cache counts against the session disk quota: a step that fills it past the quota fails and the cache is emptied', async () => {
    const small = h.builderWith({ quotas: { layerBytes: 2 << 20 } });
    const fill = 'FROM busybox\nRUN --mount=type=cache,target=/c,id=big head -c 3000000 /dev/urandom > /c/blob\n';
    const failed = await h.buildFails(fill, { session: 'cachequota' }, small);
    expect(learner(failed.error).key).toBe('quota.layerBytesAdding');
    const dirs = await readdir(cacheMountRoot(h.dataDir, 'cachequota'));
    expect(await readdir(join(cacheMountRoot(h.dataDir, 'cachequota'), dirs[0]!))).toEqual([]);
    // Control: under the quota the same cache keeps what the step wrote.
    await h.build('FROM busybox\nRUN --mount=type=cache,target=/c,id=big head -c 1000000 /dev/urandom > /c/blob\n', { session: 'cachequota' }, small);
    expect(await readdir(join(cacheMountRoot(h.dataDir, 'cachequota'), dirs[0]!))).toEqual(['blob']);
  });

  it('type=cache sharing=locked runs one step at a time on the cache; shared (the control) lets two run together', async () => {
    // Each step marks the cache, then waits up to 3 s for the other's mark: together, both see
    // it; one after the other, the first gives up and the second finds the first's mark.
    const step = (me: string, other: string, sharing: string) =>
      `FROM busybox\nRUN --mount=type=cache,id=${sharing},target=/c,sharing=${sharing} touch /c/${me}; i=0; while [ ! -e /c/${other} ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; [ -e /c/${other} ] && echo saw > /saw || echo alone > /saw\n`;
    const outcome = async (sharing: string) => {
      const [a, b] = await Promise.all([h.build(step('a', 'b', sharing), { session: 'sharing' }), h.build(step('b', 'a', sharing), { session: 'sharing' })]);
      return [await h.inImage(a.imageId, 'cat "$ROOT/saw"'), await h.inImage(b.imageId, 'cat "$ROOT/saw"')].sort();
    };
    expect(await outcome('locked')).toEqual(['alone\n', 'saw\n']);
    expect(await outcome('shared')).toEqual(['saw\n', 'saw\n']);
  }, 60_000);

  it('type=tmpfs is empty and gone after the step; type=bind shows context files read-only, rw writes are discarded', async () => {
    const context = await h.context({ 'req.txt': 'pkg-a\n', 'src/main.c': 'int main(){}' });
    const built = await h.build(
      [
        'FROM busybox',
        'RUN --mount=type=tmpfs,target=/scratch,size=1m echo t > /scratch/x && grep -c " /scratch tmpfs" /proc/mounts > /tmpfs',
        'RUN --mount=type=bind,source=req.txt,target=/req.txt cat /req.txt > /copied && (echo x >> /req.txt 2>/dev/null && echo writable || echo read-only) >> /copied',
        'RUN --mount=target=/src,rw echo changed > /src/src/main.c && cat /src/req.txt > /from-rw',
        '',
      ].join('\n'),
      { context },
    );
    // Neither the mounts' files nor their mount points are in the image.
    expect(await h.inImage(built.imageId, 'cd "$ROOT"; cat tmpfs copied from-rw; for p in scratch src req.txt; do [ -e $p ] && echo $p; done; true')).toBe(
      '1\npkg-a\nread-only\npkg-a\n',
    );
    // The rw write did not reach the context.
    expect(readFileSync(join(context, 'src/main.c'), 'utf8')).toBe('int main(){}');
  });

  it('type=bind from a stage, and a bind source that changed runs the step again', async () => {
    const dockerfile = 'FROM busybox AS tools\nRUN echo tool > /tool\nFROM busybox\nRUN --mount=type=bind,from=tools,source=/tool,target=/t --mount=type=bind,source=v,target=/v cat /t /v > /out\n';
    const first = await h.build(dockerfile, { context: await h.context({ v: '1' }) });
    expect(await h.inImage(first.imageId, 'cat "$ROOT/out"')).toBe('tool\n1');
    const changed = await h.build(dockerfile, { context: await h.context({ v: '2' }) });
    expect(changed.steps.at(-1)!.cacheHit).toBe(false);
    expect(await h.inImage(changed.imageId, 'cat "$ROOT/out"')).toBe('tool\n2');
  });

  it('refuses what it cannot do, by name and line, before step 1: ssh, a bad option, no target', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['FROM busybox\nRUN echo ran\nRUN --mount=type=ssh ssh-add -l\n', 'build.mountSshUnsupported', { line: 3 }],
      ['FROM busybox\nRUN --mount=type=cache,target=/c,colour=blue true\n', 'build.invalidFlagValue', { line: 2, flag: 'mount', value: 'colour=blue' }],
      ['FROM busybox\nRUN --mount=type=volume,target=/c true\n', 'build.invalidFlagValue', { line: 2, value: 'type=volume' }],
      ['FROM busybox\nRUN --mount=type=cache true\n', 'build.mountNeedsTarget', { line: 2, type: 'cache' }],
    ];
    for (const [dockerfile, key, facts] of cases) {
      const failed = await h.buildFails(dockerfile, { context: await h.context({}) });
      const err = learner(failed.error);
      expect(err.key, dockerfile).toBe(key);
      expect(err.facts).toMatchObject(facts);
      expect(failed.events.ofType('build.log')).toEqual([]);
    }
  });
});

