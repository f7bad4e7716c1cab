// @napi-rs/xattr as the command line's bundle sees it (scripts/build-cli.cjs aliases the package
// to this file): the image store's modules import it at load, but only a verb that reads or
// writes a layer's files calls it, and loading the native addon costs a start about 10 ms.
import { createRequire } from 'node:module';
import type * as Xattr from '@napi-rs/xattr';

// Not a literal import: the bundle's alias would turn it back into this file.
const PACKAGE = ['@napi-rs', 'xattr'].join('/');
let real: typeof Xattr | null = null;
const load = (): typeof Xattr => (real ??= createRequire(import.meta.url)(PACKAGE) as typeof Xattr);

export const getAttribute: typeof Xattr.getAttribute = (...args) => load().getAttribute(...args);
export const setAttribute: typeof Xattr.setAttribute = (...args) => load().setAttribute(...args);
export const listAttributes: typeof Xattr.listAttributes = (...args) => load().listAttributes(...args);
export const removeAttribute: typeof Xattr.removeAttribute = (...args) => load().removeAttribute(...args);
