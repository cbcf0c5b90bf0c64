// The mark by which spawnWorld knows that it is being called by the module a rank is importing (issue 12).
//
// [Note: a rank module that also spawns] README's snippet exports `rank` and calls
// `await spawnWorld({ module: import.meta.url, fn: 'rank' })` at its top level. Each rank imports that module to
// find `rank`, which would run the top-level spawnWorld again: a world per rank, each waiting on its own ranks, a
// hang. So a rank records which module and export it runs before importing it (markRankImport, in thread-rank.ts
// and process-rank.ts), and spawnWorld of that same module and export inside the rank resolves at once to []:
// the import completes, and the rank then runs `rank`. Kept on globalThis so that a second copy of zerots loaded
// by the module (another install) sees the mark too.
const RANK_IMPORT = Symbol.for('zerots.rankImport');

/** Called by a rank before it imports the module whose export it runs. */
export function markRankImport(moduleHref: string, fn: string): void {
  (globalThis as Record<symbol, unknown>)[RANK_IMPORT] = `${fn}@${moduleHref}`;
}

/** Whether this rank is importing `href` to run its export `fn`. */
export function isRankImport(href: string, fn: string): boolean {
  return (globalThis as Record<symbol, unknown>)[RANK_IMPORT] === `${fn}@${href}`;
}
