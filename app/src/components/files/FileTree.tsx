'use client';
// The build context's files: open, add, rename, delete, upload. One button per file in a list;
// arrow keys move between them (one tab stop for the whole list), Enter opens, F2 renames and
// Delete deletes, and the open file's Rename/Delete buttons follow it in the tab order.
import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import { formatBinaryBytes } from '../../lib/i18n/units';
import { isDockerfilePath } from '../editor/paths';
import { messages } from './messages';
import type { Workspace } from './use-workspace';
import styles from './files.module.css';

export function FileTree({ workspace }: { workspace: Workspace }) {
  const t = useT(messages);
  const { locale } = useLocale();
  const errorText = useErrorText();
  const titleId = useId();
  const keysId = useId();
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [focused, setFocused] = useState<string | null>(null);
  const [notice, setNotice] = useState<string>('');
  const [localError, setLocalError] = useState<ErrorPayload | null>(null);
  const uploadRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const { files, open, limits } = workspace;
  const fmt = (n: number) => formatBinaryBytes(n, locale);
  const error = localError ?? workspace.error;
  const active = focused && files.some((f) => f.path === focused) ? focused : (open?.path ?? files[0]?.path ?? null);

  const report = (e: ErrorPayload | null) => {
    setLocalError(e);
    if (e === null) workspace.clearError();
  };

  const focusFile = (path: string) => {
    setFocused(path);
    requestAnimationFrame(() => listRef.current?.querySelector<HTMLButtonElement>(`[data-path="${CSS.escape(path)}"]`)?.focus());
  };

  const remove = async (path: string) => {
    if (!window.confirm(t('files.confirmDelete', { path }))) return;
    const index = files.findIndex((f) => f.path === path);
    report(await workspace.remove(path));
    const next = files[index + 1] ?? files[index - 1];
    if (next && next.path !== path) focusFile(next.path);
  };

  const onListKey = (e: KeyboardEvent<HTMLUListElement>) => {
    if (renaming || !active) return;
    const index = files.findIndex((f) => f.path === active);
    const move = (to: number) => {
      const target = files[Math.max(0, Math.min(files.length - 1, to))];
      if (target) focusFile(target.path);
      e.preventDefault();
    };
    if (e.key === 'ArrowDown') move(index + 1);
    else if (e.key === 'ArrowUp') move(index - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(files.length - 1);
    else if (e.key === 'F2') {
      e.preventDefault();
      setRenaming(active);
    } else if (e.key === 'Delete') {
      e.preventDefault();
      void remove(active);
    }
  };

  const onCreate = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget).get('name') ?? '').trim();
    if (!name) return;
    const failed = await workspace.create(name);
    report(failed);
    if (!failed) {
      setCreating(false);
      focusFile(name);
    }
  };

  const onRename = async (e: FormEvent<HTMLFormElement>, from: string) => {
    e.preventDefault();
    const to = String(new FormData(e.currentTarget).get('name') ?? '').trim();
    if (!to || to === from) {
      setRenaming(null);
      focusFile(from);
      return;
    }
    const failed = await workspace.rename(from, to);
    report(failed);
    if (!failed) {
      setRenaming(null);
      focusFile(to);
    }
  };

  const onUpload = async (list: FileList | null) => {
    if (!list || list.length === 0) return;
    const chosen = [...list];
    setNotice(t('files.uploading', { name: chosen.map((f) => f.name).join(', ') }));
    const failed = await workspace.upload(chosen);
    report(failed);
    setNotice(failed ? '' : t('files.uploaded', { names: chosen.map((f) => f.name).join(', ') }));
    if (uploadRef.current) uploadRef.current.value = '';
  };

  return (
    <section className={styles.tree} aria-labelledby={titleId}>
      <div className={styles.head}>
        <h2 id={titleId} className={styles.title}>{t('files.title')}</h2>
        <div className={styles.actions}>
          <button type="button" className={styles.button} onClick={() => setCreating(true)} aria-expanded={creating}>
            <Icon name="add" /> {t('files.new')}
          </button>
          <button type="button" className={styles.button} onClick={() => uploadRef.current?.click()}>
            <Icon name="upload" /> {t('files.upload')}
          </button>
          <input
            ref={uploadRef}
            type="file"
            multiple
            className="visually-hidden"
            tabIndex={-1}
            aria-label={t('files.uploadLabel')}
            onChange={(e) => void onUpload(e.currentTarget.files)}
          />
        </div>
      </div>
      <p className={styles.limits}>
        {t('files.limits', { fileLimit: fmt(limits.fileBytes), totalLimit: fmt(limits.totalBytes), used: fmt(workspace.usedBytes), maxFiles: limits.files })}
      </p>

      {creating && (
        <form className={styles.nameForm} onSubmit={(e) => void onCreate(e)}>
          <label className={styles.nameLabel}>
            <span>{t('files.newName')}</span>
            <input name="name" autoFocus required className={styles.input} onKeyDown={(e) => e.key === 'Escape' && setCreating(false)} />
          </label>
          <div className={styles.formButtons}>
            <button type="submit" className={styles.primary}>{t('files.create')}</button>
            <button type="button" className={styles.button} onClick={() => setCreating(false)}>{t('files.cancel')}</button>
          </div>
        </form>
      )}

      {error && (
        <div role="alert" className={styles.error}>
          <span>{errorText(error)}</span>
          <button type="button" className={styles.dismiss} onClick={() => report(null)} aria-label={t('files.cancel')}>×</button>
        </div>
      )}
      <p role="status" className={styles.notice}>{notice}</p>

      {!workspace.ready ? (
        <p className={styles.muted}>{t('files.loading')}</p>
      ) : files.length === 0 ? (
        <p className={styles.muted}>{t('files.empty')}</p>
      ) : (
        <ul ref={listRef} className={styles.list} aria-label={t('files.list')} aria-describedby={keysId} onKeyDown={onListKey}>
          {files.map((file) => {
            const isOpen = open?.path === file.path;
            return (
              <li key={file.path} className={`${styles.item} ${isOpen ? styles.open : ''}`}>
                {renaming === file.path ? (
                  <form className={styles.renameForm} onSubmit={(e) => void onRename(e, file.path)}>
                    <input
                      name="name"
                      defaultValue={file.path}
                      autoFocus
                      required
                      aria-label={t('files.renameTo', { path: file.path })}
                      className={styles.input}
                      onFocus={(e) => e.currentTarget.select()}
                      onKeyDown={(e) => {
                        if (e.key === 'Escape') {
                          setRenaming(null);
                          focusFile(file.path);
                        }
                      }}
                    />
                  </form>
                ) : (
                  <>
                    <button
                      type="button"
                      data-path={file.path}
                      className={styles.file}
                      tabIndex={file.path === active ? 0 : -1}
                      aria-current={isOpen ? 'true' : undefined}
                      title={`${file.path} · ${file.text ? fmt(file.sizeBytes) : `${t('files.binary')} · ${fmt(file.sizeBytes)}`}`}
                      onFocus={() => setFocused(file.path)}
                      onClick={() => void workspace.openFile(file.path)}
                    >
                      <FileIcon path={file.path} binary={!file.text} />
                      <span className={styles.name}>{file.path}</span>
                      {/* The open row's buttons need the room; its size stays in its title. */}
                      {file.path !== active && (
                        <span className={styles.size}>{file.text ? fmt(file.sizeBytes) : `${t('files.binary')} · ${fmt(file.sizeBytes)}`}</span>
                      )}
                    </button>
                    {file.path === active && (
                      <span className={styles.rowActions}>
                        <button type="button" className={styles.icon} onClick={() => setRenaming(file.path)} aria-label={`${t('files.rename')}: ${file.path}`} title={t('files.rename')}>
                          <Icon name="rename" />
                        </button>
                        <button type="button" className={styles.icon} onClick={() => void remove(file.path)} aria-label={`${t('files.delete')}: ${file.path}`} title={t('files.delete')}>
                          <Icon name="delete" />
                        </button>
                      </span>
                    )}
                  </>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <p id={keysId} className={styles.keys}>{t('files.keys')}</p>
    </section>
  );
}

function FileIcon({ path, binary }: { path: string; binary: boolean }) {
  if (isDockerfilePath(path)) return <Icon name="layers" className={styles.dockerIcon} />;
  return <Icon name={binary ? 'binary' : 'file'} className={styles.fileIcon} />;
}

// Small line icons drawn here (no icon font, no emoji: Debian's Chromium may lack those glyphs).
const ICONS: Record<string, string> = {
  add: 'M8 3v10M3 8h10',
  upload: 'M8 11V3M4.5 6.5 8 3l3.5 3.5M3 13h10',
  rename: 'M3 13l1-3.5L10.5 3 13 5.5 6.5 12zM9.5 4l2.5 2.5',
  delete: 'M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.7 8.5h5.6l.7-8.5',
  file: 'M4 2.5h5l3 3v8H4zM9 2.5v3h3',
  binary: 'M4 2.5h5l3 3v8H4zM6.5 8v3M9.5 8v3',
  layers: 'M2.5 11.5h11M3.5 8h9M5 4.5h6',
};

function Icon({ name, className }: { name: keyof typeof ICONS; className?: string }) {
  return (
    <svg className={`${styles.svg} ${className ?? ''}`} width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path d={ICONS[name]} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}

/** What the editor area shows for a file it cannot edit. */
export function BinaryNotice({ path, sizeBytes }: { path: string; sizeBytes: number }) {
  const t = useT(messages);
  const { locale } = useLocale();
  return <p className={styles.binaryNotice}>{t('files.binaryNotice', { path, size: formatBinaryBytes(sizeBytes, locale) })}</p>;
}

/** "Saved", "Saving…", "Unsaved changes": announced politely as it changes. */
export function SaveStatus({ state }: { state: Workspace['saveState'] }) {
  const t = useT(messages);
  const text = t(`files.save.${state}`);
  return (
    <p role="status" className={`${styles.saveStatus} ${styles[`save_${state}`] ?? ''}`} title={t('files.save.status', { state: text })}>
      <span aria-hidden="true" className={styles.saveDot} />
      {text}
    </p>
  );
}
