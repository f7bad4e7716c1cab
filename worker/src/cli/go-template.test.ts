// The template evaluator against what Docker 20.10 printed for the same templates over the same
// JSON (recorded from `docker inspect -f` on a busybox container that ran `sh -c 'exit 3'`; the
// side-by-side run against a live dockerd is docker-format.test.ts). No kernel, no Docker here.
import { describe, expect, it } from 'vitest';
import { formatList } from './docker-format.js';
import { tabwrite } from './format.js';
import { goJsonReplacer, nilMap, nilSlice, omitEmpty, renderTemplate, TemplateError, type Json } from './go-template.js';

const container: Json = {
  Id: 'e0471adf64e6',
  Args: ['-c', 'exit 3'],
  Name: '/x1',
  State: { Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: 3, Error: '' },
  Config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh', '-c', 'exit 3'], Entrypoint: null, Labels: {} },
  HostConfig: { Memory: 0 },
};

function error(template: string, data: Json = container): string {
  try {
    renderTemplate(template, data);
  } catch (err) {
    if (err instanceof TemplateError) return `${err.phase}: ${err.message}`;
    throw err;
  }
  return 'no error';
}

describe('Go templates as Docker evaluates them', () => {
  it('prints a nil slice as [] and a nil map as map[], encodes both as null, and leaves an empty omitempty field out of JSON only', () => {
    // What Docker printed for busybox: {{.Config.Entrypoint}} [], {{json .Config.Entrypoint}} null, {{.Config.ExposedPorts}} map[].
    const config = omitEmpty({ Entrypoint: nilSlice(), Labels: nilMap(), ExposedPorts: nilMap(), StopSignal: '', Cmd: ['sh'] }, ['ExposedPorts', 'StopSignal']);
    const data = { Config: config } as unknown as Json;
    expect(renderTemplate('{{.Config.Entrypoint}}|{{.Config.Labels}}|{{.Config.ExposedPorts}}|{{.Config.StopSignal}}|{{len .Config.Entrypoint}}|{{if .Config.Labels}}y{{else}}n{{end}}', data)).toBe('[]|map[]|map[]||0|n');
    expect(renderTemplate('{{json .Config.Entrypoint}} {{json .Config.Labels}} {{json .Config}}', data)).toBe('null null {"Entrypoint":null,"Labels":null,"Cmd":["sh"]}');
    expect(JSON.stringify(data, goJsonReplacer)).toBe('{"Config":{"Entrypoint":null,"Labels":null,"Cmd":["sh"]}}');
    // Control: unmarked, the same values are JSON's [] and {} and stay in.
    expect(renderTemplate('{{json .}}', { Entrypoint: [], ExposedPorts: {}, StopSignal: '' })).toBe('{"Entrypoint":[],"ExposedPorts":{},"StopSignal":""}');
  });

  it('prints field paths, lists, maps, null and numbers as Go prints decoded JSON', () => {
    expect(renderTemplate('{{.State.ExitCode}}', container)).toBe('3');
    expect(renderTemplate('{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{.Config.Env}}|{{.State.Running}}|{{.Args}}|{{.Name}}', container)).toBe(
      '<no value>|[sh -c exit 3]|[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]|false|[-c exit 3]|/x1',
    );
    expect(renderTemplate('{{.State}}', container)).toBe('map[Error: ExitCode:3 Paused:false Pid:0 Running:false Status:exited]');
    expect(renderTemplate('{{.Config.Labels}} {{json .Config.Labels}} {{.HostConfig.Memory}} {{json .Config.Entrypoint}}', container)).toBe('map[] {} 0 null');
  });

  it('json keeps the field order and escapes <, > and & as Go does', () => {
    expect(renderTemplate('{{json .State}}', container)).toBe('{"Status":"exited","Running":false,"Paused":false,"Pid":0,"ExitCode":3,"Error":""}');
    expect(renderTemplate('{{json .}}', { Digest: '<none>', A: 'x&y' })).toBe('{"Digest":"\\u003cnone\\u003e","A":"x\\u0026y"}');
  });

  it('range, if/else, with, len, index, join, upper, printf, variables and pipes', () => {
    expect(
      renderTemplate(
        '{{range .Config.Env}}{{.}},{{end}} {{if .State.Running}}yes{{else}}no{{end}} {{with .State}}{{.Status}}{{end}} {{len .Args}} {{upper .Name}} {{join .Args ":"}} {{printf "%s-%d" .Name .State.ExitCode}}',
        container,
      ),
    ).toBe('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, no exited 2 /X1 -c:exit 3 /x1-3');
    expect(renderTemplate('{{index .Args 1}} {{index .State "Status"}} {{.Name | len}} {{range $i, $a := .Args}}{{$i}}={{$a}};{{end}} {{$.Name}}', container)).toBe(
      'exit 3 exited 3 0=-c;1=exit 3; /x1',
    );
    expect(renderTemplate('{{if eq .State.ExitCode 3}}three{{else if eq .State.ExitCode 0}}zero{{else}}other{{end}}', container)).toBe('three');
    expect(renderTemplate('{{range .Config.Labels}}x{{else}}none{{end}} {{- " trimmed" }}', container)).toBe('none trimmed');
    expect(renderTemplate('{{(index .Config.Cmd 0)}} {{split "a:b" ":"}} {{lower "AB"}} {{title "hello world"}}', container)).toBe('sh [a b] ab Hello World');
  });

  it('fails as Docker does: a missing key, a bad index, an unknown function, an unclosed action', () => {
    // Docker: template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"
    expect(error('{{.Nope}}')).toBe('execute: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"');
    expect(error('{{.State.Nope}}')).toBe('execute: template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"');
    expect(error('{{index .Config.Env 5}}')).toBe('execute: template: :1:2: executing "" at <index .Config.Env 5>: error calling index: index out of range: 5');
    expect(error('{{foo .ID}}')).toBe('parse: template: :1: function "foo" not defined');
    expect(error('{{')).toBe('parse: template: :1: unclosed action');
    expect(error('{{if .Name}}x')).toBe('parse: template: :1: unexpected EOF');
    // The control: the same paths that exist print without error.
    expect(error('{{.State.ExitCode}} {{index .Config.Env 0}}')).toBe('no error');
  });
});

