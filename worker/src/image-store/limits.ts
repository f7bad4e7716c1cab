/**
 * Every default limit of the image store, frozen, units in the names. Loading an archive is the
 * one place where untrusted sizes arrive, so these bound what a crafted archive can make the
 * worker read, allocate or write. (To be folded into worker/src/limits.ts once that exists.)
 */
export const imageStoreLimits = Object.freeze({
  /** Uncompressed bytes of file content in one layer. */
  maxLayerBytes: 8 * 1024 ** 3,
  /** One file inside a layer, as its tar header declares it. */
  maxEntryBytes: 4 * 1024 ** 3,
  /** Entries in one layer tar. */
  maxLayerEntries: 1_000_000,
  /** A PAX extended header or GNU long name. */
  maxMetaBytes: 1024 ** 2,
  /** A JSON document in an archive (manifest.json, index.json, a config, a manifest). */
  maxJsonBytes: 8 * 1024 ** 2,
  /** Entries in a `docker save` archive. */
  maxArchiveEntries: 100_000,
  /** Blob bytes of an archive kept in memory while it is indexed (JSON documents only). */
  maxArchiveMetadataBytes: 64 * 1024 ** 2,
  /** How long a writer waits for the store lock before giving up. */
  lockTimeoutMs: 120_000,
  /** How long an ownerless lock directory may exist before it is treated as abandoned. */
  lockOwnerlessStaleMs: 10_000,
});

export type ImageStoreLimits = typeof imageStoreLimits;
