// "Did you mean COPY?" for a misspelt instruction: the closest keyword by edit distance, when
// it is close enough to be a plausible typo rather than a different word.

/** Levenshtein distance, with an adjacent swap counting as one edit (CPOY → COPY). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The keyword closest to `word` (compared in upper case), or null if none is close. */
export function closestKeyword(word: string, keywords: readonly string[]): string | null {
  const upper = word.toUpperCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const keyword of keywords) {
    const distance = editDistance(upper, keyword);
    if (distance < bestDistance) {
      best = keyword;
      bestDistance = distance;
    }
  }
  // One edit for short words, two for longer ones: "RUNN" → RUN, "WORKDIRR" → WORKDIR, but
  // "FOO" suggests nothing.
  const allowed = upper.length <= 4 ? 1 : 2;
  return bestDistance <= allowed ? best : null;
}
