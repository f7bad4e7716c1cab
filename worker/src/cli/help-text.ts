// What `layercake --help` says, in English and Korean, as every text a learner reads. Keys are
// a verb (its description) or `verb.flag` (an option, camelCased: `ps.noTrunc`); `run.*` also
// serves `create`, which takes run's flags. Commander's own words (headings, the help option and
// command, its usage errors) are here too, so Korean help shows no English but names and flags.
import type { HelpConfiguration, Option } from 'commander';
import type { Locale } from '../../../protocol/errors.js';

const en = {
  'layercake': 'Docker’s verbs on a real Linux kernel: images, layers and containers, to learn how they work.',
  'layercake.data': 'the engine’s data directory (default: $LAYERCAKE_DATA, else .data/engine in the checkout)',
  'layercake.session': 'the learner session whose images and containers to use',
  'layercake.lang': 'language of messages and help (default: from $LANG)',
  'help': 'display help for command',
  'help.command': 'display help for command',
  'heading.usage': 'Usage:',
  'heading.arguments': 'Arguments:',
  'heading.options': 'Options:',
  'heading.globalOptions': 'Global Options:',
  'heading.commands': 'Commands:',
  'default': 'default: {value}',
  'seeHelp': "See '{command} --help'.",
  'sessionInvalid': '--session must be 1-64 lowercase letters or digits: {session}',
  // Commander's usage errors, word for word (so English output is commander's own).
  'usage.unknownOption': "error: unknown option '{flag}'",
  'usage.unknownCommand': "error: unknown command '{name}'",
  'usage.missingArgument': "error: missing required argument '{name}'",
  'usage.optionValueMissing': "error: option '{flags}' argument missing",
  'usage.requiredOption': "error: required option '{flags}' not specified",
  'usage.tooManyArguments': "error: too many arguments for '{command}'. Expected {expected} argument{s} but got {got}.",
  'usage.didYouMean': '(Did you mean {names}?)',

  'run': 'Create and start a container from an image, then attach to it (or not, with -d)',
  'run.interactive': 'keep STDIN open',
  'run.tty': 'allocate a terminal',
  'run.rm': 'remove the container when it exits',
  'run.name': 'name the container',
  'run.env': 'set an environment variable (repeatable)',
  'run.workdir': 'working directory inside the container',
  'run.user': 'user name or uid (and group)',
  'run.memory': 'memory limit, e.g. 64m',
  'run.pidsLimit': 'most processes at once',
  'run.cpus': 'CPUs, e.g. 0.5',
  'run.entrypoint': 'replace the image’s ENTRYPOINT',
  'run.network': 'the container’s network: none (loopback only, not even the proxy to package archives) or default; there is no bridge, host or named network here',
  'run.detach': 'run in the background and print the container id',
  'create': 'Create a container without starting it',
  'start': 'Start one or more stopped containers',
  'start.attach': 'attach to its output and exit with its exit code',
  'start.interactive': 'attach its STDIN',
  'attach': 'Attach the terminal to a running container (Ctrl-P Ctrl-Q detaches)',
  'attach.noStdin': 'do not attach STDIN',

  'exec': 'Run a command in a running container',
  'exec.interactive': 'keep STDIN open',
  'exec.tty': 'allocate a terminal',
  'exec.env': 'set an environment variable (repeatable)',
  'exec.user': 'user name or uid (and group)',
  'exec.workdir': 'working directory inside the container',

  'ps': 'List containers (running ones; all with -a)',
  'ps.all': 'show all containers',
  'ps.quiet': 'only ids',
  'ps.noTrunc': 'do not truncate output',
  'ps.format': 'print each container with a Go template, e.g. \'{{.Names}}\' or \'table {{.ID}}\\t{{.Status}}\'',
  'ps.size': 'show each container\'s size: its writable layer, and with its image (virtual)',
  'ps.filter': 'only containers that match, e.g. status=exited, name=web, id=3f2, exited=0, ancestor=busybox (one key several times: any of them)',
  'ps.last': 'the n containers created last (any state)',
  'ps.latest': 'the container created last (any state)',
  'stop': 'Stop containers: the stop signal, then SIGKILL after the grace period',
  'stop.time': 'seconds to wait before killing',
  'kill': 'Send a signal to containers (SIGKILL unless -s says otherwise)',
  'kill.signal': 'signal to send',
  'rm': 'Remove containers',
  'rm.force': 'kill and remove a running container',
  'pause': 'Freeze every process of containers',
  'unpause': 'Thaw paused containers',
  'wait': 'Block until containers stop, then print their exit codes',
  'logs': 'Show a container’s output',
  'logs.follow': 'follow new output',
  'logs.tail': 'only the last lines ("all" for everything)',
  'diff': 'What a container changed in its filesystem (A added, C changed, D deleted)',
  'commit': 'Make a new image from a container’s changes',
  'commit.message': 'commit message',
  'commit.author': 'author',
  'commit.pause': 'pause the container while committing (default)',
  'commit.noPause': 'do not pause it',
  'stats': 'Live memory, CPU and process counts of containers',
  'stats.noStream': 'print once and exit',
  'stats.all': 'include stopped containers',
  'inspect': 'Low-level information on containers and images, as JSON',
  'inspect.format': 'print each object with a Go template, e.g. \'{{.State.ExitCode}}\' or \'{{json .Config}}\'',

  'images': 'List images',
  'images.quiet': 'only ids',
  'images.all': 'also images other images are built on (as with BuildKit, a build leaves none to show)',
  'vm': 'Virtual machines: an image booted with its own kernel',
  'vm.run': 'Boot an image as a VM (Debian’s kernel under qemu) and run a command on its serial console',
  'vm.memory': 'the guest’s memory (e.g. 256m)',
  'vm.cpus': 'virtual CPUs (1 or 2)',
  'vm.timeout': 'wall-clock limit in seconds, after which the VM is killed',
  'compare': 'Run the same benchmarks (CPU, memory, disk, network) on the host, in a container and in a VM of an image',
  'compare.json': 'print the whole result as JSON',
  'images.noTrunc': 'full ids',
  'images.format': 'print each image with a Go template, e.g. \'{{.Repository}}:{{.Tag}}\'',
  'history': 'The layers of an image, newest first, with the step that made each',
  'history.noTrunc': 'do not truncate output',
  'history.quiet': 'only ids',
  'history.format': 'print each step with a Go template, e.g. \'{{.CreatedBy}}\'',
  'history.human': 'sizes and dates for people (default true); -H=false prints bytes and RFC 3339 dates',
  'tag': 'Give an image another name',
  'rmi': 'Remove images',
  'rmi.force': 'remove an image with several names, or a name still used by a container',
  'save': 'Write images to a tar archive (Docker and OCI layout in one)',
  'save.output': 'the archive to write (default: stdout)',
  'load': 'Load images from a tar archive (docker save or OCI layout)',
  'load.input': 'the archive to read',
  'pull': 'Download an image from a registry',
  'push': 'Upload an image to a registry',
  'login': 'Log in to a registry (this session only)',
  'login.username': 'user name',
  'login.password': 'password',
  'logout': 'Forget this session\'s login to a registry',
  'build': 'Build an image from a Dockerfile',
  'build.tag': 'name the image (repeatable)',
  'build.file': 'the Dockerfile (default: DIR/Dockerfile)',
  'build.buildArg': 'a build argument (repeatable)',
  'build.noCache': 'do not use the build cache',
  'build.target': 'build up to this stage',
  'build.quiet': 'print only the image id',
  'build.secret': 'a secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VARIABLE (repeatable)',
} as const;

