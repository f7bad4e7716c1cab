// The Dockerfile linter's messages in Korean. dockerfile-utils words its diagnostics in English
// from a table of templates (`Validator.dockerProblems`, `${0}` for the facts); a diagnostic is
// matched back to its template to recover the facts, and the Korean template below is filled
// with them. A message with no Korean template here stays in English.
import { Validator } from 'dockerfile-utils/lib/dockerValidator';

const KO: Record<string, string> = {
  baseNameEmpty: '베이스 이름(${0})이 비어 있으면 안 돼요',
  directiveCasing: '파서 지시어는 소문자로 써야 해요',
  noSourceImage: 'FROM에 소스 이미지가 없어요',
  emptyContinuationLine: '이어지는 줄이 비어 있어요',
  fromRequiresOneOrThreeArguments: 'FROM에는 인자가 하나 또는 세 개 있어야 해요',
  invalidAs: '두 번째 인자는 AS여야 해요',
  invalidPort: '올바른 컨테이너 포트가 아니에요: ${0}',
  invalidProtocol: '올바른 프로토콜이 아니에요: ${0}',
  invalidReferenceFormat: '이미지 참조 형식이 올바르지 않아요',
  invalidStopSignal: '올바른 시그널이 아니에요: ${0}',
  invalidDestination: '${0}에 원본 파일이 여러 개면 대상은 / 또는 \\로 끝나는 디렉터리여야 해요',
  syntaxMissingEquals: '문법 오류: "${0}"에 =가 없어요. 이름=값 형태로 써야 해요',
  syntaxMissingNames: '${0} 이름은 비어 있으면 안 돼요',
  syntaxMissingSingleQuote: '"${0}"을(를) 처리하지 못했어요: 작은따옴표가 닫히지 않았어요',
  syntaxMissingDoubleQuote: '"${0}"을(를) 처리하지 못했어요: 큰따옴표가 닫히지 않았어요',
  duplicateBuildStageName: '이름이 중복돼요: ${0}',
  invalidBuildStageName: '빌드 단계 이름으로 쓸 수 없어요: "${0}". 숫자로 시작하거나 기호를 넣을 수 없어요',
  flagDuplicate: '같은 플래그를 두 번 썼어요: ${0}',
  flagMissingValue: '플래그에 값이 없어요: ${0}',
  flagUnknown: '알 수 없는 플래그예요: ${0}',
  instructionExtraArgument: '명령에 인자가 너무 많아요',
  instructionMissingArgument: '명령에 인자가 없어요',
  instructionMultiple: '${0} 명령은 Dockerfile이나 빌드 단계마다 하나만 쓸 수 있어요. 마지막 것만 적용돼요.',
  instructionRequiresOneArgument: '${0}에는 인자가 정확히 하나 있어야 해요',
  instructionRequiresAtLeastOneArgument: '${0}에는 인자가 하나 이상 있어야 해요',
  instructionRequiresAtLeastTwoArguments: '${0}에는 인자가 두 개 이상 있어야 해요',
  instructionRequiresTwoArguments: '${0}에는 인자가 두 개 있어야 해요',
  instructionUnnecessaryArgument: '${0}에는 인자가 없어야 해요',
  instructionUnknown: '알 수 없는 명령이에요: ${0}',
  instructionCasing: '명령은 대문자로 쓰는 게 좋아요',
  instructionJSONInSingleQuotes: 'JSON 배열로 쓴 명령에 큰따옴표 대신 작은따옴표를 썼어요',
  onbuildTriggerDisallowed: '${0}은(는) ONBUILD로 실행할 수 없어요',
  shellJsonForm: 'SHELL의 인자는 JSON 형태로 써야 해요',
  shellRequiresOne: 'SHELL에는 인자가 하나 이상 있어야 해요',
  deprecatedMaintainer: 'MAINTAINER는 더 이상 쓰지 않아요(LABEL을 쓰세요)',
  healthcheckCmdArgumentMissing: 'HEALTHCHECK CMD 뒤에 명령이 없어요',
  workdirPathNotAbsolute: 'WORKDIR 경로는 절대 경로로 쓰는 게 좋아요',
};

interface Template {
  pattern: RegExp;
  korean: string;
}

let templates: Template[] | null = null;

function compile(): Template[] {
  const english = (Validator as unknown as { dockerProblems: Record<string, string> }).dockerProblems;
  return Object.entries(KO).flatMap(([key, korean]) => {
    const source = english[key];
    if (!source) return [];
    const parts = source.split(/\$\{\d+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return [{ pattern: new RegExp(`^${parts.join('(.*?)')}$`, 's'), korean }];
  });
}

export function lintMessageInKorean(message: string): string {
  templates ??= compile();
  for (const { pattern, korean } of templates) {
    const match = pattern.exec(message);
    if (match) return korean.replace(/\$\{(\d+)\}/g, (_, i: string) => match[Number(i) + 1] ?? '');
  }
  return message;
}
