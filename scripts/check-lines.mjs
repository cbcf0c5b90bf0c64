// The line budgets the formatter cannot enforce: no source file over 500 lines, no line over 140 characters
// (the formatter wraps code at 120 but leaves long strings and comments alone; AssemblyScript is not formatted).
// Usage: node scripts/check-lines.mjs   (exits 1 and lists the offenders)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const MAX_FILE_LINES = 500;
const MAX_LINE_CHARS = 140;
const root = join(import.meta.dirname, '..');
const problems = [];
function walk(dir) {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== 'node_modules' && e !== 'fixtures') walk(p);
    } else if (/\.(ts|mjs)$/.test(e)) check(p);
  }
}
function check(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const rel = relative(root, path);
  if (rel.startsWith('src/') && lines.length > MAX_FILE_LINES)
    problems.push(`${rel}: ${lines.length} lines (at most ${MAX_FILE_LINES} in src/)`);
  lines.forEach((l, i) => {
    if (l.length > MAX_LINE_CHARS) problems.push(`${rel}:${i + 1}: ${l.length} characters (at most ${MAX_LINE_CHARS})`);
  });
}
for (const d of ['src', 'test', 'examples', 'scripts', 'tools']) {
  try {
    walk(join(root, d));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
}
if (problems.length > 0) {
  console.error(`line budgets: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