export type HelpKey = keyof typeof en;

const ko: Record<HelpKey, string> = {
  'layercake': '진짜 리눅스 커널 위에서 Docker 명령을 그대로 써 보며 이미지, 레이어, 컨테이너가 어떻게 동작하는지 배워요.',
  'layercake.data': '엔진의 데이터 디렉터리 (기본값: $LAYERCAKE_DATA, 없으면 체크아웃 안의 .data/engine)',
  'layercake.session': '사용할 이미지와 컨테이너가 속한 학습자 세션',
  'layercake.lang': '메시지와 도움말의 언어 (기본값: $LANG에 따라)',
  'help': '이 명령의 도움말을 보여 줘요',
  'help.command': '명령의 도움말을 보여 줘요',
  'heading.usage': '사용법:',
  'heading.arguments': '인자:',
  'heading.options': '옵션:',
  'heading.globalOptions': '전역 옵션:',
  'heading.commands': '명령:',
  'default': '기본값: {value}',
  'seeHelp': "자세한 사용법은 '{command} --help'로 확인하세요.",
  'sessionInvalid': '--session에는 영어 소문자나 숫자를 1~64자로 써야 해요: {session}',
  'usage.unknownOption': "오류: '{flag}'은(는) 알 수 없는 옵션이에요.",
  'usage.unknownCommand': "오류: '{name}'은(는) 알 수 없는 명령이에요.",
  'usage.missingArgument': "오류: 인자 '{name}'이(가) 필요해요.",
  'usage.optionValueMissing': "오류: 옵션 '{flags}'에 값이 필요해요.",
  'usage.requiredOption': "오류: 옵션 '{flags}'은(는) 꼭 써야 해요.",
  'usage.tooManyArguments': "오류: '{command}'에 인자가 너무 많아요. {expected}개를 받는데 {got}개를 줬어요.",
  'usage.didYouMean': '({names}을(를) 쓰려던 건가요?)',

  'run': '이미지로 컨테이너를 만들어 시작하고 터미널을 연결해요 (-d면 백그라운드에서 실행해요)',
  'run.interactive': 'STDIN을 열어 둬요',
  'run.tty': '터미널을 할당해요',
  'run.rm': '컨테이너가 끝나면 지워요',
  'run.name': '컨테이너에 이름을 붙여요',
  'run.env': '환경 변수를 설정해요 (여러 번 쓸 수 있어요)',
  'run.workdir': '컨테이너 안의 작업 디렉터리',
  'run.user': '사용자 이름이나 uid (그룹도 함께 줄 수 있어요)',
  'run.memory': '메모리 한도 (예: 64m)',
  'run.pidsLimit': '한 번에 실행할 수 있는 최대 프로세스 수',
  'run.cpus': '쓸 수 있는 CPU 수 (예: 0.5)',
  'run.entrypoint': '이미지의 ENTRYPOINT를 바꿔요',
  'run.network': '컨테이너의 네트워크: none(루프백만 있고 패키지 저장소로 가는 프록시도 없어요)이나 default. bridge, host, 이름 붙인 네트워크는 여기에 없어요',
  'run.detach': '백그라운드에서 실행하고 컨테이너 ID를 출력해요',
  'create': '컨테이너를 만들기만 하고 시작하지는 않아요',
  'start': '멈춘 컨테이너를 하나 이상 시작해요',
  'start.attach': '출력을 연결하고, 컨테이너의 종료 코드로 끝나요',
  'start.interactive': 'STDIN도 연결해요',
  'attach': '실행 중인 컨테이너에 터미널을 연결해요 (Ctrl-P Ctrl-Q로 빠져나와요)',
  'attach.noStdin': 'STDIN은 연결하지 않아요',

  'exec': '실행 중인 컨테이너에서 명령을 실행해요',
  'exec.interactive': 'STDIN을 열어 둬요',
  'exec.tty': '터미널을 할당해요',
  'exec.env': '환경 변수를 설정해요 (여러 번 쓸 수 있어요)',
  'exec.user': '사용자 이름이나 uid (그룹도 함께 줄 수 있어요)',
  'exec.workdir': '컨테이너 안의 작업 디렉터리',

  'ps': '컨테이너 목록을 보여 줘요 (실행 중인 것만, -a면 전부)',
  'ps.all': '모든 컨테이너를 보여 줘요',
  'ps.quiet': 'ID만 출력해요',
  'ps.noTrunc': '출력을 자르지 않아요',
  'ps.format': '컨테이너마다 Go 템플릿으로 출력해요. 예: \'{{.Names}}\', \'table {{.ID}}\\t{{.Status}}\'',
  'ps.size': '컨테이너마다 크기를 보여 줘요: 쓰기 가능한 레이어의 크기와, 이미지까지 더한 크기(virtual)',
  'ps.filter': '조건에 맞는 컨테이너만 보여 줘요. 예: status=exited, name=web, id=3f2, exited=0, ancestor=busybox (같은 키를 여러 번 쓰면 그중 하나라도 맞으면 돼요)',
  'ps.last': '가장 최근에 만든 컨테이너 n개를 보여 줘요 (상태와 상관없이)',
  'ps.latest': '가장 최근에 만든 컨테이너 하나를 보여 줘요 (상태와 상관없이)',
  'stop': '컨테이너를 멈춰요: 정지 시그널을 보내고, 유예 시간이 지나면 SIGKILL을 보내요',
  'stop.time': '강제로 끝내기 전에 기다릴 시간(초)',
  'kill': '컨테이너에 시그널을 보내요 (-s로 정하지 않으면 SIGKILL)',
  'kill.signal': '보낼 시그널',
  'rm': '컨테이너를 지워요',
  'rm.force': '실행 중인 컨테이너도 강제로 끝내고 지워요',
  'pause': '컨테이너의 모든 프로세스를 일시 정지해요',
  'unpause': '일시 정지한 컨테이너를 다시 실행해요',
  'wait': '컨테이너가 멈출 때까지 기다렸다가 종료 코드를 출력해요',
  'logs': '컨테이너의 출력을 보여 줘요',
  'logs.follow': '새 출력을 계속 따라가며 보여 줘요',
  'logs.tail': '마지막 몇 줄만 보여 줘요 (전부 보려면 "all")',
  'diff': '컨테이너가 파일 시스템에서 바꾼 것을 보여 줘요 (A 추가, C 변경, D 삭제)',
  'commit': '컨테이너의 변경 사항으로 새 이미지를 만들어요',
  'commit.message': '커밋 메시지',
  'commit.author': '작성자',
  'commit.pause': '커밋하는 동안 컨테이너를 일시 정지해요 (기본)',
  'commit.noPause': '일시 정지하지 않아요',
  'stats': '컨테이너의 메모리, CPU, 프로세스 수를 실시간으로 보여 줘요',
  'stats.noStream': '한 번만 출력하고 끝내요',
  'stats.all': '멈춘 컨테이너도 포함해요',
  'inspect': '컨테이너와 이미지의 자세한 정보를 JSON으로 보여 줘요',
  'inspect.format': '객체마다 Go 템플릿으로 출력해요. 예: \'{{.State.ExitCode}}\', \'{{json .Config}}\'',

  'images': '이미지 목록을 보여 줘요',
  'images.quiet': 'ID만 출력해요',
  'images.all': '다른 이미지가 그 위에 만들어진 이미지까지 보여 줘요 (BuildKit처럼, 빌드는 그런 이미지를 남기지 않아요)',
  'vm': '가상 머신: 자기 커널로 부팅한 이미지',
  'vm.run': '이미지를 가상 머신으로 부팅해요 (qemu 위의 데비안 커널). 명령은 시리얼 콘솔에서 실행돼요',
  'vm.memory': '게스트 메모리 (예: 256m)',
  'vm.cpus': '가상 CPU 수 (1 또는 2)',
  'vm.timeout': '벽시계 제한(초): 지나면 가상 머신을 강제로 끝내요',
  'compare': '같은 벤치마크(CPU, 메모리, 디스크, 네트워크)를 호스트, 이미지의 컨테이너, 이미지의 가상 머신에서 돌려 비교해요',
  'compare.json': '결과 전체를 JSON으로 출력해요',
  'images.noTrunc': 'ID를 자르지 않고 전부 보여 줘요',
  'images.format': '이미지마다 Go 템플릿으로 출력해요. 예: \'{{.Repository}}:{{.Tag}}\'',
  'history': '이미지의 레이어를 최신 것부터, 각각을 만든 단계와 함께 보여 줘요',
  'history.noTrunc': '출력을 자르지 않아요',
  'history.quiet': 'ID만 출력해요',
  'history.format': '단계마다 Go 템플릿으로 출력해요. 예: \'{{.CreatedBy}}\'',
  'history.human': '크기와 날짜를 사람이 읽기 쉽게 보여 줘요 (기본값 true). -H=false는 바이트 수와 RFC 3339 날짜를 출력해요',
  'tag': '이미지에 다른 이름을 붙여요',
  'rmi': '이미지를 지워요',
  'rmi.force': '이름이 여러 개인 이미지나, 컨테이너가 아직 쓰는 이름도 지워요',
  'save': '이미지를 tar 아카이브로 저장해요 (Docker 형식과 OCI 형식을 함께 담아요)',
  'save.output': '저장할 아카이브 파일 (없으면 표준 출력)',
  'load': 'tar 아카이브에서 이미지를 불러와요 (docker save 또는 OCI 형식)',
  'load.input': '읽을 아카이브 파일',
  'pull': '레지스트리에서 이미지를 내려받아요',
  'push': '이미지를 레지스트리에 올려요',
  'login': '레지스트리에 로그인해요 (이 세션에서만)',
  'login.username': '사용자 이름',
  'login.password': '비밀번호',
  'logout': '이 세션의 레지스트리 로그인을 지워요',
  'build': 'Dockerfile로 이미지를 빌드해요',
  'build.tag': '이미지에 이름을 붙여요 (여러 번 쓸 수 있어요)',
  'build.file': '사용할 Dockerfile (기본값: DIR/Dockerfile)',
  'build.buildArg': '빌드 인자 (여러 번 쓸 수 있어요)',
  'build.noCache': '빌드 캐시를 쓰지 않아요',
  'build.target': '이 스테이지까지만 빌드해요',
  'build.quiet': '이미지 ID만 출력해요',
  'build.secret': 'RUN --mount=type=secret에 넘길 비밀 값: id=이름,src=파일 또는 id=이름,env=환경변수 (여러 번 쓸 수 있어요)',
};

