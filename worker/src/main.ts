// The worker process of one Linux host (`npm run worker`; `npm start` runs one beside Redis):
// clean up what a crashed predecessor left, make sure the base images exist, then take jobs from
// this host's queue until SIGTERM/SIGINT, when running jobs get a grace period and the rest go
// back on the queue. Containers the learners started keep running (their launchers own them).
import { pino } from 'pino';
import { ensureBaseImages } from './base-images/index.js';
import { enginePaths, loadConfig, type EngineConfig } from './config.js';
import { cleanupHost } from './host-cleanup.js';
import { openEngine } from './queue/engine.js';
import { egressServiceFor, type EgressService } from './egress/index.js';
import { PROJECT_REGISTRY_PORT, ProjectRegistry, projectRegistryDir, publishProjectRegistry } from './registry/index.js';
import { HostWorker } from './queue/host-worker.js';
import { TerminalEndpoint } from './terminals/endpoint.js';
import { TerminalRelays } from './terminals/relays.js';

/** What the parent (scripts/start.ts) hears over IPC once the worker takes jobs. */
export interface WorkerReady {
  type: 'ready';
  hostId: string;
  queue: string;
  concurrency: number;
  pid: number;
  /** The terminal endpoint's port; null when it did not start (terminals then go through the gateway). */
  terminalPort: number | null;
}

function redisUrlOf(config: EngineConfig): string {
  // Without REDIS_URL the worker uses the private Redis that `npm start` runs in redisDir.
  return config.redisUrl ?? `unix://${config.redisDir}/redis.sock`;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ name: 'worker', level: config.logLevel });
  const started = performance.now();

  // Until the worker takes jobs, a stop signal ends the start and takes down what it started so
  // far: squid and the registry are processes of their own, which outlived a worker stopped while
  // it built its base images (npm start's Ctrl-C during a first start).
  const startedParts: { stop(): Promise<unknown> }[] = [];
  const stopWhileStarting = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopped while starting');
    void Promise.allSettled(startedParts.map((part) => part.stop())).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stopWhileStarting);
  process.on('SIGINT', stopWhileStarting);

  const cleanup = await cleanupHost({ dataDir: config.dataDir, launcher: config.launcher, log });
  log.info({ step: 'host-cleanup', ms: Math.round(performance.now() - started), ...countsOf(cleanup) }, 'host cleaned up');

  // The host's proxy to package archives; without squid (not set up) builds keep loopback only.
  let egress: EgressService | undefined;
  if (config.egress.enabled) {
    const service = egressServiceFor(config, { dataDir: config.dataDir, sessionsDir: enginePaths(config.dataDir).sessions });
    startedParts.push(service);
    try {
      await service.start();
      egress = service;
      log.info({ step: 'egress', allow: config.egress.allow }, 'package-archive proxy started');
    } catch (err) {
      log.warn({ step: 'egress', err }, 'package-archive proxy did not start: RUN steps have no network (run scripts/setup.sh)');
    }
  }

  // The learners' registry (push from one session, pull in another); without docker-registry
  // (not set up) pulls from other registries still work.
  let registry: ProjectRegistry | undefined;
  const projectRegistry = new ProjectRegistry({ dir: projectRegistryDir(config.dataDir), port: PROJECT_REGISTRY_PORT });
  startedParts.push(projectRegistry);
  try {
    await projectRegistry.start();
    await publishProjectRegistry(projectRegistry);
    registry = projectRegistry;
    log.info({ step: 'registry', host: projectRegistry.host }, 'project registry started');
  } catch (err) {
    await projectRegistry.stop().catch(() => {});
    log.warn({ step: 'registry', err }, 'project registry did not start (run scripts/setup.sh)');
  }

  const engine = await openEngine({
    dataDir: config.dataDir,
    launcher: config.launcher,
    log,
    idRangeBase: config.idRangeBase,
    containerTimeLimitMs: config.containerTimeLimitMs,
    buildIdPrefix: `build-${config.hostId}`,
    ...(egress ? { egress } : {}),
  });
  const images = await ensureBaseImages(engine.store, { only: config.baseImages, logger: log });
  log.info({ step: 'base-images', images: images.map((i) => i.id), ms: Math.round(performance.now() - started) }, 'base images ready');

  // Learners' terminals: relayed through Redis for any app process; resumed from a predecessor;
  // a run's container is relayed from its start (the worker hands its attachment over).
  const terminals = await TerminalRelays.start({
    engine,
    redisUrl: redisUrlOf(config),
    prefix: config.redisPrefix,
    hostId: config.hostId,
    log: log.child({ part: 'terminals' }),
  });

  // Browsers type to this host directly (the gateway hands out a token); without it, through the gateway.
  let endpoint: TerminalEndpoint | undefined;
  try {
    endpoint = await TerminalEndpoint.start({
      relays: terminals,
      redisUrl: redisUrlOf(config),
      prefix: config.redisPrefix,
      hostId: config.hostId,
      port: config.terminalEndpoint.port,
      ...(config.terminalEndpoint.host ? { host: config.terminalEndpoint.host } : {}),
      ...(config.terminalEndpoint.publicUrl ? { publicUrl: config.terminalEndpoint.publicUrl } : {}),
      log: log.child({ part: 'terminal-endpoint' }),
    });
    log.info({ step: 'terminal-endpoint', port: endpoint.port, publicUrl: config.terminalEndpoint.publicUrl }, 'terminal endpoint listening');
  } catch (err) {
    log.warn({ step: 'terminal-endpoint', err, port: config.terminalEndpoint.port }, 'terminal endpoint did not start (TERMINAL_PORT in use?): terminals go through the gateway');
  }

  const worker = await HostWorker.start({
    redisUrl: redisUrlOf(config),
    prefix: config.redisPrefix,
    hostId: config.hostId,
    concurrency: config.concurrency,
    heartbeatMs: config.heartbeatMs,
    engine,
    log,
    terminals,
  });

  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      // A second Ctrl-C: leave now; running jobs return to the queue when their locks expire.
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    // Relays detach; the containers keep running and the next worker attaches again.
    Promise.all([endpoint?.close().then(() => terminals.close()) ?? terminals.close(), worker.shutdown(config.shutdownGraceMs)])
      .then(() => egress?.stop())
      .then(() => registry?.stop())
      .then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.off('SIGTERM', stopWhileStarting);
  process.off('SIGINT', stopWhileStarting);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const ready: WorkerReady = { type: 'ready', hostId: config.hostId, queue: worker.queueName, concurrency: config.concurrency, pid: process.pid, terminalPort: endpoint?.port ?? null };
  process.send?.(ready);
}

function countsOf(report: object): Record<string, number> {
  return Object.fromEntries(Object.entries(report).map(([k, v]) => [k, v.length]));
}

main().catch((err: unknown) => {
  // Config errors are the operator's to fix: the message is the whole story.
  process.stderr.write(`worker: ${err instanceof Error ? (err.name === 'ConfigError' ? err.message : err.stack) : String(err)}\n`);
  process.exit(1);
});
