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
import { IdleWarning } from '../session/SessionTimer';
import { Terminal } from '../terminal';
import { Tabs } from './Tabs';
import { messages } from './messages';
import styles from './playground.module.css';

export function Playground() {
  const t = useT(messages);
  const errorText = useErrorText();
  const workspace = useWorkspace();
  const { session, selectLine, containerRuns } = usePlaySession();
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
  const selectedStep = session.selection?.step ?? null;

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
              build={open.path === dockerfilePath ? build : null}
              selectedStep={selectedStep}
              onSelectLayer={(step) => {
                const line = build?.steps.find((s) => s.step === step)?.line;
                if (line !== undefined && selectLine(line)) setTab('build');
              }}
              buildError={open.path === dockerfilePath ? buildError : null}
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
                  beforeBuild={workspace.flush}
                  dockerfilePath={dockerfilePath}
                  onShowLine={(line) => {
                    if (open?.path !== dockerfilePath) void workspace.openFile(dockerfilePath);
                    setReveal({ line });
                  }}
                />
              ),
            },
            {
              id: 'run',
              label: t('playground.tab.run'),
              content: <ContainerPanel renderTerminal={(containerId) => <Terminal containerId={containerId} autoFocus />} />,
            },
            { id: 'images', label: t('playground.tab.images'), content: <ImagesList /> },
          ]}
        />
      </div>
    </main>
  );
}
