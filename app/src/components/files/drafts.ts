// Edits not yet confirmed by the server, kept in this browser (localStorage) from the keystroke
// until the gateway acknowledges the write. A reload, a crash or a dropped connection before the
// debounced save lands loses nothing: the next load pushes the drafts to the server first.
const PREFIX = 'layercake.draft:';

export interface Draft {
  path: string;
  content: string;
  atMs: number;
}

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export function saveDraft(path: string, content: string): void {
  try {
    storage()?.setItem(PREFIX + path, JSON.stringify({ content, atMs: Date.now() }));
  } catch {
    // Storage full or refused: the server save still runs; only the crash safety net is gone.
  }
}

/** Drops the draft once the server holds exactly this content (a newer edit keeps its draft). */
export function dropDraft(path: string, savedContent?: string): void {
  const s = storage();
  if (!s) return;
  if (savedContent !== undefined) {
    const draft = readDraft(path);
    if (draft && draft.content !== savedContent) return;
  }
  s.removeItem(PREFIX + path);
}

export function readDraft(path: string): Draft | null {
  const raw = storage()?.getItem(PREFIX + path);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as { content?: unknown; atMs?: unknown };
    if (typeof parsed.content !== 'string') return null;
    return { path, content: parsed.content, atMs: typeof parsed.atMs === 'number' ? parsed.atMs : 0 };
  } catch {
    return null;
  }
}

export function allDrafts(): Draft[] {
  const s = storage();
  if (!s) return [];
  const drafts: Draft[] = [];
  for (let i = 0; i < s.length; i++) {
    const key = s.key(i);
    if (!key?.startsWith(PREFIX)) continue;
    const draft = readDraft(key.slice(PREFIX.length));
    if (draft) drafts.push(draft);
  }
  return drafts;
}