describe('list formats as Docker prints them', () => {
  const spec = { headers: { ID: 'CONTAINER ID', Names: 'NAMES', Image: 'IMAGE' }, defaultFormat: 'table {{.ID}}\\t{{.Image}}\\t{{.Names}}' };
  const rows: Json[] = [{ ID: 'e0471adf64e6', Names: 'x1', Image: 'busybox' }];

  it('table: a header from the field names, columns at least 10 wide and 3 apart; \\t typed literally is a tab', () => {
    // docker ps -a --format 'table {{.ID}}\t{{.Names}}\t{{.Image}}'
    expect(formatList('table {{.ID}}\\t{{.Names}}\\t{{.Image}}', rows, spec)).toBe('CONTAINER ID   NAMES     IMAGE\ne0471adf64e6   x1        busybox\n');
    expect(formatList(undefined, rows, spec)).toBe('CONTAINER ID   IMAGE     NAMES\ne0471adf64e6   busybox   x1\n');
    // Header cells of Docker's functions are the header itself: docker ps --format 'table {{json .Names}} {{upper .Image}}'
    expect(formatList('table {{json .Names}} {{upper .Image}}', rows, spec)).toBe('NAMES IMAGE\n"x1" BUSYBOX\n');
  });

  it('without table: one line per row, no header, tabs kept', () => {
    expect(formatList('{{.Names}}\\t{{.Image}}', rows, spec)).toBe('x1\tbusybox\n');
    expect(formatList('{{.Names}}', [], spec)).toBe('');
  });

  it('a row’s own text cannot forge a column, a row or a terminal escape; the format’s tabs stay', () => {
    const hostile: Json[] = [{ ID: 'a\tb\nFAKE', Names: 'x\x1b]0;pwned\x07y', Image: 'busybox' }];
    expect(formatList('table {{.ID}}\\t{{.Names}}', hostile, spec)).toBe('CONTAINER ID   NAMES\na b FAKE       xy\n');
    expect(formatList('{{.ID}}\\t{{.Names}}', hostile, spec)).toBe('a b FAKE\txy\n');
  });

  it('tabwrite pads every cell a tab ends, even an empty one, and leaves the last alone', () => {
    expect(tabwrite('a\t\tlast\nlonger-than-ten\tb\tc')).toBe('a                 ' + ' '.repeat(10) + 'last\nlonger-than-ten   b         c');
  });

  it('tabwrite counts terminal cells: a Korean cell takes two per syllable, so the next column lines up', () => {
    const out = tabwrite('벤치마크 항목\t호스트\nCPU\t3368').split('\n');
    // 벤치마크 항목 is 13 cells wide; the column is 16, so 호스트 and 3368 both start at cell 16.
    expect(out).toEqual(['벤치마크 항목   호스트', 'CPU' + ' '.repeat(13) + '3368']);
  });
});
