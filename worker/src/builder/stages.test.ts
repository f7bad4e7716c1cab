// Multi-stage builds, COPY --from, --target and ONBUILD triggers, built for real.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('stages');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

const keyOf = (error: unknown): string => (error as LearnerError).key;

describe('multi-stage builds', () => {
  it('COPY --from takes files from an earlier stage, by name or index, and only the final stage is the image', async () => {
    const built = await h.build(
      [
        'FROM busybox AS build',
        'RUN mkdir -p /out && echo binary > /out/app && chmod 755 /out/app && echo junk > /junk',
        'FROM busybox',
        'RUN echo second > /second',
        'FROM scratch AS final',
        'COPY --from=build /out/app /app',
        'COPY --from=1 /second /',
      ].join('\n'),
    );
    expect(await h.inImage(built.imageId, 'cd "$ROOT" && find . -mindepth 1 | sort && cat app second && stat -c %a app')).toBe(
      './app\n./second\nbinary\nsecond\n755\n',
    );
    expect(built.events.ofType('build.planned')[0]).toMatchObject({ stages: 3, steps: 7 });
    expect(built.steps.map((s) => s.stage)).toEqual(['build', 'build', '1', '1', 'final', 'final', 'final']);
    expect((await h.store.inspect(built.imageId)).layers).toHaveLength(2);
  });

  it('COPY --from an image the session can see', async () => {
    const built = await h.build('FROM scratch\nCOPY --from=busybox /bin/busybox /bin/\n');
    expect(await h.inImage(built.imageId, 'ls "$ROOT/bin"')).toBe('busybox\n');
    const { error } = await h.buildFails('FROM busybox\nCOPY --from=nowhere /x /x\n');
    expect(keyOf(error)).toBe('build.stageNotFound');
    expect((error as LearnerError).facts).toMatchObject({ stage: 'nowhere', line: 2 });
  });

  it('--target stops at a stage and skips the stages it does not need', async () => {
    const dockerfile = 'FROM busybox AS unused\nRUN echo never\nFROM busybox AS base\nRUN echo base > /base\nFROM base AS test\nRUN echo test > /test\nFROM busybox\nCOPY --from=test /test /\n';
    const target = await h.build(dockerfile, { target: 'base' });
    expect(target.steps.map((s) => s.instruction)).toEqual(['FROM busybox AS base', 'RUN echo base > /base']);
    const full = await h.build(dockerfile);
    expect(full.steps.map((s) => s.stage)).toEqual(['base', 'base', 'test', 'test', '3', '3']);
    expect(await h.inImage(full.imageId, 'cat "$ROOT/test"')).toBe('test\n');
    const { error } = await h.buildFails(dockerfile, { target: 'nope' });
    expect(keyOf(error)).toBe('build.targetNotFound');
    expect((error as LearnerError).facts).toMatchObject({ target: 'nope', stages: ['unused', 'base', 'test'] });
  });

  it('a stage built on another inherits its image and its ARGs (as BuildKit does)', async () => {
    const built = await h.build(
      'ARG WHO=global\nFROM busybox AS one\nARG WHO\nENV FROM_ONE=$WHO\nFROM one\nRUN echo "[$WHO] [$FROM_ONE]" > /seen\n',
    );
    expect(await h.inImage(built.imageId, 'cat "$ROOT/seen"')).toBe('[global] [global]\n');
  });
});

describe('ONBUILD', () => {
  it('triggers run when the image is used as a base, and are not passed on', async () => {
    const context = await h.context({ 'src/main.txt': 'main' });
    const parent = await h.build('FROM busybox\nONBUILD COPY src /app/src\nONBUILD RUN ls /app/src > /app/listing\n', { tags: ['onbuild-base'], context });
    expect((await h.store.inspect(parent.imageId)).config.config!.OnBuild).toEqual(['COPY src /app/src', 'RUN ls /app/src > /app/listing']);
    const child = await h.build('FROM onbuild-base\nRUN cat /app/listing\n', { context });
    expect(child.steps.map((s) => s.instruction)).toEqual(['FROM onbuild-base', 'COPY src /app/src', 'RUN ls /app/src > /app/listing', 'RUN cat /app/listing']);
    expect(child.events.ofType('build.log').map((e) => e.text).join('')).toBe('main.txt\n');
    expect((await h.store.inspect(child.imageId)).config.config!.OnBuild ?? []).toEqual([]);
  });

  it('triggers of a stage run when a later stage is built FROM it', async () => {
    const built = await h.build('FROM busybox AS lib\nONBUILD RUN echo triggered > /t\nFROM lib\nRUN cat /t\n');
    expect(built.steps.map((s) => s.instruction)).toEqual(['FROM busybox AS lib', 'ONBUILD RUN echo triggered > /t', 'FROM lib', 'RUN echo triggered > /t', 'RUN cat /t']);
  });

  it('refuses triggers that cannot be triggers', async () => {
    const { error } = await h.buildFails('FROM busybox\nONBUILD FROM busybox\n');
    expect(keyOf(error)).toBe('build.onbuildInvalid');
  });
});
