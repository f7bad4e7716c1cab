'use client';
// The session's images, as `docker images` shows them (id, tags, size, shared size), each with
// its history and a Remove button. Removal goes to the engine, which refuses it as Docker does
// while a container uses the image; its learner error is shown on the image's row.
import { useState } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import type { Locale } from '../../lib/i18n/locale';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import { formatBytes } from '../../lib/i18n/units';
import type { ImageRow } from '../../lib/run-store';
import { shortId } from '../layers/format';
import { readHistory } from '../session/engine-results';
import { usePlaySession } from '../session/PlaySession';
import { messages } from './messages';
import styles from './images.module.css';

export function ImagesList() {
  const t = useT(messages);
  const { session } = usePlaySession();
  const images = session.images;
  return (
    <section className={styles.section} aria-labelledby="images-heading">
      <h2 id="images-heading" className={styles.heading}>{t('images.title')}</h2>
      {images === null ? (
        <p className={styles.muted}>{t('images.loading')}</p>
      ) : images.length === 0 ? (
        <p className={styles.muted}>{t('images.empty')}</p>
      ) : (
        <ul className={styles.list} aria-label={t('images.title')}>
          {images.map((image) => (
            <ImageItem key={image.id} image={image} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ImageItem({ image }: { image: ImageRow }) {
  const t = useT(messages);
  const { locale } = useLocale();
  const errorText = useErrorText();
  const { session, imageOp, refreshImages, dispatchSession } = usePlaySession();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<ErrorPayload | null>(null);
  const name = image.tags[0] ?? t('images.untagged');
  const ref = image.tags[0] ?? image.id;
  const history = session.history[image.id];
  const historyId = `history-${shortId(image.id)}`;

  async function toggleHistory() {
    const next = !open;
    setOpen(next);
    if (next && !history) {
      const reply = await imageOp({ op: 'history', image: image.id });
      const read = reply.ok ? readHistory(reply.result) : null;
      if (read) dispatchSession({ type: 'historyLoaded', imageId: image.id, rows: read.rows });
      else if (!reply.ok) setFailure(reply.error);
    }
  }

  async function remove() {
    setBusy(true);
    setFailure(null);
    const reply = await imageOp({ op: 'rmi', image: ref });
    setBusy(false);
    if (!reply.ok) setFailure(reply.error);
    else void refreshImages();
  }

  // Refused as Docker refuses it while a container uses the image. The engine's words suggest
  // --force, a command-line flag this page does not have: say what to do here instead.
  const users = Object.values(session.containers).filter((c) => c.imageId === image.id && c.status !== 'removed');
  const failureText = !failure
    ? null
    : failure.kind === 'learner' && failure.key === 'image.conflict' && users.length > 0
      ? t('images.inUse', { image: name, containers: users.map((c) => c.name).join(', ') })
      : errorText(failure);

  return (
    <li className={styles.item}>
      <div className={styles.row}>
        <div className={styles.names}>
          {image.tags.length === 0 ? <code className={styles.untagged}>{name}</code> : image.tags.map((tag) => <code key={tag} className={styles.tag}>{tag}</code>)}
          {image.base && <span className={styles.badge}>{t('images.base')}</span>}
        </div>
        <div className={styles.facts}>
          <span>{t('images.id', { id: shortId(image.id) })}</span>
          <span>{t('images.size', { size: formatBytes(image.sizeBytes, locale) })}</span>
          <span>{t('images.shared', { size: formatBytes(image.sharedSizeBytes, locale) })}</span>
          <span>{t('images.layers', { count: image.layers })}</span>
          {image.containers > 0 && <span className={styles.inUse}>{t('images.containers', { count: image.containers })}</span>}
          {image.created && <span>{relativeTime(image.created, locale)}</span>}
        </div>
        <div className={styles.actions}>
          <button type="button" className={styles.button} aria-expanded={open} aria-controls={historyId} onClick={() => void toggleHistory()}>
            {t('images.history')}
          </button>
          <button
            type="button"
            className={styles.button}
            disabled={busy || image.base}
            title={image.base ? t('images.baseNote') : undefined}
            aria-label={t('images.removeLabel', { image: name })}
            onClick={() => void remove()}
          >
            {t('images.remove')}
          </button>
        </div>
      </div>
      {failureText && <p className={styles.error} role="alert">{failureText}</p>}
      {open && (
        <div id={historyId} className={styles.history}>
          {history ? (
            <table>
              <caption className="visually-hidden">{t('images.historyOf', { image: name })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('images.col.createdBy')}</th>
                  <th scope="col">{t('images.col.size')}</th>
                  <th scope="col">{t('images.col.created')}</th>
                </tr>
              </thead>
              <tbody>
                {history.map((row, i) => (

                    <tr key={i} className={row.emptyLayer ? styles.empty : undefined}>
                      <td><code>{row.createdBy}</code></td>
                      <td>{formatBytes(row.sizeBytes, locale)}</td>
                      <td>{row.created ? relativeTime(row.created, locale) : t('images.missing')}</td>
                    </tr>

                ))}
              </tbody>
            </table>
          ) : (
            <p className={styles.muted}>{t('images.loading')}</p>
          )}
        </div>
      )}
    </li>
  );
}

function relativeTime(iso: string, locale: Locale): string {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return iso;
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return format.format(Math.round(seconds), 'second');
  if (abs < 3600) return format.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86400), 'day');
}
