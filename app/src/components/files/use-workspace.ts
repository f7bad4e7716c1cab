'use client';
// The learner's build context as the page sees it: the file list, the open file, and saving.
// Every change goes to the gateway (files:* over lib/socket.ts; uploads over HTTP), which keeps
// the files per session; edits are saved a moment after typing stops (and at least every few
// seconds while it goes on), and kept as drafts in this browser until the server confirms them.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import type { ErrorPayload } from '../../../../protocol/errors';
import { WORKSPACE_LIMITS, workspacePath, type FileInfo, type FilesChanged } from '../../../../protocol/socket/files';
import { getSocket, on, onConnection, request, uploadFile } from '../../lib/socket';
import { useLocale } from '../../lib/i18n/client';
import { formatBinaryBytes } from '../../lib/i18n/units';
import { allDrafts, dropDraft, readDraft, saveDraft } from './drafts';
import { messages } from './messages';

export type Limits = typeof WORKSPACE_LIMITS;
export type SaveState = 'saved' | 'saving' | 'unsaved' | 'error' | 'offline';

const SAVE_DEBOUNCE_MS = 600;
const SAVE_MAX_WAIT_MS = 3000;
const OPEN_KEY = 'layercake.open';

export interface OpenFile {
  path: string;
  /** null for a binary file (not editable here). As opened or last pushed in: typing changes the
   * editor's text, not this (the page does not re-render per keystroke). */
  content: string | null;
  info: FileInfo;
  /** Changes when the content came from the server rather than from typing. */
  revision: number;
}

export interface Workspace {
  ready: boolean;
  files: FileInfo[];
  limits: Limits;
  usedBytes: number;
  open: OpenFile | null;
  saveState: SaveState;
  /** The last refusal or failure, for the file tree to announce. */
  error: ErrorPayload | null;
  clearError(): void;
  openFile(path: string): Promise<void>;
  edit(content: string): void;
  create(path: string, content?: string): Promise<ErrorPayload | null>;
  rename(from: string, to: string): Promise<ErrorPayload | null>;
  remove(path: string): Promise<ErrorPayload | null>;
  upload(files: readonly File[], directory?: string): Promise<ErrorPayload | null>;
  /** Saves what is pending now (before a build); resolves false if it could not. */
  flush(): Promise<boolean>;
}

function learner(key: string, facts: Record<string, string | number> = {}): ErrorPayload {
  return { kind: 'learner', key, facts };
}

function sorted(files: FileInfo[]): FileInfo[] {
  return [...files].sort((a, b) => a.path.localeCompare(b.path));
}

