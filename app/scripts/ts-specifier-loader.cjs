// A Turbopack loader for our own TypeScript (app/ and protocol/, never node_modules): a relative
// import written with `.js` (as NodeNext requires of protocol/, which the worker runs too) is
// rewritten to the `.ts`/`.tsx` file beside it, because Turbopack in Next 16.4 has no
// resolve.extensionAlias (vercel/next.js#82945). Imports of real .js files are left alone.
const { existsSync } = require('node:fs');
const { dirname, resolve } = require('node:path');

const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"\n]+?)\.js\2/g;

module.exports = function tsSpecifierLoader(source) {
  const dir = dirname(this.resourcePath);
  return source.replace(SPECIFIER, (whole, lead, quote, stem) => {
    for (const ext of ['.ts', '.tsx']) {
      if (existsSync(resolve(dir, stem + ext))) return `${lead}${quote}${stem}${ext}${quote}`;
    }
    return whole;
  });
};
