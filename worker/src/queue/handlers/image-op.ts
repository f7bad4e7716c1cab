// `image-op`: the session's images as the playground's images list, history and layer view show
// them. Names and ids resolve in the job's session only (SessionImages): an image another session
// made is "No such image" here, by name or by id, and nothing returned names another session's
// tags, containers or step images.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { LearnerError } from '../../../../protocol/errors.js';
import type { HistoryRow, ImageOpResult, ImageSummary } from '../../../../protocol/results.js';
import { removeImage } from '../../sessions/image-ops.js';
import { Containers } from '../../containers/index.js';
import { sessionImages } from '../../sessions/quotas.js';
import { diffUpper, type Digest, type Image } from '../../image-store/index.js';
import { isBaseName } from '../../sessions/images.js';
import { stepLine } from '../dockerfile-lines.js';
import type { HandlerContext, JobHandler, JobInput } from './types.js';

type Session = { containers: Containers; ctx: HandlerContext; session: string };

/** `docker images` (the API's ImageSummary): base images and the session's own, newest first. */
async function list({ containers, ctx }: Session): Promise<ImageSummary[]> {
  const { images } = containers;
  const { all, visible, baseIds } = await sessionImages(ctx.engine.store, images);
  const listed: Image[] = [...all.filter((i) => baseIds.has(i.id)), ...visible];
  const usedBy = new Map<string, number>();
  for (const c of await containers.list({ all: true })) usedBy.set(c.imageId, (usedBy.get(c.imageId) ?? 0) + 1);
  // A layer counted in several listed images is stored once: that is the "shared size".
  const imagesOfLayer = new Map<string, number>();
  for (const image of listed) for (const chainId of new Set(image.layers.map((l) => l.chainId))) imagesOfLayer.set(chainId, (imagesOfLayer.get(chainId) ?? 0) + 1);
  return listed
    .map((image) => ({
      id: image.id,
      // Only this session's names and the base images' own: another session's tags stay unseen.
      tags: image.tags.flatMap((t) => {
        const mine = images.unqualify(t);
        return mine !== null ? [mine] : baseIds.has(image.id) && isBaseName(t) ? [t] : [];
      }),
      created: image.created,
      sizeBytes: image.size,
      sharedSizeBytes: image.layers.filter((l) => (imagesOfLayer.get(l.chainId) ?? 0) > 1).reduce((n, l) => n + l.size, 0),
      containers: usedBy.get(image.id) ?? 0,
      layers: image.layers.length,
      base: baseIds.has(image.id),
    }))
    .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''));
}

/** `docker history`, newest first, with each row's layer index and the Dockerfile line that made it. */
async function history({ containers, ctx, session }: Session, imageId: Digest): Promise<HistoryRow[]> {
  const { store, dataDir } = ctx.engine;
  const rows = await store.history(imageId);
  // A step image is shown only if the session may see it (it made it, or it is a base image).
  const { owned, baseIds } = await sessionImages(store, containers.images);
  const seen = new Set<string>([imageId, ...owned.map((i) => i.id), ...baseIds]);
  let layer = rows.filter((r) => !r.emptyLayer).length;
  const out: HistoryRow[] = [];
  for (const row of rows) {
    const id = row.id !== null && seen.has(row.id) ? row.id : null;
    out.push({
      id,
      created: row.created,
      createdBy: row.createdBy,
      sizeBytes: row.size,
      emptyLayer: row.emptyLayer,
      comment: row.comment,
      layerIndex: row.emptyLayer ? null : --layer,
      line: id === null ? null : await stepLine(dataDir, session, id),
    });
  }
  return out;
}

/** The files one layer added, changed or deleted, relative to the layers below it. */
async function layerChanges({ ctx }: Session, imageId: Digest, input: Extract<JobInput<'image-op'>, { op: 'layer-changes' }>): Promise<ImageOpResult> {
  const { store } = ctx.engine;
  const image = await store.inspect(imageId);
  const index = typeof input.layer === 'number' ? input.layer : image.layers.findIndex((l) => l.diffId === input.layer);
  const layer = image.layers[index];
  if (index < 0 || !layer) {
    throw new LearnerError('image.noSuchLayer', { ref: input.image, layer: String(input.layer), count: image.layers.length });
  }
  const dir = store.layerDir(layer.chainId);
  const below = image.layers.slice(0, index).map((l) => store.layerDir(l.chainId)).reverse();
  const { changes } = await diffUpper(dir, below, { collect: true });
  const shown = changes.slice(0, input.limit);
  const sized = [];
  for (const change of shown) {
    // Committed layers are the store's (no container writes there): a plain lstat is safe.
    const st = change.kind === 'D' ? null : await lstat(join(dir, change.path)).catch(() => null);
    sized.push({ kind: change.kind, path: change.path, sizeBytes: st?.isFile() ? st.size : 0 });
  }
  return { op: 'layer-changes', imageId, layerIndex: index, diffId: layer.diffId, changes: sized, total: changes.length, truncated: changes.length > shown.length };
}

export const handleImageOp: JobHandler<'image-op'> = async (input, ctx): Promise<ImageOpResult> => {
  const containers = new Containers({ ...ctx.engine, session: input.sessionId, events: ctx.events });
  const s: Session = { containers, ctx, session: input.sessionId };
  switch (input.op) {
    case 'list':
      return { op: 'list', images: await list(s) };
    case 'history': {
      const imageId = await containers.images.resolve(input.image);
      return { op: 'history', imageId, rows: await history(s, imageId) };
    }
    case 'rmi': {
      // Docker's rules, in the session's names (refused while a container uses the image).
      return { op: 'rmi', ...(await removeImage(ctx.engine.store, containers.images, input.image, input.force)) };
    }
    case 'layer-changes':
      return layerChanges(s, await containers.images.resolve(input.image), input);
  }
};
