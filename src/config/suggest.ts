// "Did you mean X?" for misspelt keys and values (edit distance through fastest-levenshtein).
import { closest, distance } from 'fastest-levenshtein';

/** The closest candidate when it is plausibly a typo of `word` (case-insensitive match, or a few edits away). */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const lower = word.toLowerCase();
  const exactCase = candidates.find((c) => c.toLowerCase() === lower);
  if (exactCase !== undefined) return exactCase;
  const best = closest(
    lower,
    candidates.map((c) => c.toLowerCase()),
  );
  const i = candidates.findIndex((c) => c.toLowerCase() === best);
  // A third of the word's length (at least 2) separates typos from different words in practice.
  const limit = Math.max(2, Math.floor(word.length / 3));
  return distance(lower, best) <= limit ? candidates[i] : undefined;
}

/** " Did you mean \"X\"?" or "" */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` Did you mean "${s}"?`;
}
