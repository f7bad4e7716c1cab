// dockerfile-language-service (rcjsuen) wired into Monaco, in the browser: completion, hover
// docs and diagnostics are computed on the learner's machine with no server round trip. The
// service speaks LSP shapes (0-based lines); Monaco wants its own (1-based). The conversions
// are pure so they are tested without a browser (language-service.test.ts).
import { DockerfileLanguageServiceFactory, type DockerfileLanguageService } from 'dockerfile-language-service';
import type * as Monaco from 'monaco-editor';
import type { CompletionItem, Diagnostic, Hover, MarkupContent, Range as LspRange } from 'vscode-languageserver-types';
import { lintMessageInKorean } from './lint-korean';

export const DOCKERFILE_LANGUAGE = 'dockerfile';
export const LINT_OWNER = 'dockerfile-language-service';

let service: DockerfileLanguageService | null = null;
export function languageService(): DockerfileLanguageService {
  if (service) return service;
  service = DockerfileLanguageServiceFactory.createLanguageService();
  service.setCapabilities({
    completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'], deprecatedSupport: true } },
    hover: { contentFormat: ['markdown', 'plaintext'] },
  });
  return service;
}

export interface MonacoRange {
  startLineNumber: number;
  startColumn: number;
  endLineNumber: number;
  endColumn: number;
}

export function toMonacoRange(range: LspRange): MonacoRange {
  return {
    startLineNumber: range.start.line + 1,
    startColumn: range.start.character + 1,
    endLineNumber: range.end.line + 1,
    endColumn: range.end.character + 1,
  };
}

/** Monaco's MarkerSeverity values (Hint 1, Info 2, Warning 4, Error 8) for LSP's 4..1. */
const SEVERITY: Record<number, number> = { 1: 8, 2: 4, 3: 2, 4: 1 };

export interface MarkerData extends MonacoRange {
  severity: number;
  message: string;
  code?: string;
  source?: string;
}

export function toMarkers(diagnostics: readonly Diagnostic[]): MarkerData[] {
  return diagnostics.map((d) => ({
    ...toMonacoRange(d.range),
    severity: SEVERITY[d.severity ?? 1] ?? 8,
    message: typeof d.message === 'string' ? d.message : d.message.value,
    ...(d.code !== undefined ? { code: String(d.code) } : {}),
    source: 'Dockerfile',
  }));
}

/** The linter's markers; for a Korean reader its messages in Korean where we have them. */
export function lint(content: string, locale: 'en' | 'ko' = 'en'): MarkerData[] {
  const markers = toMarkers(languageService().validate(content));
  return locale === 'ko' ? markers.map((m) => ({ ...m, message: lintMessageInKorean(m.message) })) : markers;
}

function markdownOf(doc: string | MarkupContent | undefined): string | undefined {
  if (doc === undefined) return undefined;
  return typeof doc === 'string' ? doc : doc.value;
}

export function hoverContents(hover: Hover | null): { value: string }[] {
  if (!hover) return [];
  const { contents } = hover;
  const list = Array.isArray(contents) ? contents : [contents];
  return list.map((c) => ({ value: typeof c === 'string' ? c : 'language' in c ? `\`\`\`${c.language}\n${c.value}\n\`\`\`` : c.value }));
}

/** Monaco's CompletionItemKind for LSP's (both enums name the same kinds, numbered differently). */
function completionKind(monaco: typeof Monaco, kind: number | undefined): Monaco.languages.CompletionItemKind {
  const K = monaco.languages.CompletionItemKind;
  const byLsp: Record<number, Monaco.languages.CompletionItemKind> = {
    1: K.Text, 2: K.Method, 3: K.Function, 4: K.Constructor, 5: K.Field, 6: K.Variable, 7: K.Class, 8: K.Interface,
    9: K.Module, 10: K.Property, 11: K.Unit, 12: K.Value, 13: K.Enum, 14: K.Keyword, 15: K.Snippet, 16: K.Color,
    17: K.File, 18: K.Reference, 19: K.Folder, 20: K.EnumMember, 21: K.Constant, 22: K.Struct, 23: K.Event,
    24: K.Operator, 25: K.TypeParameter,
  };
  return byLsp[kind ?? 1] ?? K.Text;
}

function toCompletion(monaco: typeof Monaco, item: CompletionItem, fallback: MonacoRange): Monaco.languages.CompletionItem {
  const edit = item.textEdit;
  const range = edit && 'range' in edit ? toMonacoRange(edit.range) : edit && 'insert' in edit ? toMonacoRange(edit.insert) : fallback;
  const documentation = markdownOf(item.documentation);
  return {
    label: item.label,
    kind: completionKind(monaco, item.kind),
    insertText: edit?.newText ?? item.insertText ?? item.label,
    // LSP InsertTextFormat.Snippet (2): `${1:name}` placeholders, which Monaco understands too.
    ...(item.insertTextFormat === 2 ? { insertTextRules: monaco.languages.CompletionItemInsertTextRule.InsertAsSnippet } : {}),
    range,
    ...(item.detail ? { detail: item.detail } : {}),
    ...(documentation ? { documentation: { value: documentation } } : {}),
    ...(item.sortText ? { sortText: item.sortText } : {}),
    ...(item.filterText ? { filterText: item.filterText } : {}),
    // The service names completion items by `data`; resolving fills in their documentation.
    ...(item.data !== undefined ? { lspItem: item } : {}),
  } as Monaco.languages.CompletionItem;
}

let registered = false;

/** Registers the providers once per page (Monaco's registry is global). */
export function registerDockerfileLanguage(monaco: typeof Monaco): void {
  if (registered) return;
  registered = true;
  const ls = languageService();

  monaco.languages.registerCompletionItemProvider(DOCKERFILE_LANGUAGE, {
    triggerCharacters: [' ', '-', '=', '$', '{', '\\'],
    async provideCompletionItems(model, position) {
      const word = model.getWordUntilPosition(position);
      const fallback = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber, startColumn: word.startColumn, endColumn: word.endColumn };
      const items = await ls.computeCompletionItems(model.getValue(), { line: position.lineNumber - 1, character: position.column - 1 });
      return { suggestions: items.map((item) => toCompletion(monaco, item, fallback)) };
    },
    resolveCompletionItem(item) {
      const lspItem = (item as { lspItem?: CompletionItem }).lspItem;
      if (!lspItem) return item;
      const documentation = markdownOf(ls.resolveCompletionItem(lspItem).documentation);
      return documentation ? { ...item, documentation: { value: documentation } } : item;
    },
  });

  monaco.languages.registerHoverProvider(DOCKERFILE_LANGUAGE, {
    provideHover(model, position) {
      const hover = ls.computeHover(model.getValue(), { line: position.lineNumber - 1, character: position.column - 1 });
      const contents = hoverContents(hover);
      if (contents.length === 0) return null;
      return { contents, ...(hover?.range ? { range: toMonacoRange(hover.range) } : {}) };
    },
  });
}
