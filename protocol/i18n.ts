// What learners read when something they did needs fixing, in English and Korean. Keys are
// shared by the engine (which raises them) and the site (which renders them); {names} are
// filled from the error's facts.

const en = {
  'internal': 'Something went wrong on our side (error {errorId}). Please try again.',

  'build.emptyDockerfile': 'The Dockerfile is empty: start it with FROM.',
  'build.syntax': 'Line {line}: {detail}',
  'build.unknownInstruction': 'Line {line}: {instruction} is not a Dockerfile instruction.{suggestion}',
  'build.unknownInstruction.suggestion': ' Did you mean {name}?',
  'build.missingFrom': 'Line {line}: the first instruction must be FROM (ARG may come before it).',
  'build.missingArguments': 'Line {line}: {instruction} needs arguments.',
  'build.invalidFlag': 'Line {line}: {instruction} does not accept --{flag}.',
  'build.baseImageMissing': 'Base image {image} is not available here. Available images: {available}.',
  'build.stageNotFound': 'Line {line}: --from={stage} names no earlier stage and no image.',
  'build.copySourceMissing': 'Line {line}: {source} was not found in the build context.',
  'build.copyOutsideContext': 'Line {line}: {source} points outside the build context.',
  'build.runFailed': 'Line {line}: the command exited with code {exitCode}: {command}',
  'build.runOomKilled': 'Line {line}: the command used more than {limit} of memory and was stopped.',
  'build.stepTimeout': 'Line {line}: this step ran longer than {seconds} seconds and was stopped.',
  'build.stepDiskLimit': 'Line {line}: this step wrote more than {limit} to disk.',
  'build.contextTooLarge': 'The build context is {size}; the limit is {limit}.',
  'build.dockerfileTooLarge': 'The Dockerfile is {size}; the limit is {limit}.',
  'build.tooManySteps': 'The Dockerfile has {steps} steps; the limit is {limit}.',
  'build.invalidTag': '{tag} is not a valid image name.',
  'build.missingBuildArg': 'Line {line}: build argument {name} has no value.',

  'container.notFound': 'No such container: {ref}',
  'container.ambiguous': '{ref} matches several containers: {matches}',
  'container.nameInUse': 'The name {name} is already used by container {id}.',
  'container.notRunning': 'Container {ref} is not running.',
  'container.isRunning': 'Container {ref} is running: stop it first, or remove it with --force.',
  'container.isPaused': 'Container {ref} is paused: unpause it first.',
  'container.commandNotFound': '{command}: executable file not found in $PATH',
  'container.cannotRun': '{command}: cannot run: {reason}',

  'quota.images': 'You have {count} images; the limit is {limit}. Remove some with rmi.',
  'quota.containers': 'You have {count} containers; the limit is {limit}. Remove some with rm.',
  'quota.layerBytes': 'Your images and containers use {size} of disk; the limit is {limit}.',

  'image.notFound': 'No such image: {ref}',
  'image.ambiguous': '{ref} matches several images: {matches}',
  'image.conflict': 'Image {ref} is used by {users}: remove those first, or use --force.',
  'reference.invalid': '{ref} is not a valid image reference.',
  'layer.invalid': 'A layer of this image is damaged: {detail}',
  'layer.missing': 'A layer of this image is missing: {layer}',
  'archive.invalid': 'This is not an image archive: {detail}',
  'archive.digestMismatch': 'The archive is damaged: {item} does not match its digest.',
  'archive.unsafePath': 'The archive holds an unsafe path: {path}',
  'archive.tooLarge': 'The archive is larger than the limit of {limit}.',
  'baseImage.unknown': 'Base image {image} is not one of the available images: {available}.',
  'baseImage.unavailable': 'Base image {image} could not be prepared: {detail}',
} as const;

export type MessageKey = keyof typeof en;

