// Every Dockerfile instruction, built for real: RUN in sandbox-native over real overlayfs, files
// checked through a real overlay mount of the resulting image, configs read back from the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { createHarness, sessionOf, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('instructions');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

const configOf = async (id: string) => (await h.store.inspect(id)).config;

describe('RUN', () => {
  it('runs shell form with /bin/sh -c and exec form as given, and commits what they wrote', async () => {
    const built = await h.build('FROM busybox\nRUN echo shell > /shell.txt && echo to-stdout\nRUN ["/bin/sh", "-c", "echo exec > /exec.txt"]\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/shell.txt" "$ROOT/exec.txt"')).toBe('shell\nexec\n');
    const logs = built.events.ofType('build.log').filter((e) => e.step === 2);
    expect(logs.map((e) => e.text).join('')).toBe('to-stdout\n');
    expect(logs[0]!.stream).toBe('stdout');
    const history = (await configOf(built.imageId)).history!;
    expect(history.at(-2)!.created_by).toBe('RUN /bin/sh -c echo shell > /shell.txt && echo to-stdout # buildkit');
    expect(history.at(-1)!.created_by).toBe('RUN /bin/sh -c echo exec > /exec.txt # buildkit');
    const committed = built.events.ofType('layer.committed');
    expect(committed.map((e) => e.step)).toEqual([2, 3]);
    expect(committed[0]!.added).toBe(1);
  });

  it('runs as the image USER, in its WORKDIR, with its ENV and the build args', async () => {
    const built = await h.build(
      'FROM busybox\nARG GREETING=hi\nENV COLOR=blue\nWORKDIR /work\nUSER nobody\nRUN echo "$(id -u):$(id -g) $(pwd) $COLOR $GREETING $HOME" > /tmp/who\n',
      { buildArgs: { GREETING: 'hello' } },
    );
    expect(await h.inImage(built.imageId, 'cat "$ROOT/tmp/who"; stat -c %u "$ROOT/tmp/who"')).toBe('65534:65534 /work blue hello /home\n65534\n');
    // The build arg is in RUN's history and cache key, not in the image's environment.
    const config = await configOf(built.imageId);
    expect(config.history!.at(-1)!.created_by).toBe('RUN |1 GREETING=hello /bin/sh -c echo "$(id -u):$(id -g) $(pwd) $COLOR $GREETING $HOME" > /tmp/who # buildkit');
    expect(config.config!.Env).not.toContain('GREETING=hello');
  });

  it('has no network but loopback (and accepts --network=none, which says so)', async () => {
    const built = await h.build('FROM busybox\nRUN --network=none ls /sys/class/net > /ifaces\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/ifaces"')).toBe('lo\n');
  });

  it('adds no mount points to a layer (FROM scratch with a static binary)', async () => {
    const context = await h.context({});
    const built = await h.build('FROM busybox AS tools\nFROM scratch\nCOPY --from=tools /bin/busybox /busybox\nRUN ["/busybox", "touch", "/made"]\n', { context });
    expect((await h.inImage(built.imageId, 'ls -A "$ROOT"')).split('\n').filter(Boolean)).toEqual(['busybox', 'made']);
  });
});

