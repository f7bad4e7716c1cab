// A build step's cache decision in words: the cache.* keys of protocol/events.ts, rendered from
// protocol/i18n.ts with the facts the builder filled in (the step that changed, the arguments…).
import { renderMessage } from '../../../../protocol/errors';
import type { CacheReason } from '../../../../protocol/events';
import type { Locale } from '../../lib/i18n/locale';

export function cacheReasonText(reason: CacheReason, locale: Locale): string {
  return renderMessage(reason.key, reason.facts, locale);
}
