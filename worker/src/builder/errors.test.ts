// Every way a build can fail that a learner can act on: the LearnerError (key, facts, line and
// column), the build.failed event, and that nothing is left behind — no layer of the failed
// step, no scratch dir, no sandbox, cgroup, id range or mount. Limits are lowered for the tests
// that hit them; the sandboxes are real.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { CollectedEvents } from '../events.js';
import { createHarness, type Failed, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('errors');
});
afterEach(async () => {
  expect(await h.leftovers()).toEqual([]);
});
afterAll(async () => {
  await h.close();
});

/** The error as the learner gets it, checked against the build.failed event. */
function learner(failed: Failed): LearnerError {
  expect(failed.error).toBeInstanceOf(LearnerError);
  const error = failed.error as LearnerError;
  const events = failed.events.ofType('build.failed');
  expect(events).toHaveLength(1);
  expect(events[0]!.error).toEqual(error.toPayload());
  return error;
}

describe('Dockerfile mistakes', () => {
  it('an empty Dockerfile', async () => {
    expect(learner(await h.buildFails('\n# nothing here\n')).key).toBe('build.emptyDockerfile');
  });

  it('an unknown instruction, with a suggestion, its line and column', async () => {
    const failed = await h.buildFails('FROM busybox\n  RUNN echo hi\n');
    const error = learner(failed);
    expect(error.key).toBe('build.unknownInstructionSuggestion');
    expect(error.toPayload()).toMatchObject({ line: 2, column: 3, facts: { instruction: 'RUNN', name: 'RUN' } });
    // Started before the Dockerfile is read (the first event waits for nothing): its mistake follows.
    expect(failed.events.events.map((e) => e.type)).toEqual(['build.started', 'build.failed']);
  });

  it('bad syntax, with line and column', async () => {
    const pair = learner(await h.buildFails('FROM busybox\nENV A=1 B\n'));
    expect(pair.key).toBe('build.pairSyntax');
    expect(pair.where).toEqual({ line: 2, column: 5 });
    const substitution = learner(await h.buildFails('FROM busybox\nWORKDIR ${DIR\n'));
    expect(substitution.key).toBe('build.badSubstitution');
    expect(substitution.where).toEqual({ line: 2, column: 9 });
    expect(learner(await h.buildFails('FROM busybox\nSHELL /bin/bash -c\n')).key).toBe('build.jsonRequired');
    expect(learner(await h.buildFails('FROM busybox\nEXPOSE http\n')).key).toBe('build.invalidPort');
    expect(learner(await h.buildFails('FROM busybox\nSTOPSIGNAL SIGNOPE\n')).key).toBe('build.invalidSignal');
    expect(learner(await h.buildFails('FROM busybox\nHEALTHCHECK --interval=soon CMD true\n')).key).toBe('build.invalidFlagValue');
    const flag = learner(await h.buildFails('FROM busybox\nRUN --bogus=1 true\n'));
    expect(flag.key).toBe('build.invalidFlag');
    expect(flag.where).toEqual({ line: 2, column: 5 });
    expect(learner(await h.buildFails('FROM busybox AS\n')).key).toBe('build.fromSyntax');
    expect(learner(await h.buildFails('FROM busybox AS a\nFROM busybox AS a\n')).key).toBe('build.stageNameTaken');
  });

  it('a first instruction that is not FROM', async () => {
    const error = learner(await h.buildFails('ARG X=1\nRUN echo hi\nFROM busybox\n'));
    expect(error.key).toBe('build.missingFrom');
    expect(error.where?.line).toBe(2);
  });

  it('a base image that is not here, listing the ones that are', async () => {
    const error = learner(await h.buildFails('FROM busybox\nFROM node:20\n'));
    expect(error.key).toBe('build.baseImageMissing');
    expect(error.where?.line).toBe(2);
    expect(error.facts.image).toBe('node:20');
    expect(error.facts.available).toEqual(expect.arrayContaining(['busybox:latest', 'debian:bookworm-slim']));
  });

  it('FROM --platform', async () => {
    const error = learner(await h.buildFails('FROM --platform=linux/arm64 busybox\n'));
    expect(error.key).toBe('build.platformUnsupported');
    expect(error.facts.platform).toBe('linux/arm64');
  });

  it('a COPY source that is not in the context', async () => {
    const error = learner(await h.buildFails('FROM busybox\nRUN true\nCOPY missing.txt /\n'));
    expect(error.key).toBe('build.copySourceMissing');
    expect(error.facts).toMatchObject({ source: 'missing.txt', line: 3 });
    expect(error.where?.column).toBe(6);
  });
});

describe('what an image layer cannot hold', () => {
  it('a file named like a whiteout (.wh.*), with the line that copied it', async () => {
    const context = await h.context({ '.wh.secret': 'x' });
    const error = learner(await h.buildFails('FROM busybox\nCOPY .wh.secret /\n', { context }));
    expect(error.key).toBe('layer.invalid');
    expect(error.where?.line).toBe(2);
  });
});

