// Loaded by `zerots launch` into every rank process before the script (`node --import <this file> script ...`):
//   - starts the launcher watcher ([Note: ranks watch the launcher], watch-launcher.ts);
//   - reports an uncaught zerots error (src/errors.ts) in one line, `zerots rank R: Name: message`, instead of a
//     stack trace (which the launcher's summary then quotes); any other error is printed as Node would. Either
//     way the rank exits with code 1, as Node does (a script that installs its own handler keeps control).
import { inspect } from 'node:util';
import * as errors from '../errors.js';
import { launcherOf } from './env.js';
import { watchLauncher } from './watch-launcher.js';

const l = launcherOf(process.env);
if (l) watchLauncher(l.pid, l.label);

function isZerotsError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  // by name too: a script may load zerots from another path (another module instance of errors.ts)
  return e instanceof errors.ZeroTsError || (e.name !== 'ZeroTsError' && e.name in errors);
}

const report = (e: unknown): void => {
  // a script with its own handler keeps the say over its uncaught errors
  if (process.listenerCount('uncaughtException') > 1) return;
  if (isZerotsError(e)) process.stderr.write(`zerots rank ${process.env.RANK ?? '?'}: ${e.name}: ${e.message}\n`);
  else process.stderr.write(`${inspect(e)}\n`);
  process.exit(1);
};
process.on('uncaughtException', report);
