/**
 * Parsing the store's JSON records (image configs, manifests, layer records) through their zod
 * schemas, each distinct text once per process. A listing reads every image three or four times
 * over (the session's names, its untagged images, their layers), and the schema check costs a
 * hundred times the JSON parse; the records never change under their names (an image's id is
 * the sha256 of its config; a layer's record is written once, before its directory is renamed
 * into place), so a text checked once need not be checked again.
 *
 * What is kept is the schema's output as JSON, keyed by the file's text: a record changed on disk
 * is a new text and is checked anew, and each caller gets an object of its own (callers may
 * change what they are given). The output of these schemas is plain JSON (strings, numbers,
 * arrays, objects; the digest transform only narrows a type), so it survives the round trip.
 */
import type { z } from 'zod';

/** Distinct texts kept per process: a store holds a few hundred images; past this, start over. */
const MAX_ENTRIES = 4096;

const checked = new WeakMap<z.ZodType, Map<string, string>>();

export function parseRecord<S extends z.ZodType>(schema: S, text: string): z.output<S> {
  let bySchema = checked.get(schema);
  if (bySchema === undefined) checked.set(schema, (bySchema = new Map()));
  const known = bySchema.get(text);
  if (known !== undefined) return JSON.parse(known) as z.output<S>;
  const parsed = schema.parse(JSON.parse(text));
  if (bySchema.size >= MAX_ENTRIES) bySchema.clear();
  bySchema.set(text, JSON.stringify(parsed));
  return parsed;
}
