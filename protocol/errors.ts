// The two kinds of error, never mixed. A LearnerError is something the learner can act on:
// an i18n key, the facts to show, and where in their Dockerfile when there is a where. An
// internal error reaches the learner only as a short apology with an id to quote.
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';
import { messages, type MessageKey } from './i18n.js';

export const learnerErrorPayload = lazySchema(() =>
  z.object({
    kind: z.literal('learner'),
    key: z.string(),
    facts: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).default({}),
    line: z.number().int().positive().optional(),
    column: z.number().int().positive().optional(),
  }),
);
export type LearnerErrorPayload = z.infer<typeof learnerErrorPayload>;

export const internalErrorPayload = lazySchema(() => z.object({ kind: z.literal('internal'), errorId: z.string() }));
export type InternalErrorPayload = z.infer<typeof internalErrorPayload>;
export const errorPayload = lazySchema(() => z.discriminatedUnion('kind', [learnerErrorPayload, internalErrorPayload]));
export type ErrorPayload = z.infer<typeof errorPayload>;

export type Facts = LearnerErrorPayload['facts'];

export class LearnerError extends Error {
  override readonly name = 'LearnerError';
  constructor(
    readonly key: MessageKey,
    readonly facts: Facts = {},
    readonly where?: { line: number; column?: number },
  ) {
    super(renderMessage(key, facts, 'en'));
  }

  toPayload(): LearnerErrorPayload {
    return {
      kind: 'learner',
      key: this.key,
      facts: this.facts,
      ...(this.where ? { line: this.where.line, ...(this.where.column ? { column: this.where.column } : {}) } : {}),
    };
  }
}

export function isLearnerError(err: unknown): err is LearnerError {
  return err instanceof LearnerError;
}

export type Locale = 'en' | 'ko';

/** Sizes in learners' units for messages: 8 GiB, 512 MiB, 300 bytes. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Fill a message's {placeholders} from the facts. Unknown keys fall back to the key itself. */
export function renderMessage(key: string, facts: Facts, locale: Locale): string {
  const table = messages[locale] as Record<string, string>;
  const template = table[key] ?? (messages.en as Record<string, string>)[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = facts[name];
    if (v === undefined) return `{${name}}`;
    return Array.isArray(v) ? v.join(', ') : String(v);
  });
}
