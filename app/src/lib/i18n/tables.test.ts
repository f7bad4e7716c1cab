// Every message table of the app, found by glob (the shell's, and each widget's messages.ts),
// must hold the same keys in English and Korean, with no empty text and the same {placeholders}
// in both: a key missing in one language would show a raw key to its readers.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Node 20 has no fs.glob: list app/src recursively and keep every messages.ts.
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((path) => path === 'messages.ts' || path.endsWith('/messages.ts'))
  .sort();

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();
}

describe('message tables', () => {
  it('are found: the shell, the editor, the file tree and the playground at least', () => {
    for (const expected of ['components/shell/messages.ts', 'components/editor/messages.ts', 'components/files/messages.ts', 'components/playground/messages.ts']) {
      expect(files).toContain(expected);
    }
  });

  for (const file of files) {
    it(`${file} has every key in en and ko, with the same placeholders`, async () => {
      const mod = (await import(pathToFileURL(join(src, file)).href)) as Record<string, unknown>;
      const tables = Object.entries(mod).filter(
        (entry): entry is [string, { en: Record<string, string>; ko: Record<string, string> }] => {
          const v = entry[1] as { en?: unknown; ko?: unknown } | null;
          return typeof v === 'object' && v !== null && typeof v.en === 'object' && typeof v.ko === 'object';
        },
      );
      expect(tables.length, `${file} exports no {en, ko} table`).toBeGreaterThan(0);
      for (const [name, table] of tables) {
        expect(Object.keys(table.ko).sort(), `${file} ${name}: ko keys vs en keys`).toEqual(Object.keys(table.en).sort());
        for (const [key, en] of Object.entries(table.en)) {
          const ko = table.ko[key] ?? '';
          expect(en.trim(), `${file} ${name} en ${key}`).not.toBe('');
          expect(ko.trim(), `${file} ${name} ko ${key}`).not.toBe('');
          expect(placeholders(ko), `${file} ${name} ${key}: placeholders`).toEqual(placeholders(en));
        }
      }
    });
  }
});
