// Message tables. Each widget keeps its own table beside its code, `messages.ts` exporting
// `messages = defineMessages({ en: {...}, ko: {...} })`, so adding a widget never edits a
// shared file; the i18n test finds every such table by glob and checks en and ko hold the same
// keys. Keys are dotted like protocol/i18n.ts (`files.upload`, `editor.saved`).
import type { Locale } from './locale';

export type Facts = Record<string, string | number | boolean | string[]>;
export type MessageTable<K extends string = string> = { readonly en: Record<K, string>; readonly ko: Record<K, string> };

/** Types a table so that a key missing from one language is a compile error, too. */
export function defineMessages<K extends string>(table: { en: Record<K, string>; ko: Record<NoInfer<K>, string> }): MessageTable<K> {
  return table;
}

/** Fill {placeholders} from the facts, as protocol/errors.ts renderMessage does. */
export function format(template: string, facts: Facts = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = facts[name];
    if (value === undefined) return whole;
    return Array.isArray(value) ? value.join(', ') : String(value);
  });
}

export type Translate<K extends string> = (key: K, facts?: Facts) => string;

export function translator<K extends string>(table: MessageTable<K>, locale: Locale): Translate<K> {
  const strings = table[locale];
  return (key, facts) => format(strings[key] ?? table.en[key] ?? key, facts);
}
