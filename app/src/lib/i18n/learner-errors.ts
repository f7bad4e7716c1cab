// Learner errors in the reader's language, from protocol/i18n.ts (the engine's table). This is
// protocol/errors.ts renderMessage for the browser bundle: Turbopack cannot yet resolve the
// protocol's `./i18n.js` specifiers to their .ts files (no extensionAlias in Next 16.4), so the
// client imports only the table, which has no imports of its own, and fills it the same way.
import { messages } from '../../../../protocol/i18n';
import type { Locale } from './locale';
import { format, type Facts } from './translate';

export function renderMessage(key: string, facts: Facts, locale: Locale): string {
  const table = messages[locale] as Record<string, string>;
  return format(table[key] ?? (messages.en as Record<string, string>)[key] ?? key, facts);
}
