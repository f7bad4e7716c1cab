// Registries for one session: pull (through the host's blob cache), push, login. The CLI, the
// builder's FROM and the queue's handlers use this, not the modules behind it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import { loadConfig } from '../config.js';
import type { ImageStore } from '../image-store/index.js';
import type { QuotaSource } from '../sessions/image-ops.js';
import type { SessionImages } from '../sessions/images.js';
import { BlobCache } from './blob-cache.js';
import { CredentialStore } from './credentials.js';
import { DistributionClient, endpointFor, isUnreachable, type Credentials } from './distribution-client.js';
import { pullImage, type PullProgress, type PullResult } from './pull.js';
import { pushImage, type PushResult } from './push.js';
import type { ProjectRegistry } from './project-registry.js';
import type { EventSink } from '../events.js';

export { ProjectRegistry, registryProcesses } from './project-registry.js';

/** Where a worker runs the project registry (config, htpasswd, secret, storage/): in its data root. */
export function projectRegistryDir(dataDir: string): string {
  return join(dataDir, 'registry');
}
/** The learners' port of the project registry: `localhost:5000/<session>/<name>`. */
export const PROJECT_REGISTRY_PORT = 5000;
export { BlobCache } from './blob-cache.js';
export type { PullProgress, PullResult } from './pull.js';
export type { PushResult } from './push.js';

export interface RegistriesOptions {
  dataDir: string;
  store: ImageStore;
  images: SessionImages;
  quota?: QuotaSource;
  /** The project registry's directory, to recognise it and derive a session's credentials (default: the data root's). */
  projectDir?: string;
  /** How long a download retries a registry that went away (ms). */
  retryWindowMs?: number;
  /** The host's blob cache bound (default: config.ts LAYERCAKE_REGISTRY_CACHE_SIZE). */
  cacheBytes?: number;
  /** Where pull progress goes (`pull.layer`, `pull.finished`) for the UI. */
  events?: EventSink;
}

/** What a running project registry publishes for this host's other processes (the CLI). */
interface ProjectInfo {
  host: string;
  secretFile: string;
}

export async function publishProjectRegistry(registry: ProjectRegistry): Promise<void> {
  const info: ProjectInfo = { host: registry.host, secretFile: join(registry.options.dir, 'secret') };
  await writeFile(join(registry.options.dir, 'front.json'), JSON.stringify(info), { mode: 0o600 });
}

export class Registries {
  readonly cache: BlobCache;
  readonly credentials: CredentialStore;

  constructor(private readonly options: RegistriesOptions) {
    // One cache for the host: every session's pulls share it. Its bound is the host's, the same
    // for every process that pulls (worker, command line), so it is read from the environment
    // here rather than handed down by each of them.
    this.cache = new BlobCache(join(options.dataDir, 'registry-cache'), {
      retryWindowMs: options.retryWindowMs,
      maxBytes: options.cacheBytes ?? loadConfig().registryCacheBytes,
    });
    this.credentials = new CredentialStore(options.dataDir, options.images.session);
  }

  /** The project registry's host (`localhost:<port>`), when one runs on this host. */
  async projectHost(): Promise<string | null> {
    return (await this.projectInfo())?.host ?? null;
  }

  private async projectInfo(): Promise<ProjectInfo | null> {
    try {
      const dir = this.options.projectDir ?? projectRegistryDir(this.options.dataDir);
      return JSON.parse(await readFile(join(dir, 'front.json'), 'utf8')) as ProjectInfo;
    } catch {
      return null;
    }
  }

  /** Stored login first; on the project registry, the session's own derived credentials. */
  async credentialsFor(host: string): Promise<Credentials | null> {
    const stored = await this.credentials.get(host);
    if (stored !== null) return stored;
    const info = await this.projectInfo();
    if (info === null || info.host !== host) return null;
    const { createHmac } = await import('node:crypto');
    const secret = await readFile(info.secretFile);
    const session = this.options.images.session;
    return { username: session, password: createHmac('sha256', secret).update(`session:${session}`).digest('hex') };
  }

  async pull(name: string, onProgress?: (p: PullProgress) => void, onChunk?: (digest: string, bytes: number) => void): Promise<PullResult> {
    const events = this.options.events;
    // Progress events at most every 1/20 of a layer, so a big layer is not thousands of events.
    const lastShown = new Map<string, number>();
    const result = await pullImage(name, {
      store: this.options.store,
      images: this.options.images,
      cache: this.cache,
      quota: this.options.quota,
      credentialsFor: (host) => this.credentialsFor(host),
      onProgress: (p) => {
        onProgress?.(p);
        if (events === undefined) return;
        const step = Math.max(1, Math.floor(p.totalBytes / 20));
        if (p.status === 'downloading' && p.bytes < p.totalBytes && p.bytes - (lastShown.get(p.digest) ?? -step) < step) return;
        lastShown.set(p.digest, p.bytes);
        events.emit({ type: 'pull.layer', image: p.image, digest: p.digest, status: p.status, bytes: p.bytes, totalBytes: p.totalBytes });
      },
      onChunk,
    });
    const fetchedBytes = result.layers.reduce((sum, l) => sum + l.stats.fetchedBytes, 0);
    events?.emit({ type: 'pull.finished', image: result.name, digest: result.digest, imageId: result.imageId, fetchedBytes });
    return result;
  }

  push(name: string, options: { chunkBytes?: number } = {}): Promise<PushResult> {
    return pushImage(name, { store: this.options.store, images: this.options.images, credentialsFor: (host) => this.credentialsFor(host), ...options });
  }

  /** `docker login`: checks the credentials against the registry, then stores them for this session. */
  async login(host: string, given: Credentials | null): Promise<Credentials> {
    const credentials = given ?? (await this.credentialsFor(host));
    if (credentials === null) throw new LearnerError('registry.loginNeedsUser', { host });
    const client = new DistributionClient(endpointFor(host), credentials);
    const ok = await client.verifyLogin().catch((err: unknown) => {
      if (isUnreachable(err)) throw new LearnerError('registry.unreachable', { host, image: host });
      throw err;
    });
    if (!ok) throw new LearnerError('registry.loginFailed', { host, username: credentials.username });
    await this.credentials.set(host, credentials);
    return credentials;
  }

  async logout(host: string): Promise<boolean> {
    return this.credentials.remove(host);
  }
}
