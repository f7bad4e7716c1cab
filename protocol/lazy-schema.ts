// A zod schema built on its first use instead of at import. Building zod schemas is most of what
// importing protocol/ and the engine's record modules costs (tens of milliseconds for a process
// that then uses none of them: `layercake images`, `ps`); a module that defines its schemas with
// lazySchema costs its importer nothing until one of them is used. The stand-in forwards every
// property read, call and check (`instanceof` included: zod answers it from `_zod`) to the real
// schema, so callers, composition (`.extend`, `z.array(X)`) and `z.infer` are as before.
import type { z } from 'zod';

export function lazySchema<S extends z.ZodType>(build: () => S): S {
  let real: S | undefined;
  const schema = (): S => (real ??= build());
  return new Proxy({} as S, {
    get: (_, key) => Reflect.get(schema(), key),
    has: (_, key) => Reflect.has(schema(), key),
    set: (_, key, value) => Reflect.set(schema(), key, value),
    ownKeys: () => Reflect.ownKeys(schema()),
    // Reported configurable: the stand-in's own target has none of these properties.
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(schema(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(schema()),
  });
}