export function useWorkspace(): Workspace {
  const { locale } = useLocale();
  const [ready, setReady] = useState(false);
  const [files, setFiles] = useState<FileInfo[]>([]);
  const [limits, setLimits] = useState<Limits>(WORKSPACE_LIMITS);
  const [open, setOpenState] = useState<OpenFile | null>(null);
  const [saveState, setSaveStateOnly] = useState<SaveState>('saved');
  const shownSaveState = useRef<SaveState>('saved');
  const setSaveState = useCallback((state: SaveState) => {
    shownSaveState.current = state;
    setSaveStateOnly(state);
  }, []);
  const [error, setError] = useState<ErrorPayload | null>(null);

  // What is being edited and what the server last confirmed, outside React's render cycle.
  const pending = useRef<{ path: string; content: string; firstEditMs: number } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const inFlight = useRef<Promise<boolean> | null>(null);
  // Set with the state, not at the next render: a busy page can go several keystrokes without
  // rendering, and an edit compared with an older text was dropped when it matched that text
  // (typing a line back to what it was saved the half-typed line instead).
  const openRef = useRef<OpenFile | null>(null);
  const setOpen = useCallback((next: OpenFile | null) => {
    openRef.current = next;
    setOpenState(next);
  }, []);

  const fmt = useCallback((n: number) => formatBinaryBytes(n, locale), [locale]);

  const upsert = useCallback((file: FileInfo) => {
    setFiles((list) => sorted([...list.filter((f) => f.path !== file.path), file]));
  }, []);

  /** Writes the pending edit; one write at a time, then again if typing went on meanwhile. */
  const save = useCallback(async (): Promise<boolean> => {
    clearTimeout(timer.current);
    if (inFlight.current) await inFlight.current;
    const edit = pending.current;
    if (!edit) return true;
    pending.current = null;
    setSaveState('saving');
    const run = (async () => {
      const reply = await request('files:write', { path: edit.path, content: edit.content });
      if (reply.ok) {
        dropDraft(edit.path, edit.content);
        upsert(reply.file);
        if (!pending.current) setSaveState('saved');
        return true;
      }
      // Keep the edit pending (and its draft) so the next change or reconnect retries it.
      if (!pending.current) pending.current = edit;
      const offline = reply.error.kind === 'learner' && (reply.error.key === 'socket.offline' || reply.error.key === 'socket.timeout');
      setSaveState(offline ? 'offline' : 'error');
      if (!offline) setError(reply.error);
      return false;
    })();
    inFlight.current = run;
    const ok = await run;
    inFlight.current = null;
    if (pending.current && ok) return save();
    return ok;
  }, [setSaveState, upsert]);

  const edit = useCallback(
    (content: string) => {
      const current = openRef.current;
      if (!current || current.content === null || content === current.content) return;
      const now = Date.now();
      const firstEditMs = pending.current?.path === current.path ? pending.current.firstEditMs : now;
      pending.current = { path: current.path, content, firstEditMs };
      saveDraft(current.path, content);
      // The editor shows the text: a keystroke changes the ref, not the state, so the page does
      // not re-render per keystroke; only the badge does, once per burst of typing, and at once.
      // Monaco takes typing through EditContext's textupdate events, which React does not count
      // as discrete input: an update there waited for a normal-priority task, which Chromium
      // runs after pending input and frames, so on a busy machine the badge stayed "Saved" for
      // a typed line (measured: files/README.md).
      openRef.current = { ...current, content };
      if (shownSaveState.current !== 'unsaved') flushSync(() => setSaveState('unsaved'));
      clearTimeout(timer.current);
      const wait = now - firstEditMs >= SAVE_MAX_WAIT_MS ? 0 : SAVE_DEBOUNCE_MS;
      timer.current = setTimeout(() => void save(), wait);
    },
    [save, setOpen, setSaveState],
  );

  const openFile = useCallback(
    async (path: string) => {
      if (pending.current) await save();
      const reply = await request('files:read', { path });
      if (!reply.ok) {
        setError(reply.error);
        return;
      }
      const { content, encoding, ...info } = reply.file;
      const text = info.text && encoding === 'utf8' ? content : null;
      setOpen({ path, content: text, info, revision: Date.now() });
      try {
        localStorage.setItem(OPEN_KEY, path);
      } catch {
        // Only which file reopens after a reload is lost.
      }
    },
    [save, setOpen],
  );

  const create = useCallback(
    async (path: string, content = ''): Promise<ErrorPayload | null> => {
      const check = workspacePath.safeParse(path);
      if (!check.success) return learner('files.badPath', { path });
      if (files.some((f) => f.path === path)) return learner('files.exists', { path });
      if (files.length >= limits.files) return learner('files.tooMany', { count: files.length });
      const reply = await request('files:write', { path, content });
      if (!reply.ok) return reply.error;
      upsert(reply.file);
      await openFile(path);
      return null;
    },
    [files, limits.files, openFile, upsert],
  );

  const rename = useCallback(
    async (from: string, to: string): Promise<ErrorPayload | null> => {
      if (from === to) return null;
      if (!workspacePath.safeParse(to).success) return learner('files.badPath', { path: to });
      if (files.some((f) => f.path === to)) return learner('files.exists', { path: to });
      if (pending.current?.path === from) await save();
      const reply = await request('files:rename', { from, to });
      if (!reply.ok) return reply.error;
      setFiles((list) => sorted([...list.filter((f) => f.path !== from && f.path !== to), reply.file]));
      const current = openRef.current;
      if (current?.path === from) setOpen({ ...current, path: to, info: reply.file });
      return null;
    },
    [files, save, setOpen],
  );

  const remove = useCallback(
    async (path: string): Promise<ErrorPayload | null> => {
      if (pending.current?.path === path) {
        pending.current = null;
        clearTimeout(timer.current);
        setSaveState('saved');
      }
      const reply = await request('files:delete', { path });
      if (!reply.ok) return reply.error;
      dropDraft(path);
      setFiles((list) => list.filter((f) => f.path !== path));
      if (openRef.current?.path === path) setOpen(null);
      return null;
    },
    [setOpen, setSaveState],
  );

  const upload = useCallback(
    async (chosen: readonly File[], directory = ''): Promise<ErrorPayload | null> => {
      // Checked before a byte is sent, with the gateway's own messages; the gateway enforces them again.
      let total = files.reduce((sum, f) => sum + f.sizeBytes, 0);
      let count = files.length;
      for (const file of chosen) {
        const path = directory ? `${directory}/${file.name}` : file.name;
        if (!workspacePath.safeParse(path).success) return learner('files.badPath', { path });
        if (file.size > limits.fileBytes) return learner('files.tooLarge', { path, size: fmt(file.size), limit: fmt(limits.fileBytes) });
        const replaced = files.find((f) => f.path === path)?.sizeBytes ?? 0;
        total += file.size - replaced;
        if (!replaced) count += 1;
        if (total > limits.totalBytes) return learner('files.workspaceFull', { size: fmt(total), limit: fmt(limits.totalBytes) });
        if (count > limits.files) return learner('files.tooMany', { count: files.length });
      }
      for (const file of chosen) {
        const path = directory ? `${directory}/${file.name}` : file.name;
        const reply = await uploadFile(path, file);
        if (!reply.ok) return reply.error;
        upsert(reply.file);
      }
      return null;
    },
    [files, limits, fmt, upsert],
  );

  // First load: the list, then any drafts a previous page left unsaved, then the file to show.
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      const reply = await request('files:list', {});
      if (cancelled) return;
      if (!reply.ok) {
        setError(reply.error);
        return;
      }
      let list = sorted(reply.files);
      setLimits(reply.limits);
      for (const draft of allDrafts()) {
        const written = await request('files:write', { path: draft.path, content: draft.content });
        if (written.ok) {
          dropDraft(draft.path, draft.content);
          list = sorted([...list.filter((f) => f.path !== draft.path), written.file]);
        } else {
          // Refused (e.g. over a limit): say so; the draft stays until an edit replaces it.
          setError(written.error);
        }
      }
      if (cancelled) return;
      setFiles(list);
      setReady(true);
      let last: string | null = null;
      try {
        last = localStorage.getItem(OPEN_KEY);
      } catch {
        last = null;
      }
      const first = list.find((f) => f.path === last && f.text) ?? list.find((f) => f.path === 'Dockerfile') ?? list.find((f) => f.text);
      if (first) await openFile(first.path);
    })();
    return () => {
      cancelled = true;
    };
    // Once per page (the gateway gives a new session its starter files).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Other tabs of the same session change files too; their echo is ignored here.
  useEffect(
    () =>
      on('files:changed', (change: FilesChanged) => {
        if (change.origin && change.origin === getSocket().id) return;
        const current = openRef.current;
        if (change.change === 'deleted') {
          setFiles((list) => list.filter((f) => f.path !== change.path));
          if (current?.path === change.path && !pending.current) setOpen(null);
          return;
        }
        if (change.change === 'renamed') {
          setFiles((list) => sorted([...list.filter((f) => f.path !== change.from && f.path !== change.file.path), change.file]));
          if (current?.path === change.from) setOpen({ ...current, path: change.file.path, info: change.file });
          return;
        }
        upsert(change.file);
        if (current?.path === change.file.path && !pending.current && !readDraft(current.path)) void openFile(current.path);
      }),
    [openFile, setOpen, upsert],
  );

  // Back online: retry what is pending.
  useEffect(
    () =>
      onConnection((connected) => {
        if (connected && pending.current) void save();
      }),
    [save],
  );

  // Leaving the page: try to save now (the draft covers it if the socket cannot finish).
  useEffect(() => {
    const leave = () => {
      if (pending.current) void save();
    };
    window.addEventListener('pagehide', leave);
    return () => window.removeEventListener('pagehide', leave);
  }, [save]);

  const usedBytes = useMemo(() => files.reduce((sum, f) => sum + f.sizeBytes, 0), [files]);

  return {
    ready,
    files,
    limits,
    usedBytes,
    open,
    saveState,
    error,
    clearError: () => setError(null),
    openFile,
    edit,
    create,
    rename,
    remove,
    upload,
    flush: save,
  };
}
