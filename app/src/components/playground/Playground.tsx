'use client';
// The /play page's client composition: the file tree and editor on the left, the build, the
// containers and the images in tabs on the right. Each widget brings its own logic; this file
// only places them and passes what one needs from another (the open Dockerfile to the build,
// the build to the editor's gutter, a gutter click to the layer stack). Wrap it, and the
// header's status slot (SessionTimer), in <PlaySessionProvider>: the route does.
import { useEffect, useRef, useState } from 'react';
import { useErrorText, useLocale, useT } from '../../lib/i18n/client';
import { BuildPanel } from '../build-output/BuildPanel';
import { ContainerPanel } from '../container/ContainerPanel';
import { CodeEditor, isDockerfilePath, preloadEditor } from '../editor';
import { BinaryNotice, FileTree, SaveStatus, useWorkspace } from '../files';
import { ImagesList } from '../images/ImagesList';
import { useBuildRun, usePlaySession } from '../session/PlaySession';
import { IdleWarning, LimitWarning } from '../session/SessionTimer';
import { Terminal } from '../terminal';
import { VmPanel } from '../vm/VmPanel';
import { Tabs } from './Tabs';
import { messages } from './messages';
import styles from './playground.module.css';

const BUILT_PATH_KEY = 'layercake.play.builtPath';

export function Playground() {
  const t = useT(messages);
  const errorText = useErrorText();
  const workspace = useWorkspace();
  const { session, selectLine, containerRuns, buildRunId, touched } = usePlaySession();
  const build = useBuildRun()?.build ?? null;
  const [tab, setTab] = useState('build');
  const [reveal, setReveal] = useState<{ line: number } | null>(null);
  const { open } = workspace;
  const { locale } = useLocale();

  // Monaco is the page's largest download: start it while the files are still being fetched.
  useEffect(() => preloadEditor(locale), [locale]);

  // The Dockerfile to build: the open one, else the first in the tree.
  const dockerfilePath =
    open && isDockerfilePath(open.path) ? open.path : (workspace.files.find((f) => isDockerfilePath(f.path))?.path ?? 'Dockerfile');

  // Which Dockerfile the shown build was of, so its gutter marks stay on that file (kept across a
  // reload with the run the session provider follows again).
  const [builtPath, setBuiltPath] = useState<string | null>(null);
  useEffect(() => setBuiltPath(sessionStorage.getItem(BUILT_PATH_KEY)), []);
  const beforeBuild = async () => {
    setBuiltPath(dockerfilePath);
    try {
      sessionStorage.setItem(BUILT_PATH_KEY, dockerfilePath);
    } catch {
      // Without storage the marks follow the open Dockerfile after a reload.
    }
    await workspace.flush();
  };
  const showsBuild = open?.path === (builtPath ?? dockerfilePath);

  // A new container pane: show the containers tab.
  const panes = useRef(containerRuns.length);
  useEffect(() => {
    if (containerRuns.length > panes.current) setTab('run');
    panes.current = containerRuns.length;
  }, [containerRuns.length]);

  const error = build?.error;
  const buildError =
    error?.kind === 'learner' && error.line !== undefined
      ? { line: error.line, ...(error.column !== undefined ? { column: error.column } : {}), message: errorText(error) }
      : null;
  const selectedStep = session.selection && session.selection.runId === buildRunId ? session.selection.step : null;

  return (
    <main id="main" className={styles.grid}>
      <h1 className="visually-hidden">{t('playground.title')}</h1>
      <aside className={styles.files}>
        <FileTree workspace={workspace} />
      </aside>

      <section className={styles.editorArea} aria-labelledby="editor-heading">
        <div className={styles.editorBar}>
          <h2 id="editor-heading" className={styles.editorPath}>
            <span className="visually-hidden">{t('playground.editorArea')}: </span>
            {open?.path ?? t('playground.editorArea')}
          </h2>
          <SaveStatus state={workspace.saveState} />
        </div>
        <div className={styles.editorBody}>
          {open?.content != null ? (
            <CodeEditor
              path={open.path}
              value={open.content}
              revision={open.revision}
              onChange={workspace.edit}
              build={showsBuild ? build : null}
              selectedStep={selectedStep}
              onSelectLayer={(step) => {
                const line = build?.steps.find((s) => s.step === step)?.line;
                if (line !== undefined && selectLine(line)) setTab('build');
              }}
              buildError={showsBuild ? buildError : null}
              reveal={reveal}
            />
          ) : open ? (
            <BinaryNotice path={open.path} sizeBytes={open.info.sizeBytes} />
          ) : (
            <p className={styles.empty}>{t('playground.noFile')}</p>
          )}
        </div>
      </section>

      <div className={styles.panels}>
        <IdleWarning />
        <LimitWarning />
        <Tabs
          label={t('playground.panels')}
          selected={tab}
          onSelect={setTab}
          tabs={[
            {
              id: 'build',
              label: t('playground.tab.build'),
              content: (
                <BuildPanel
                  beforeBuild={beforeBuild}
                  dockerfilePath={dockerfilePath}
                  onShowLine={async (line) => {
                    const path = builtPath ?? dockerfilePath;
                    if (open?.path !== path) await workspace.openFile(path);
                    setReveal({ line });
                  }}
                />
              ),
            },
            {
              id: 'run',
              label: t('playground.tab.run'),
              content: <ContainerPanel renderTerminal={(containerId) => <Terminal containerId={containerId} autoFocus onInput={() => touched(containerId)} />} />,
            },
            { id: 'vm', label: t('playground.tab.vm'), content: <VmPanel renderTerminal={(vmId) => <Terminal containerId={vmId} autoFocus />} /> },
            { id: 'images', label: t('playground.tab.images'), content: <ImagesList /> },
          ]}
        />
      </div>
    </main>
  );
}