/** One help text, with `{name}`s filled in. */
export type HelpText = (key: HelpKey, facts?: Record<string, string>) => string;

export function helpText(locale: Locale): HelpText {
  const texts = locale === 'ko' ? ko : en;
  return (key, facts = {}) => texts[key].replace(/\{(\w+)\}/g, (whole, name: string) => facts[name] ?? whole);
}

// The headings commander writes in English, whatever the descriptions' language.
const headings: Record<string, HelpKey> = {
  'Usage:': 'heading.usage',
  'Arguments:': 'heading.arguments',
  'Options:': 'heading.options',
  'Global Options:': 'heading.globalOptions',
  'Commands:': 'heading.commands',
};

// Hangul (and other East Asian wide characters) take two columns on a terminal; commander counts
// one, and would let Korean lines run past the edge instead of wrapping them.
const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/g;

/** Commander's help layout in the locale's words, for `configureHelp` on the root command. */
export function helpLayout(t: HelpText): HelpConfiguration {
  return {
    styleTitle: (title) => (headings[title] ? t(headings[title]) : title),
    // Only a value default is worth a learner's eye (`--tail all`), not commander's `[]` or `true`.
    optionDescription: (option: Option) =>
      typeof option.defaultValue === 'string' ? `${option.description} (${t('default', { value: JSON.stringify(option.defaultValue) })})` : option.description,
    displayWidth: (str) => {
      const plain = str.replace(/\x1b\[[\d;]*m/g, '');
      return plain.length + (plain.match(WIDE)?.length ?? 0);
    },
  };
}

// Commander's usage errors as it words them (v14), line by line; a line not listed stays as is.
const usageErrors: [RegExp, HelpKey, string[]][] = [
  [/^error: unknown option '(.+)'$/, 'usage.unknownOption', ['flag']],
  [/^error: unknown command '(.+)'$/, 'usage.unknownCommand', ['name']],
  [/^error: missing required argument '(.+)'$/, 'usage.missingArgument', ['name']],
  [/^error: option '(.+)' argument missing$/, 'usage.optionValueMissing', ['flags']],
  [/^error: required option '(.+)' not specified$/, 'usage.requiredOption', ['flags']],
  [/^error: too many arguments for '(.+)'\. Expected (\d+) argument(s?) but got (\d+)\.$/, 'usage.tooManyArguments', ['command', 'expected', 's', 'got']],
  [/^\(Did you mean (.+)\?\)$/, 'usage.didYouMean', ['names']],
];

/** A usage error commander is about to print, in the locale's words. */
export function usageError(t: HelpText, message: string): string {
  return message
    .split('\n')
    .map((line) => {
      for (const [pattern, key, names] of usageErrors) {
        const m = pattern.exec(line);
        if (m) return t(key, Object.fromEntries(names.map((name, i) => [name, m[i + 1] ?? ''])));
      }
      return line;
    })
    .join('\n');
}