describe('metadata instructions', () => {
  it('set the image config as Docker does', async () => {
    const built = await h.build(
      [
        'FROM busybox',
        'ENV A=1 B="two words" C=$A-x',
        'ENV D legacy form value',
        'LABEL org.example.name="my app" version=1.0',
        'EXPOSE 80 53/udp 8000-8002',
        'VOLUME /data /cache',
        'VOLUME ["/logs", "/tmp/x"]',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 CMD wget -q localhost || exit 1',
        'SHELL ["/bin/sh", "-ec"]',
        'USER 1000:1000',
        'WORKDIR /srv',
        'WORKDIR app',
        'ENTRYPOINT ["/bin/echo"]',
        'CMD hello',
        'ONBUILD RUN echo triggered',
        'MAINTAINER someone@example.com',
      ].join('\n'),
    );
    const config = await configOf(built.imageId);
    const run = config.config!;
    expect(run.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'B=two words', 'C=-x', 'D=legacy form value']);
    expect(run.Labels).toEqual({ 'org.example.name': 'my app', version: '1.0' });
    expect(Object.keys(run.ExposedPorts!).sort()).toEqual(['53/udp', '80/tcp', '8000/tcp', '8001/tcp', '8002/tcp']);
    expect(Object.keys(run.Volumes!).sort()).toEqual(['/cache', '/data', '/logs', '/tmp/x']);
    expect(run.StopSignal).toBe('SIGINT');
    expect(run.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'wget -q localhost || exit 1'],
      Interval: 30e9,
      Timeout: 5e9,
      StartPeriod: 60e9,
      Retries: 3,
    });
    expect(run.Shell).toEqual(['/bin/sh', '-ec']);
    expect(run.User).toBe('1000:1000');
    expect(run.WorkingDir).toBe('/srv/app');
    expect(run.Entrypoint).toEqual(['/bin/echo']);
    expect(run.Cmd).toEqual(['/bin/sh', '-ec', 'hello']);
    expect(run.OnBuild).toEqual(['RUN echo triggered']);
    expect(config.author).toBe('someone@example.com');
    const createdBy = config.history!.slice(2).map((e) => e.created_by);
    expect(createdBy[0]).toBe('ENV A=1 B=two words C=-x');
    expect(createdBy).toContain('WORKDIR /srv');
    expect(createdBy.at(-3)).toBe('CMD ["/bin/sh" "-ec" "hello"]');
    // Metadata steps are empty layers; only the two WORKDIRs that created directories made layers.
    const layered = config.history!.slice(2).filter((e) => e.empty_layer !== true).map((e) => e.created_by);
    expect(layered).toEqual(['WORKDIR /srv', 'WORKDIR /srv/app']);
  });

  it('reads a Dockerfile with another escape character', async () => {
    const built = await h.build('# escape=`\nFROM busybox\nRUN echo one `\n  two > /joined\nLABEL path=C:\\dir\n');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/joined"')).toBe('one two\n');
    expect((await configOf(built.imageId)).config!.Labels).toEqual({ path: 'C:\\dir' });
  });

  it('substitutes variables where Docker does and leaves CMD to the shell', async () => {
    const built = await h.build(
      'FROM busybox\nARG PORT=8080\nENV DIR=/opt/site NAME=site\nWORKDIR $DIR\nEXPOSE $PORT\nLABEL name=${NAME:-none} other=${MISSING:-fallback} set=${NAME:+yes}\nUSER ${NAME}\nSTOPSIGNAL ${SIG:-SIGTERM}\nVOLUME $DIR/data\nCMD echo $NAME\n',
    );
    const run = (await configOf(built.imageId)).config!;
    expect(run.WorkingDir).toBe('/opt/site');
    expect(Object.keys(run.ExposedPorts!)).toEqual(['8080/tcp']);
    expect(run.Labels).toEqual({ name: 'site', other: 'fallback', set: 'yes' });
    expect(run.User).toBe('site');
    expect(run.StopSignal).toBe('SIGTERM');
    expect(Object.keys(run.Volumes!)).toEqual(['/opt/site/data']);
    expect(run.Cmd).toEqual(['/bin/sh', '-c', 'echo $NAME']);
  });

  it('ENV of an existing name replaces it in place, as Docker does', async () => {
    const built = await h.build('FROM busybox\nENV APP=/opt/app PATH=/opt/app/bin:$PATH\n');
    expect((await configOf(built.imageId)).config!.Env).toEqual([
      'PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'APP=/opt/app',
    ]);
  });

  it('ENTRYPOINT clears an inherited CMD but keeps one set in the same stage', async () => {
    const inherited = await h.build('FROM busybox\nENTRYPOINT ["top"]\n');
    expect((await configOf(inherited.imageId)).config!.Cmd).toBeNull();
    const own = await h.build('FROM busybox\nCMD ["-b"]\nENTRYPOINT ["top"]\n');
    expect((await configOf(own.imageId)).config!.Cmd).toEqual(['-b']);
  });

  it('HEALTHCHECK NONE and exec form', async () => {
    const none = await h.build('FROM busybox\nHEALTHCHECK NONE\n');
    expect((await configOf(none.imageId)).config!.Healthcheck).toEqual({ Test: ['NONE'] });
    const exec = await h.build('FROM busybox\nHEALTHCHECK CMD ["/bin/true"]\n');
    expect((await configOf(exec.imageId)).config!.Healthcheck).toEqual({ Test: ['CMD', '/bin/true'] });
  });

  it('SHELL changes how later RUN and CMD shell forms run', async () => {
    const built = await h.build('FROM busybox\nSHELL ["/bin/sh", "-xc"]\nRUN echo traced\n');
    const stderr = built.events.ofType('build.log').filter((e) => e.stream === 'stderr').map((e) => e.text).join('');
    expect(stderr).toContain('+ echo traced');
    expect((await configOf(built.imageId)).history!.at(-1)!.created_by).toBe('RUN /bin/sh -xc echo traced # buildkit');
  });
});

