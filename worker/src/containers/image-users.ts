// Which containers use an image, for the store's `rmi` check: any container of any session, as
// its record says (a stopped container keeps its image just as a running one does, as in Docker).
import type { Digest, ImageUsersHook } from '../image-store/index.js';
import { shortId } from './names.js';
import { readAllRecords } from './record.js';

export function containerImageUsers(dataDir: string): ImageUsersHook {
  return async (imageId: Digest) =>
    (await readAllRecords(dataDir))
      .filter((record) => record.imageId === imageId)
      .map((record) => ({ containerId: shortId(record.id), running: record.state.status === 'running', session: record.session }));
}
