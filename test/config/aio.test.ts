// The "aio" block: thread_count and block_size act (resolved, not listed as ignored), the libaio/GDS knobs are
// accepted without effect (listed), and bad values are ConfigErrors naming the key and the allowed range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';

const resolve = (aio: unknown) => resolveConfig({ train_batch_size: 4, aio }, { worldSize: 1 });

test('aio: thread_count and block_size act; queue_depth, single_submit, overlap_events are inert', () => {
  const ds = { block_size: 1048576, queue_depth: 8, thread_count: 1, single_submit: false, overlap_events: true };
  const c = resolve(ds);
  assert.deepEqual(c.aio, { threadCount: 1, blockSize: 1048576 });
  assert.deepEqual(c.ignoredKeys, ['aio.queue_depth', 'aio.single_submit', 'aio.overlap_events']);
  assert.deepEqual(resolveConfig({ train_batch_size: 4 }, { worldSize: 1 }).aio, {
    threadCount: null,
    blockSize: null,
  });
  assert.deepEqual(resolve({}).aio, { threadCount: null, blockSize: null });
});

test('aio: bad values are refused with the key and the range', () => {
  const refuses = (aio: unknown, path: string, hint: string) =>
    assert.throws(
      () => resolve(aio),
      (e: unknown) => e instanceof ConfigError && e.path === path && e.message.includes(hint),
      `${JSON.stringify(aio)}`,
    );
  refuses({ thread_count: 0 }, 'aio.thread_count', 'from 1 to 64');
  refuses({ thread_count: 2.5 }, 'aio.thread_count', 'whole number');
  refuses({ thread_count: '2' }, 'aio.thread_count', 'whole number');
  refuses({ block_size: 100 }, 'aio.block_size', 'from 512 to 1073741824');
  refuses({ block_size: 2 ** 31 }, 'aio.block_size', 'from 512');
  refuses({ blok_size: 4096 }, 'aio.blok_size', 'block_size');
  refuses(4, 'aio', 'must be an object');
});
