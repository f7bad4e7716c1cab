// ARG scoping, as the Dockerfile reference describes it: an ARG before the first FROM is a
// global ("meta") argument that only FROM lines can use; inside a stage, an ARG is visible from
// its line to the end of that stage, and `ARG NAME` without a default takes the global value.
// A value given with --build-arg overrides a default; ENV of the same name overrides both.
import { ociArchitecture } from './image-config.js';

/** Arguments BuildKit defines for every build; usable once declared with ARG. */
function automaticArgs(): Map<string, string> {
  const platform = `linux/${ociArchitecture()}`;
  return new Map([
    ['TARGETPLATFORM', platform],
    ['TARGETOS', 'linux'],
    ['TARGETARCH', ociArchitecture()],
    ['TARGETVARIANT', ''],
    ['BUILDPLATFORM', platform],
    ['BUILDOS', 'linux'],
    ['BUILDARCH', ociArchitecture()],
    ['BUILDVARIANT', ''],
  ]);
}

/** The build arguments of one build and which of them some ARG declared. */
export class BuildArgs {
  private readonly consumed = new Set<string>();
  private readonly automatic = automaticArgs();

  constructor(private readonly given: Readonly<Record<string, string>>) {}

  /** The effective value of `ARG name[=default]`. */
  valueFor(name: string, defaultValue: string | undefined, inherited: string | undefined): string | undefined {
    if (Object.hasOwn(this.given, name)) {
      this.consumed.add(name);
      return this.given[name];
    }
    return defaultValue ?? inherited ?? this.automatic.get(name);
  }

  /** Build arguments no ARG asked for (Docker warns about them). */
  unused(): string[] {
    return Object.keys(this.given)
      .filter((name) => !this.consumed.has(name))
      .sort();
  }
}

/** The arguments visible at one point of a stage (or of the global scope). */
export class ArgScope {
  private readonly values = new Map<string, string | undefined>();

  constructor(
    private readonly buildArgs: BuildArgs,
    /** Global arguments, for `ARG NAME` without a default inside a stage. */
    private readonly globals: ArgScope | null,
  ) {}

  declare(name: string, defaultValue: string | undefined): void {
    const inherited = defaultValue === undefined ? this.globals?.get(name) : undefined;
    this.values.set(name, this.buildArgs.valueFor(name, defaultValue, inherited));
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The value, or undefined when undeclared or declared without one. */
  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** Declared arguments that have a value, in declaration order. */
  entries(): [string, string][] {
    return [...this.values].filter((entry): entry is [string, string] => entry[1] !== undefined);
  }

  /** A new scope for a stage, seeing these globals. */
  static forStage(buildArgs: BuildArgs, globals: ArgScope): ArgScope {
    return new ArgScope(buildArgs, globals);
  }
}
