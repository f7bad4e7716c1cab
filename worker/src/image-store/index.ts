/** The engine's image store: layers, images, tags, and `docker save` / `docker load` archives. */
export {
  ImageStore,
  type CleanupReport,
  type HistoryRow,
  type Image,
  type ImageConfigInput,
  type ImageStoreOptions,
  type ImageSummary,
  type ImageUser,
  type ImageUsersHook,
  type LoadResult,
  type RemoveAction,
} from './store.js';
export type { CommitOptions, StagedLayer } from './layer-store.js';
export { chainIdOf, chainIdsOf, isDigest, sha256, type Digest } from './digest.js';
export { ImageStoreError, isImageStoreError, type ImageStoreErrorKey } from './errors.js';
export { diffUpper, type Change, type ChangeCounts, type ChangeKind } from './upper-diff.js';
export { digestLayerDir, layerTar, type LayerTarSummary } from './layer-tar.js';
export { byCodePoint, formatReference, parseReference, type ImageReference } from './references.js';
export { imageStoreLimits, type ImageStoreLimits } from './limits.js';
export type { HistoryEntry, ImageConfig, LayerRecord, RunConfig } from './schemas.js';
export { OPAQUE_XATTR, WHITEOUT_PREFIX, OPAQUE_MARKER } from './overlay.js';
