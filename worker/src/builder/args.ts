// ARG scoping, as the Dockerfile reference describes it: an ARG before the first FROM is a
// global ("meta") argument that only FROM lines can use; inside a stage, an ARG is visible from
// its line to the end of that stage, and `ARG NAME` without a default takes the global value.
// A value given with --build-arg overrides a default; ENV of the same name overrides both.
// As in BuildKit, a stage built `FROM` an earlier stage sees that stage's ARGs, and the proxy
// arguments (HTTP_PROXY and friends) reach RUN without any ARG.
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

/** Docker's predefined arguments: given with --build-arg, they need no ARG. */
export const PROXY_ARGS: readonly string[] = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((n) => [n, n.toLowerCase()]);

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

  /** BuildKit's platform arguments, which FROM lines see without an ARG. */
  automaticValue(name: string): string | undefined {
    return this.automatic.get(name);
  }

  /** Proxy arguments given for this build, in the order given. */
  proxies(): [string, string][] {
    return Object.entries(this.given).filter(([name]) => PROXY_ARGS.includes(name));
  }

  /** Build arguments no ARG asked for (Docker warns about them; never about the proxy ones). */
  unused(): string[] {
    return Object.keys(this.given)
      .filter((name) => !this.consumed.has(name) && !PROXY_ARGS.includes(name))
      .sort();
  }
}

/** The arguments visible at one point of a stage (or of the global scope). */
export class ArgScope {
  private readonly values = new Map<string, string | undefined>();
  /** The final ARGs of the stage this one is built FROM. */
  private readonly inherited = new Map<string, string>();

  constructor(
    private readonly buildArgs: BuildArgs,
    /** Global arguments, for `ARG NAME` without a default inside a stage. */
    private readonly globals: ArgScope | null,
  ) {}

  declare(name: string, defaultValue: string | undefined): void {
    const inherited = defaultValue === undefined ? (this.inherited.get(name) ?? this.globals?.get(name)) : undefined;
    this.values.set(name, this.buildArgs.valueFor(name, defaultValue, inherited));
  }

  has(name: string): boolean {
    return this.values.has(name) || this.inherited.has(name);
  }

  /** The value, or undefined when undeclared or declared without one. */
  get(name: string): string | undefined {
    if (this.values.has(name)) return this.values.get(name);
    if (this.inherited.has(name)) return this.inherited.get(name);
    // The global scope (FROM lines) sees BuildKit's platform arguments undeclared.
    return this.globals === null ? this.buildArgs.automaticValue(name) : undefined;
  }

  /** Arguments with a value, inherited ones first, in declaration order: a RUN's environment. */
  entries(): [string, string][] {
    const own = [...this.values].filter((entry): entry is [string, string] => entry[1] !== undefined);
    return [...[...this.inherited].filter(([name]) => !this.values.has(name)), ...own];
  }

  /** This stage's own declarations, a missing value as '': what RUN's history lists. */
  declared(): [string, string][] {
    return [...this.values].map(([name, value]) => [name, value ?? '']);
  }

  /** A new scope for a stage, seeing these globals and the ARGs of the stage it is built from. */
  static forStage(buildArgs: BuildArgs, globals: ArgScope, base: ArgScope | null = null): ArgScope {
    const scope = new ArgScope(buildArgs, globals);
    for (const [name, value] of base?.entries() ?? []) scope.inherited.set(name, value);
    return scope;
  }
}
