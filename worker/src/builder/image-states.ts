// Images by id, remembered: an image's config and layers never change under its id (the id is
// the config's digest), so after one store.inspect the builder can reuse them. That matters
// because inspect also lists the image's tags by reading every tag in the store, which costs
// ~150 ms per call once a host holds a thousand tags — more than a whole cached rebuild may take.
// Whether the image still exists (rmi) is checked on every use; that is a cheap lookup.
import type { Digest, ImageStore } from '../image-store/index.js';
import type { ImageState } from './image-config.js';

const LIMIT = 1000;

export class ImageStates {
  private readonly known = new Map<Digest, ImageState & { imageId: Digest }>();

  constructor(private readonly store: ImageStore) {}

  async load(imageId: Digest): Promise<ImageState & { imageId: Digest }> {
    const known = this.known.get(imageId);
    if (known !== undefined) {
      await this.store.resolve(imageId); // throws image.notFound if it was removed
      return known;
    }
    const image = await this.store.inspect(imageId);
    const state = { imageId: image.id, config: image.config, layers: image.layers };
    this.remember(state);
    return state;
  }

  /** Records an image the builder just made (its config and layers are at hand). */
  remember(state: ImageState & { imageId: Digest }): void {
    if (this.known.size >= LIMIT) this.known.delete(this.known.keys().next().value!);
    this.known.set(state.imageId, state);
  }
}
