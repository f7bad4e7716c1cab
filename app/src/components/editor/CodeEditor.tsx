'use client';
// The editor widget: Monaco from our own server (/monaco/vs, copied there by
// app/scripts/copy-monaco.ts; never a CDN), the Dockerfile language service in the browser,
// build annotations in the gutter and a learner error as a marker at its line. Load it with
// next/dynamic and ssr:false (see ./index.ts): Monaco needs a browser.
import { useEffect, useRef, useState } from 'react';
import Editor, { loader, type OnMount } from '@monaco-editor/react';
import type * as Monaco from 'monaco-editor';
import { useLocale, useT } from '../../lib/i18n/client';
import type { BuildView } from '../../lib/run-store';
import { DOCKERFILE_LANGUAGE, LINT_OWNER, lint, registerDockerfileLanguage } from './language-service';
import { isDockerfilePath } from './paths';
import { lineAnnotations } from './gutter';
import { messages } from './messages';
import styles from './editor.module.css';

const BUILD_OWNER = 'build';
const LINT_DEBOUNCE_MS = 250;

loader.config({ paths: { vs: '/monaco/vs' } });

// Monaco's own UI (context menu, find widget) reads its language once, when it loads, from a
// messages script that sets a global. The AMD build's `vs/nls` option waits for a define() that
// script never makes, so it is loaded here first. A later switch applies after a reload.
let uiLanguage: Promise<void> | null = null;
function loadMonacoLanguage(locale: string): Promise<void> {
  uiLanguage ??=
    locale === 'en'
      ? Promise.resolve()
      : new Promise((resolve) => {
          const script = document.createElement('script');
          script.src = `/monaco/vs/nls/lang/${locale}.js`;
          script.onload = script.onerror = () => resolve();
          document.head.appendChild(script);
        });
  return uiLanguage;
}

/** Starts loading Monaco now (the page calls it at once, so it loads while the files are fetched). */
export function preloadMonaco(locale: string): Promise<unknown> {
  return loadMonacoLanguage(locale).then(() => loader.init());
}

export interface CodeEditorProps {
  /** The workspace path of the open file (one Monaco model per path keeps each file's undo history). */
  path: string;
  /** The file's content as loaded. The editor owns the text while the learner types (a
   * controlled value would race keystrokes); a new `revision` pushes `value` in again, e.g.
   * after another tab changed the file. */
  value: string;
  revision: number;
  onChange(value: string): void;
  readOnly?: boolean;
  /** The last build of this Dockerfile, for the gutter; null before any. */
  build?: BuildView | null;
  selectedStep?: number | null;
  /** A gutter mark or layer note was clicked: show that step's layer. */
  onSelectLayer?(step: number): void;
  /** A learner error of the last build, at its line, already in the reader's language. */
  buildError?: { line: number; column?: number; message: string } | null;
  /** Move the cursor to this line and focus the editor (a new object each time it is asked). */
  reveal?: { line: number } | null;
}

