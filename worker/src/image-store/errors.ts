/**
 * Errors a learner (or operator) can act on: a name that does not resolve, an image still in
 * use, an archive that is not an image. They carry an i18n key and the facts to show, so the
 * gateway can turn them into the shared LearnerError shape without parsing messages.
 * Everything else thrown by the store is an internal error (a bug or a broken host).
 */
export type ImageStoreErrorKey =
  | 'image.notFound'
  | 'image.ambiguous'
  | 'image.conflict'
  | 'reference.invalid'
  | 'layer.invalid'
  | 'layer.missing'
  | 'archive.invalid'
  | 'archive.digestMismatch'
  | 'archive.unsafePath'
  | 'archive.tooLarge'
  | 'baseImage.unknown'
  | 'baseImage.unavailable';

export type ErrorFacts = Record<string, string | number | boolean | string[]>;

export class ImageStoreError extends Error {
  override readonly name = 'ImageStoreError';
  constructor(
    readonly key: ImageStoreErrorKey,
    message: string,
    readonly facts: ErrorFacts = {},
  ) {
    super(message);
  }
}

export function isImageStoreError(err: unknown, key?: ImageStoreErrorKey): err is ImageStoreError {
  return err instanceof ImageStoreError && (key === undefined || err.key === key);
}
