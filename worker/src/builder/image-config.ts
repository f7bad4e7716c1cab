// The image a stage is building, between steps: its OCI config (with Docker's run-config
// fields), its layers, and the history a step appends to. Each step starts from its parent's
// state and produces a new image; this module holds the pure parts of that.
import type { Digest, ImageConfig, LayerRecord, RunConfig } from '../image-store/index.js';
import { HISTORY_COMMENT } from './created-by.js';

export const DEFAULT_SHELL: readonly string[] = Object.freeze(['/bin/sh', '-c']);
/** What Docker puts in a RUN's environment when the image sets no PATH. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageState {
  /** The image this state is (null: FROM scratch before any step). */
  imageId: Digest | null;
  config: ImageConfig;
  /** Bottom layer first. */
  layers: LayerRecord[];
}

export function ociArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

/**
 * `FROM scratch`: no layers, and only a PATH (BuildKit and buildah give a scratch image the
 * default PATH, so `CMD ["app"]` finds /bin/app; the classic builder did not).
 */
export function scratchState(): ImageState {
  return {
    imageId: null,
    config: { architecture: ociArchitecture(), os: 'linux', config: { Env: [DEFAULT_PATH] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
    layers: [],
  };
}

export function runConfigOf(state: ImageState): RunConfig {
  return state.config.config ?? {};
}

export function shellOf(config: RunConfig): string[] {
  return config.Shell && config.Shell.length > 0 ? [...config.Shell] : [...DEFAULT_SHELL];
}

/** Env entries as a map; later entries win, as in a process environment. */
export function envMap(config: RunConfig): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq === -1) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

/** Sets one variable, keeping its place in the list when it already exists (Docker does). */
export function setEnv(env: string[], name: string, value: string): string[] {
  const out = [...env];
  const index = out.findIndex((entry) => entry === name || entry.startsWith(`${name}=`));
  if (index === -1) out.push(`${name}=${value}`);
  else out[index] = `${name}=${value}`;
  return out;
}

/**
 * History entries of an image that has layers but no history (a loaded image, say), so that
 * appending steps keeps the store's rule: one non-empty entry per layer.
 */
function historyOf(state: ImageState): NonNullable<ImageConfig['history']> {
  const history = state.config.history ?? [];
  if (history.length > 0 || state.layers.length === 0) return [...history];
  return state.layers.map(() => ({ created_by: '' }));
}

export interface StepOutcome {
  /** The run config after this step. */
  runConfig: RunConfig;
  createdBy: string;
  /** The layer this step committed, if it made one. */
  layer: LayerRecord | null;
  /** MAINTAINER sets the image's author. */
  author?: string;
}

/** The config of the image a step produces. */
export function nextConfig(parent: ImageState, outcome: StepOutcome, now: string): ImageConfig {
  const history = historyOf(parent);
  history.push({ created: now, created_by: outcome.createdBy, comment: HISTORY_COMMENT, ...(outcome.layer ? {} : { empty_layer: true }) });
  const config: ImageConfig = {
    ...parent.config,
    created: now,
    config: outcome.runConfig,
    rootfs: { type: 'layers', diff_ids: [...parent.config.rootfs.diff_ids, ...(outcome.layer ? [outcome.layer.diffId] : [])] },
    history,
  };
  if (outcome.author !== undefined) config.author = outcome.author;
  return config;
}

/** Host paths of a state's layers, topmost first (overlayfs's lowerdir order). */
export function layerDirsOf(state: ImageState, layerDir: (chainId: Digest) => string): string[] {
  return state.layers.map((layer) => layerDir(layer.chainId)).reverse();
}