export function CodeEditor(props: CodeEditorProps) {
  const { locale } = useLocale();
  const t = useT(messages);
  const [languageReady, setLanguageReady] = useState(false);
  useEffect(() => {
    void loadMonacoLanguage(locale).then(() => setLanguageReady(true));
  }, [locale]);
  const editorRef = useRef<Monaco.editor.IStandaloneCodeEditor | null>(null);
  const monacoRef = useRef<typeof Monaco | null>(null);
  const decorations = useRef<Monaco.editor.IEditorDecorationsCollection | null>(null);
  const latest = useRef({ ...props, locale });
  latest.current = { ...props, locale };
  const dockerfile = isDockerfilePath(props.path);

  const onMount: OnMount = (editor, monaco) => {
    editorRef.current = editor;
    monacoRef.current = monaco;
    registerDockerfileLanguage(monaco);
    decorations.current = editor.createDecorationsCollection();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const relint = () => {
      const model = editor.getModel();
      if (!model) return;
      const markers = model.getLanguageId() === DOCKERFILE_LANGUAGE ? lint(model.getValue(), latest.current.locale) : [];
      monaco.editor.setModelMarkers(model, LINT_OWNER, markers);
    };
    editor.onDidChangeModelContent(() => {
      clearTimeout(timer);
      timer = setTimeout(relint, LINT_DEBOUNCE_MS);
    });
    editor.onDidChangeModel(relint);
    relint();
    // The keyboard's way to what a click on the gutter does (also in the context menu).
    editor.addAction({
      id: 'layercake.showLayer',
      label: t('editor.action.showLayer'),
      keybindings: [monaco.KeyMod.Alt | monaco.KeyCode.KeyL],
      contextMenuGroupId: 'navigation',
      precondition: undefined,
      run: (ed) => {
        const line = ed.getPosition()?.lineNumber;
        const { build, onSelectLayer } = latest.current;
        const step = build?.steps.find((s) => s.line === line);
        if (step && onSelectLayer) onSelectLayer(step.step);
      },
    });
    editor.onMouseDown((e) => {
      const line = e.target.position?.lineNumber;
      const T = monaco.editor.MouseTargetType;
      const onMark =
        e.target.type === T.GUTTER_GLYPH_MARGIN ||
        e.target.type === T.GUTTER_LINE_DECORATIONS ||
        // The layer note after the line is injected text: known by its class, not its position.
        (e.target.type === T.CONTENT_TEXT && (e.target.element?.classList.contains(styles.note ?? 'note') ?? false));
      if (!onMark || line === undefined) return;
      const { build, onSelectLayer } = latest.current;
      const step = build?.steps.find((s) => s.line === line);
      if (step && onSelectLayer) onSelectLayer(step.step);
    });
    paint();
  };

  // Gutter marks and the build error follow the run store and the open file.
  function paint() {
    const editor = editorRef.current;
    const monaco = monacoRef.current;
    const model = editor?.getModel();
    if (!editor || !monaco || !model) return;
    const { build, selectedStep, buildError, path } = latest.current;
    const annotations = isDockerfilePath(path) ? lineAnnotations(build ?? null, selectedStep ?? null, locale) : [];
    decorations.current?.set(
      annotations
        .filter((a) => a.line <= model.getLineCount())
        .map((a) => {
          const end = model.getLineMaxColumn(a.line);
          return {
            range: new monaco.Range(a.line, end, a.line, end),
            options: {
              glyphMarginClassName: `${styles.mark} ${styles[a.mark]} ${a.selected ? styles.selected : ''}`,
              glyphMarginHoverMessage: { value: a.hover },
              after: { content: `  ${a.note}`, inlineClassName: `${styles.note} ${styles[`note_${a.mark}`] ?? ''}`, cursorStops: monaco.editor.InjectedTextCursorStops.None },
              hoverMessage: { value: a.hover },
              // The range is empty (the line's end): without this Monaco drops the injected note.
              showIfCollapsed: true,
              stickiness: monaco.editor.TrackedRangeStickiness.NeverGrowsWhenTypingAtEdges,
            },
          };
        }),
    );
    const markers: Monaco.editor.IMarkerData[] =
      buildError && isDockerfilePath(path) && buildError.line <= model.getLineCount()
        ? [
            {
              severity: monaco.MarkerSeverity.Error,
              message: t('editor.buildError', { message: buildError.message }),
              startLineNumber: buildError.line,
              startColumn: buildError.column ?? model.getLineFirstNonWhitespaceColumn(buildError.line) ?? 1,
              endLineNumber: buildError.line,
              endColumn: model.getLineMaxColumn(buildError.line),
            },
          ]
        : [];
    monaco.editor.setModelMarkers(model, BUILD_OWNER, markers);
  }

  useEffect(paint);

  useEffect(() => {
    const model = editorRef.current?.getModel();
    if (model && model.getValue() !== latest.current.value) model.setValue(latest.current.value);
  }, [props.path, props.revision]);

  useEffect(() => {
    const editor = editorRef.current;
    if (!editor || !props.reveal) return;
    editor.revealLineInCenter(props.reveal.line);
    editor.setPosition({ lineNumber: props.reveal.line, column: 1 });
    editor.focus();
  }, [props.reveal]);

  return (
    <div className={styles.wrap}>
      <div className={styles.editor}>
        {!languageReady ? <p className={styles.loading}>{t('editor.loading')}</p> : <Editor
          path={props.path}
          defaultValue={props.value}
          {...(dockerfile ? { language: DOCKERFILE_LANGUAGE } : {})}
          theme="vs-dark"
          onChange={(value) => props.onChange(value ?? '')}
          onMount={onMount}
          loading={<p className={styles.loading}>{t('editor.loading')}</p>}
          options={{
            ariaLabel: t('editor.label', { path: props.path }),
            readOnly: props.readOnly ?? false,
            glyphMargin: dockerfile,
            minimap: { enabled: false },
            fontSize: 14,
            lineNumbersMinChars: 3,
            scrollBeyondLastLine: false,
            automaticLayout: true,
            tabSize: 2,
            renderWhitespace: 'selection',
            fixedOverflowWidgets: true,
            wordWrap: 'off',
          }}
        />}
      </div>
      <p className={styles.hint}>{t('editor.keyboardHint')}</p>
    </div>
  );
}