describe('RUN failures', () => {
  it('a command that exits non-zero: exit code and the last lines of its output', async () => {
    const failed = await h.buildFails('FROM busybox\nRUN for i in $(seq 1 30); do echo line $i; done; echo oops >&2; exit 3\n');
    const error = learner(failed);
    expect(error.key).toBe('build.runFailed');
    expect(error.facts.exitCode).toBe(3);
    expect(error.facts.output).toEqual([...Array.from({ length: 19 }, (_, i) => `line ${i + 12}`), 'oops']);
    expect(error.where?.line).toBe(2);
    expect(failed.events.ofType('build.failed')[0]!.step).toBe(2);
    // The step made no layer: only the base image's layers exist.
    expect(failed.events.ofType('layer.committed')).toEqual([]);
  });

  it('a program that does not exist', async () => {
    const error = learner(await h.buildFails('FROM busybox\nRUN ["/no/such/program"]\n'));
    expect(error.key).toBe('container.commandNotFound');
    expect(error.facts.command).toBe('/no/such/program');
  });

  it('a USER that the image does not know', async () => {
    const error = learner(await h.buildFails('FROM busybox\nUSER ghost\nRUN true\n'));
    expect(error.key).toBe('container.unknownUser');
    expect(error.where?.line).toBe(3);
  });

  it('a command killed for using too much memory', async () => {
    const small = h.builderWith({ resources: { memoryBytes: 32 << 20 } });
    const error = learner(await h.buildFails('FROM busybox\nRUN x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}\n', {}, small));
    expect(error.key).toBe('build.runOomKilled');
    expect(error.facts.limit).toBe('32 MiB');
  });

  it('a step that runs past the time limit', async () => {
    const quick = h.builderWith({ resources: { timeoutMs: 700 } });
    const started = Date.now();
    const error = learner(await h.buildFails('FROM busybox\nRUN sleep 30\n', {}, quick));
    expect(error.key).toBe('build.stepTimeout');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('cancelling kills the running step and removes what it made', async () => {
    const controller = new AbortController();
    let running: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    // Cancelled as soon as the command has printed: it is running inside its sandbox then.
    const events = new CollectedEvents('cancel', (event) => {
      if (event.type === 'build.log' && event.text.includes('started')) running();
    });
    const build = h.builder.build(
      { session: h.session, contextDir: await h.context({}), dockerfile: 'FROM busybox\nRUN echo started; touch /half-done; sleep 60\n', signal: controller.signal },
      events,
    );
    const outcome = build.then(
      () => null,
      (error: unknown) => error,
    );
    await started;
    const abortedAt = Date.now();
    controller.abort();
    const error = learner({ error: await outcome, events });
    expect(error.key).toBe('build.cancelled');
    expect(Date.now() - abortedAt).toBeLessThan(5_000);
    expect(events.ofType('layer.committed')).toEqual([]);
  });
});

describe('limits', () => {
  it('a build context over the limit', async () => {
    const context = await h.context({ 'big.bin': { content: Buffer.alloc(4096) } });
    const error = learner(await h.buildFails('FROM busybox\n', { context }, h.builderWith({ limits: { contextBytes: 1024 } })));
    expect(error.key).toBe('build.contextTooLarge');
    expect(error.facts).toEqual({ size: '4 KiB', limit: '1 KiB' });
  });

  it('a Dockerfile over the limit, given or read from the context', async () => {
    const tiny = h.builderWith({ limits: { dockerfileBytes: 20 } });
    expect(learner(await h.buildFails('FROM busybox\nRUN echo this is too long\n', {}, tiny)).key).toBe('build.dockerfileTooLarge');
    const context = await h.context({});
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\n# padding padding\n');
    const events = await h.buildFails(undefined as never, { context, dockerfile: undefined }, tiny);
    expect(learner(events).key).toBe('build.dockerfileTooLarge');
  });

  it('a Dockerfile with too many steps', async () => {
    const error = learner(await h.buildFails('FROM busybox\nENV A=1\nENV B=2\nENV C=3\n', {}, h.builderWith({ limits: { steps: 3 } })));
    expect(error.key).toBe('build.tooManySteps');
    expect(error.facts).toEqual({ steps: 4, limit: 3 });
  });
});

describe('the leftover check itself', () => {
  it('sees a scratch dir, a layer without an image and a held id range', async () => {
    const scratch = await h.store.scratchDir('build-step');
    const { layer } = await h.store.commitLayer(await h.context({ 'orphan.txt': 'x' }), null);
    const lease = h.idRanges.allocate(`${h.idPrefix}-probe`);
    const found = await h.leftovers();
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^scratch dir build-step-/),
        `layer ${layer.chainId.slice(7)} without an image`,
        `id range of ${h.idPrefix}-probe`,
      ]),
    );
    h.idRanges.release(lease);
    await h.store.removeScratchDir(scratch);
    await h.store.cleanup();
    const { rm } = await import('node:fs/promises');
    await rm(h.store.layerDir(layer.chainId).replace(/\/diff$/, ''), { recursive: true });
  });
});
