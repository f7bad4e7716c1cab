/**
 * zod schemas for every JSON document the store reads: its own records, and the OCI / Docker
 * documents found in archives. Parsing keeps only the fields we use; the exact bytes of
 * configs and manifests are stored separately, because their digests are their identities.
 */
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';
import { isDigest, type Digest } from './digest.js';

export const DigestSchema = lazySchema(() =>
  z
    .string()
    .refine(isDigest, { message: 'expected a sha256 digest ("sha256:" and 64 lowercase hex digits)' })
    .transform((value) => value as Digest),
);

const StringList = lazySchema(() => z.array(z.string()));
const EmptyObjectMap = lazySchema(() => z.record(z.string(), z.object({}).loose()));

// Image configuration: OCI image-spec config.md plus Docker's extensions (Healthcheck, OnBuild,
// Shell) from the Docker image spec v1.2+.
export const HealthcheckSchema = lazySchema(() =>
  z.object({
    Test: StringList.nullable().optional(),
    Interval: z.number().int().optional(),
    Timeout: z.number().int().optional(),
    StartPeriod: z.number().int().optional(),
    StartInterval: z.number().int().optional(),
    Retries: z.number().int().optional(),
  }),
);

export const RunConfigSchema = lazySchema(() =>
  z.object({
    User: z.string().optional(),
    ExposedPorts: EmptyObjectMap.nullable().optional(),
    Env: StringList.nullable().optional(),
    Entrypoint: StringList.nullable().optional(),
    Cmd: StringList.nullable().optional(),
    Volumes: EmptyObjectMap.nullable().optional(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).nullable().optional(),
    StopSignal: z.string().optional(),
    Healthcheck: HealthcheckSchema.nullable().optional(),
    OnBuild: StringList.nullable().optional(),
    Shell: StringList.nullable().optional(),
    ArgsEscaped: z.boolean().optional(),
  }),
);

export const HistoryEntrySchema = lazySchema(() =>
  z.object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  }),
);

export const ImageConfigSchema = lazySchema(() =>
  z.object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string().min(1),
    os: z.string().min(1),
    variant: z.string().optional(),
    config: RunConfigSchema.nullable().optional(),
    rootfs: z.object({
      type: z.literal('layers'),
      diff_ids: z.array(DigestSchema),
    }),
    history: z.array(HistoryEntrySchema).nullable().optional(),
  }),
);

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

// OCI content descriptors, manifests and indexes (image-spec descriptor.md, manifest.md,
// image-index.md) and the layout marker file (image-layout.md).
export const DescriptorSchema = lazySchema(() =>
  z.object({
    mediaType: z.string().min(1),
    digest: DigestSchema,
    size: z.number().int().nonnegative(),
    annotations: z.record(z.string(), z.string()).optional(),
    platform: z
      .object({ architecture: z.string(), os: z.string(), variant: z.string().optional() })
      .optional(),
  }),
);
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const OciManifestSchema = lazySchema(() =>
  z.object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
);
export type OciManifest = z.infer<typeof OciManifestSchema>;

export const OciIndexSchema = lazySchema(() =>
  z.object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
  }),
);

export const OciLayoutSchema = lazySchema(() => z.object({ imageLayoutVersion: z.string() }));

/** `manifest.json` of a `docker save` archive (Docker image spec v1.2, "Combined Image JSON"). */
export const DockerArchiveManifestSchema = lazySchema(() =>
  z.array(
    z.object({
      Config: z.string().min(1),
      RepoTags: z.array(z.string()).nullable().optional(),
      Layers: z.array(z.string().min(1)),
      Parent: z.string().optional(),
    }),
  ),
);

// The store's own records.
export const ChangeCountsSchema = lazySchema(() =>
  z.object({
    added: z.number().int().nonnegative(),
    changed: z.number().int().nonnegative(),
    deleted: z.number().int().nonnegative(),
  }),
);

export const LayerRecordSchema = lazySchema(() =>
  z.object({
    chainId: DigestSchema,
    diffId: DigestSchema,
    parent: DigestSchema.nullable(),
    /** Apparent size of the layer's content (files once per inode, symlink targets). */
    size: z.number().int().nonnegative(),
    /** Length of the layer's tar, which is what a manifest's layer descriptor records. */
    tarSize: z.number().int().nonnegative(),
    changes: ChangeCountsSchema.nullable(),
    createdAt: z.string(),
    source: z.enum(['commit', 'load', 'base']),
    /** The tar this layer was loaded from is kept because re-serialising would not reproduce it. */
    originalTar: z.boolean(),
  }),
);
export type LayerRecord = z.infer<typeof LayerRecordSchema>;
