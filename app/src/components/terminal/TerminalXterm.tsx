'use client';
// The interactive terminal of one container: xterm.js on a TerminalConnection. Bytes go to xterm
// as they come (it alone decodes UTF-8), and each write's callback acks what is on screen, so a
// flood (`yes`, a 50 MB cat) holds the container back instead of the tab. The size follows the
// pane (ResizeObserver → fit → resize sent to the container). Copy: select, then Ctrl+C / ⌘C
// (Ctrl+C without a selection is the shell's interrupt); paste: Ctrl+V / ⌘V or a right click.
// IME composition (Korean) is xterm's: composed text arrives through onData like any input.
// A hidden page stops being a viewer (it would hold the container back at its throttled pace).
// Loaded in the browser only (see index.tsx).
import { useEffect, useRef, useState } from 'react';
import { Terminal as Xterm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import type { ErrorPayload } from '../../../../protocol/errors';
import { getSocket } from '../../lib/socket';
import { TERMINAL_FONT_FAMILY, TERMINAL_LINE_HEIGHT, terminalFontReady } from '../../lib/terminal-font';
import { useErrorText, useT } from '../../lib/i18n/client';
import { messages } from './messages';
import { directSocketOpener, TerminalConnection, type TerminalStatus } from './terminal-connection';
import styles from './terminal.module.css';

export interface TerminalProps {
  /** The container's id (full or short) or name, in the learner's session. */
  containerId: string;
  /** Accessible name of the terminal's region; default "Terminal" / "터미널" in the page's language. */
  label?: string;
  /** Told of every status change (connecting, connected, reconnecting, exited with its code, failed). */
  onStatus?: (status: TerminalStatus) => void;
  /** Focus the terminal once it is ready. */
  autoFocus?: boolean;
  /** The learner typed or pasted (the engine counts it as activity; the page's idle timer should too). */
  onInput?: () => void;
  className?: string;
}

const encoder = new TextEncoder();
/**
 * The page hears "the learner typed" at most this often: it re-renders for it (the idle timer
 * counts minutes), and a render per keystroke sat between the keystroke and its echo.
 */
const INPUT_NOTICE_MS = 1_000;

function latin1Bytes(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i) & 0xff;
  return bytes;
}

export default function TerminalXterm({ containerId, label, onStatus, autoFocus, onInput, className }: TerminalProps) {
  const t = useT(messages);
  const errorText = useErrorText();
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<TerminalStatus>({ state: 'connecting' });
  const [notice, setNotice] = useState<ErrorPayload | null>(null);
  const statusListener = useRef(onStatus);
  statusListener.current = onStatus;
  const inputListener = useRef(onInput);
  inputListener.current = onInput;

  useEffect(() => {
    // xterm measures its cells when it opens: only once the wide face is in (lib/terminal-font.ts).
    let stop: (() => void) | null = null;
    let disposed = false;
    void terminalFontReady().then(() => {
      if (!disposed) stop = start();
    });
    return () => {
      disposed = true;
      stop?.();
    };

    function start(): () => void {
      const element = host.current!;
      let noticeTimer: ReturnType<typeof setTimeout> | undefined;
      const term = new Xterm({
        // A steady cursor (as VS Code's terminal and WeTTY): xterm blinks it with a CSS animation
        // that restyles the page every frame (~60 a second), and an echo arriving meanwhile
        // waited behind that frame (4-8 ms of a keystroke's round trip in /play).
        cursorBlink: false,
        fontSize: 13,
        lineHeight: TERMINAL_LINE_HEIGHT,
        fontFamily: TERMINAL_FONT_FAMILY,
        scrollback: 10_000,
        macOptionIsMeta: true,
        theme: { background: '#161922', foreground: '#e8ebf2', cursor: '#e8ebf2', selectionBackground: '#3d5a99' },
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(element);
      // The e2e suite and bench/terminal-latency.ts read the buffer itself (the DOM shows only the screen).
      (element as HTMLDivElement & { xterm?: Xterm }).xterm = term;

      const connection = new TerminalConnection(getSocket(), containerId, {
        write: (data, offset) => term.write(data, () => connection.rendered(offset)),
        status: (next) => {
          setStatus(next);
          statusListener.current?.(next);
        },
        notice: (error) => {
          setNotice(error);
          clearTimeout(noticeTimer);
          noticeTimer = setTimeout(() => setNotice(null), 8_000);
        },
      }, { openDirect: directSocketOpener(window.location.href) });

      const copySelection = () => {
        const text = term.getSelection();
        if (text) void navigator.clipboard?.writeText(text).catch(() => undefined);
      };
      term.attachCustomKeyEventHandler((e) => {
        if (e.type !== 'keydown') return true;
        const key = e.key.toLowerCase();
        const mod = e.ctrlKey || e.metaKey;
        if (mod && key === 'c' && (term.hasSelection() || e.shiftKey)) {
          copySelection();
          e.preventDefault();
          return false;
        }
        // Let the browser paste into xterm's textarea (xterm turns the paste event into input).
        if (mod && key === 'v' && !e.altKey) return false;
        return true;
      });
      const onContextMenu = (e: MouseEvent) => {
        e.preventDefault();
        void navigator.clipboard?.readText().then((text) => text && term.paste(text), () => undefined);
      };
      element.addEventListener('contextmenu', onContextMenu);

      let inputNoticedAt = -Infinity;
      const noticeInput = () => {
        const now = performance.now();
        if (now - inputNoticedAt < INPUT_NOTICE_MS) return;
        inputNoticedAt = now;
        inputListener.current?.();
      };
      const typed = term.onData((text) => {
        connection.input(encoder.encode(text));
        noticeInput();
      });
      const binary = term.onBinary((bytes) => {
        connection.input(latin1Bytes(bytes));
        noticeInput();
      });
      const resized = term.onResize(({ rows, cols }) => connection.resize(rows, cols));
      const refit = () => {
        try {
          fit.fit();
        } catch {
          // Hidden (no size): nothing to fit until it shows again.
        }
      };
      refit();
      connection.resize(term.rows, term.cols);
      const observer = new ResizeObserver(refit);
      observer.observe(element);
      const onVisibility = () => connection.setVisible(document.visibilityState !== 'hidden');
      document.addEventListener('visibilitychange', onVisibility);
      onVisibility();
      if (autoFocus) term.focus();

      return () => {
        observer.disconnect();
        document.removeEventListener('visibilitychange', onVisibility);
        element.removeEventListener('contextmenu', onContextMenu);
        typed.dispose();
        binary.dispose();
        resized.dispose();
        connection.dispose();
        clearTimeout(noticeTimer);
        term.dispose();
      };
    }
  }, [containerId, autoFocus]);

  const statusText =
    status.state === 'exited'
      ? t('terminal.status.exited', { exitCode: status.exitCode })
      : status.state === 'failed'
        ? t('terminal.status.failed', { reason: errorText(status.error) })
        : t(`terminal.status.${status.state}`);

  return (
    <section className={`${styles.terminal} ${className ?? ''}`} aria-label={label ?? t('terminal.region')} data-state={status.state}>
      <p className={styles.status} role="status" aria-live="polite" data-state={status.state}>
        <span className={styles.dot} aria-hidden="true" />
        {statusText}
      </p>
      {notice && (
        <p className={styles.notice} role="alert">
          {errorText(notice)}
        </p>
      )}
      <div className={styles.screen} ref={host} title={t('terminal.copyHint')} />
    </section>
  );
}