describe('WORKDIR', () => {
  it('creates a missing directory in its own layer and reuses an existing one without a layer', async () => {
    const built = await h.build('FROM busybox\nWORKDIR /a/b/c\nWORKDIR /etc\n');
    const stepLayers = built.steps.map((s) => (s.layer ? s.layer.added : null));
    expect(stepLayers).toEqual([null, 3, null]);
    expect(await h.inImage(built.imageId, 'stat -c "%a %u:%g" "$ROOT/a/b/c"')).toBe('755 0:0\n');
  });

  it('creates the directory for the USER in effect, parents included (as BuildKit does)', async () => {
    const built = await h.build('FROM busybox\nUSER daemon\nWORKDIR /srv/data\nRUN touch mine\n');
    expect(await h.inImage(built.imageId, 'stat -c "%n %u:%g" "$ROOT/srv" "$ROOT/srv/data" "$ROOT/srv/data/mine" | sed "s|$ROOT||"')).toBe(
      '/srv 1:1\n/srv/data 1:1\n/srv/data/mine 1:1\n',
    );
  });

  it('refuses a path that is a file in the image', async () => {
    const { error } = await h.buildFails('FROM busybox\nWORKDIR /etc/passwd\n');
    expect(error).toBeInstanceOf(LearnerError);
    expect((error as LearnerError).key).toBe('build.notADirectory');
    expect((error as LearnerError).where?.line).toBe(2);
  });
});

describe('ARG', () => {
  it('scopes like Docker: globals only in FROM, redeclared to use in a stage, defaults overridden by build args', async () => {
    const built = await h.build(
      [
        'ARG BASE=busybox',
        'ARG VERSION=1.0',
        'FROM ${BASE}',
        'RUN echo "before:[$VERSION]" > /before',
        'ARG VERSION',
        'ARG LOCAL=default',
        'ENV LOCAL=from-env',
        'RUN echo "after:[$VERSION] local:[$LOCAL]" > /after',
      ].join('\n'),
      { buildArgs: { VERSION: '2.0', UNUSED: 'x' } },
    );
    expect(await h.inImage(built.imageId, 'cat "$ROOT/before" "$ROOT/after"')).toBe('before:[]\nafter:[2.0] local:[from-env]\n');
    expect(built.unusedBuildArgs).toEqual(['UNUSED']);
    expect((await configOf(built.imageId)).history!.find((e) => e.created_by?.includes('ARG VERSION'))?.empty_layer).toBe(true);
  });
});

describe('tags', () => {
  it('tags the image with the learner\'s names in their session', async () => {
    const built = await h.build('FROM busybox\nLABEL x=y\n', { tags: ['app', 'app:v2'] });
    expect(built.tags).toEqual(['app:latest', 'app:v2']);
    expect(await sessionOf(h).resolve('app:v2')).toBe(built.imageId);
    expect(built.events.ofType('build.finished')[0]).toMatchObject({ imageId: built.imageId, tags: ['app:latest', 'app:v2'], totalSteps: 2 });
  });

  it('an image that is only FROM is the base image itself', async () => {
    const built = await h.build('FROM busybox\n', { tags: ['same'] });
    expect(built.imageId).toBe((await h.store.inspect('busybox')).id);
  });
});
