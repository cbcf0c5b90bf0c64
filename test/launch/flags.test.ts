// `zerots launch` flags: torchrun's spellings, --standalone, --nproc-per-node auto, --rdzv-timeout, the help's
// examples (issue 12 item 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { optionsFromFlags } from '../../src/cli/launch.js';
import { ConfigError } from '../../src/errors.js';
import { CLI } from '../helpers/launch-cli.js';

test("launch flags: torchrun's underscore spellings mean the same as the dashed ones", async () => {
  const o = await optionsFromFlags(
    {
      nproc_per_node: '4',
      nnodes: '2',
      node_rank: '1',
      master_addr: '10.0.0.1',
      master_port: '29555',
      transport: 'tcp',
    },
    's.js',
    ['--x'],
  );
  assert.deepEqual(
    [o.nprocPerNode, o.nnodes, o.nodeRank, o.masterAddr, o.masterPort, o.script, o.args],
    [4, 2, 1, '10.0.0.1', 29555, 's.js', ['--x']],
  );
});

test('launch flags: --nproc-per-node auto, --standalone (a free port), --rdzv-timeout in seconds', async () => {
  const o = await optionsFromFlags(
    { nprocPerNode: 'auto', standalone: true, rdzvTimeout: '2.5', transport: 'tcp' },
    's.js',
    [],
  );
  assert.equal(o.nprocPerNode, availableParallelism());
  assert.notEqual(o.masterPort, 29500);
  assert.equal(o.rdzvTimeoutMs, 2500);
  for (const bad of [{ nprocPerNode: '0' }, { nprocPerNode: 'many' }, {}, { nprocPerNode: '2', rdzvTimeout: '-1' }])
    await assert.rejects(optionsFromFlags({ transport: 'tcp', ...bad }, 's.js', []), ConfigError);
  await assert.rejects(
    optionsFromFlags({ nprocPerNode: '2', nnodes: '2', standalone: true, transport: 'tcp' }, 's.js', []),
    /--standalone runs one node/,
  );
});

test('zerots launch --help shows examples and the torchrun spellings', () => {
  const help = execFileSync(process.execPath, [CLI, 'launch', '--help'], { encoding: 'utf8' });
  assert.match(help, /Examples:/);
  assert.match(help, /--standalone --nproc-per-node auto/);
  assert.match(help, /--nproc_per_node/);
});
