// `pull`: an image from a registry into the session, as `layercake pull` does: the manifest
// (narrowed to linux/amd64), each layer through the host's pull-through cache with `pull.layer`
// progress events, then into the store under the session's names and quotas (its containers'
// writable layers count, as for every image the session adds).
import { Containers } from '../../containers/index.js';
import { Registries } from '../../registry/index.js';
import type { JobHandler } from './types.js';

export const handlePull: JobHandler<'pull'> = async (input, { engine, events }) => {
  const containers = new Containers({ ...engine, session: input.sessionId, events });
  const registries = new Registries({ dataDir: engine.dataDir, store: engine.store, images: containers.images, quota: containers, events });
  const pulled = await registries.pull(input.image);
  return {
    name: pulled.name,
    digest: pulled.digest,
    imageId: pulled.imageId,
    layers: pulled.layers.map((l) => ({ digest: l.digest, sizeBytes: l.size, fetchedBytes: l.stats.fetchedBytes })),
  };
};
