/**
 * Errors a learner (or operator) can act on: a name that does not resolve, an image still in
 * use, an archive that is not an image. They are LearnerErrors (protocol/errors.ts): the site
 * renders them from the key and facts in the learner's language. The message itself stays in
 * Docker's words, for the command line and logs.
 * Everything else thrown by the store is an internal error (a bug or a broken host).
 */
// Not protocol/index.js: that would build every job, event and result schema for a store that
// only throws (`layercake images` pays for each module it loads).
import { LearnerError, type Facts } from '../../../protocol/errors.js';
import { messages, type MessageKey } from '../../../protocol/i18n.js';

export type ImageStoreErrorKey = Extract<
  MessageKey,
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
  | 'baseImage.unavailable'
>;

export type ErrorFacts = Facts;

export class ImageStoreError extends LearnerError {
  declare readonly key: ImageStoreErrorKey;

  constructor(key: ImageStoreErrorKey, message: string, facts: ErrorFacts = {}) {
    // Templates that show a {detail} get the specific message when the thrower gave no other.
    const template = (messages.en as Record<string, string>)[key] ?? '';
    super(key, template.includes('{detail}') && facts.detail === undefined ? { ...facts, detail: message } : facts);
    this.message = message;
  }
}

export function isImageStoreError(err: unknown, key?: ImageStoreErrorKey): err is ImageStoreError {
  return err instanceof ImageStoreError && (key === undefined || err.key === key);
}

/** Sizes in learners' units for messages (protocol/errors.ts: the gateway words them the same). */
export { formatBytes } from '../../../protocol/errors.js';