const ko: Record<MessageKey, string> = {
  'internal': '저희 쪽에서 문제가 생겼어요 (오류 {errorId}). 다시 시도해 주세요.',

  'build.emptyDockerfile': 'Dockerfile이 비어 있어요. FROM으로 시작하세요.',
  'build.syntax': '{line}번째 줄: {detail}',
  'build.unknownInstruction': '{line}번째 줄: {instruction}은(는) Dockerfile 명령어가 아니에요.{suggestion}',
  'build.unknownInstruction.suggestion': ' {name}을(를) 쓰려던 건가요?',
  'build.missingFrom': '{line}번째 줄: 첫 명령어는 FROM이어야 해요 (그 앞에는 ARG만 올 수 있어요).',
  'build.missingArguments': '{line}번째 줄: {instruction}에는 인자가 필요해요.',
  'build.invalidFlag': '{line}번째 줄: {instruction}은(는) --{flag} 옵션을 받지 않아요.',
  'build.baseImageMissing': '베이스 이미지 {image}은(는) 여기에 없어요. 쓸 수 있는 이미지: {available}.',
  'build.stageNotFound': '{line}번째 줄: --from={stage}에 해당하는 앞선 스테이지나 이미지가 없어요.',
  'build.copySourceMissing': '{line}번째 줄: 빌드 컨텍스트에서 {source}을(를) 찾을 수 없어요.',
  'build.copyOutsideContext': '{line}번째 줄: {source}은(는) 빌드 컨텍스트 밖을 가리켜요.',
  'build.runFailed': '{line}번째 줄: 명령이 종료 코드 {exitCode}로 끝났어요: {command}',
  'build.runOomKilled': '{line}번째 줄: 명령이 메모리를 {limit}보다 많이 써서 중단됐어요.',
  'build.stepTimeout': '{line}번째 줄: 이 단계가 {seconds}초를 넘겨서 중단됐어요.',
  'build.stepDiskLimit': '{line}번째 줄: 이 단계가 디스크에 {limit}보다 많이 썼어요.',
  'build.contextTooLarge': '빌드 컨텍스트가 {size}예요. 한도는 {limit}예요.',
  'build.dockerfileTooLarge': 'Dockerfile이 {size}예요. 한도는 {limit}예요.',
  'build.tooManySteps': 'Dockerfile의 단계가 {steps}개예요. 한도는 {limit}개예요.',
  'build.invalidTag': '{tag}은(는) 올바른 이미지 이름이 아니에요.',
  'build.missingBuildArg': '{line}번째 줄: 빌드 인자 {name}에 값이 없어요.',

  'container.notFound': '컨테이너가 없어요: {ref}',
  'container.ambiguous': '{ref}에 해당하는 컨테이너가 여러 개예요: {matches}',
  'container.nameInUse': '이름 {name}은(는) 이미 컨테이너 {id}가 쓰고 있어요.',
  'container.notRunning': '컨테이너 {ref}은(는) 실행 중이 아니에요.',
  'container.isRunning': '컨테이너 {ref}이(가) 실행 중이에요. 먼저 멈추거나 --force로 지우세요.',
  'container.isPaused': '컨테이너 {ref}이(가) 일시 정지 상태예요. 먼저 unpause 하세요.',
  'container.commandNotFound': '{command}: $PATH에서 실행 파일을 찾을 수 없어요',
  'container.cannotRun': '{command}: 실행할 수 없어요: {reason}',

  'quota.images': '이미지가 {count}개 있어요. 한도는 {limit}개예요. rmi로 몇 개 지우세요.',
  'quota.containers': '컨테이너가 {count}개 있어요. 한도는 {limit}개예요. rm으로 몇 개 지우세요.',
  'quota.layerBytes': '이미지와 컨테이너가 디스크를 {size} 쓰고 있어요. 한도는 {limit}예요.',

  'image.notFound': '이미지가 없어요: {ref}',
  'image.ambiguous': '{ref}에 해당하는 이미지가 여러 개예요: {matches}',
  'image.conflict': '이미지 {ref}을(를) {users}이(가) 쓰고 있어요. 먼저 그것들을 지우거나 --force를 쓰세요.',
  'reference.invalid': '{ref}은(는) 올바른 이미지 참조가 아니에요.',
  'layer.invalid': '이 이미지의 레이어가 손상됐어요: {detail}',
  'layer.missing': '이 이미지의 레이어가 없어요: {layer}',
  'archive.invalid': '이미지 아카이브가 아니에요: {detail}',
  'archive.digestMismatch': '아카이브가 손상됐어요: {item}이(가) 다이제스트와 맞지 않아요.',
  'archive.unsafePath': '아카이브에 안전하지 않은 경로가 있어요: {path}',
  'archive.tooLarge': '아카이브가 한도 {limit}보다 커요.',
  'baseImage.unknown': '베이스 이미지 {image}은(는) 쓸 수 있는 이미지가 아니에요: {available}.',
  'baseImage.unavailable': '베이스 이미지 {image}을(를) 준비하지 못했어요: {detail}',
};

export const messages = { en, ko } as const;
