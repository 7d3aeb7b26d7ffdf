// `brindlectl node status` on a fresh commander program with a fake birdc: the table from captured
// BIRD output, JSON output, the socket option reaching birdc, and clear errors when BIRD is not there
// or --all is asked for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { FakeRunner } from '../os/index.ts';
import { registerBgpCommands } from './bgp-commands.ts';
import type { CommandContext } from './resource-commands.ts';

const STATUS = readFileSync(fileURLToPath(new URL('../bgp/testdata/status-mesh-up.txt', import.meta.url)), 'utf8');

async function run(args: string[], runner: FakeRunner) {
  let out = '';
  const ctx: CommandContext = {
    io: { stdout: (s) => { out += s; }, stderr: () => {}, readStdin: async () => '', env: {} },
    store: async () => { throw new Error('node status must not open the datastore'); },
  };
  const program = new Command().exitOverride();
  registerBgpCommands(program, ctx, { runner });
  let error: Error | undefined;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e as Error;
  }
  return { out, error };
}

test('prints the sessions read from the given BIRD socket', async () => {
  const runner = new FakeRunner().on('birdc -s /tmp/x/bird.ctl show protocols all', { stdout: STATUS });
  const r = await run(['node', 'status', '--bird-socket', '/tmp/x/bird.ctl'], runner);
  assert.equal(r.error, undefined);
  assert.equal(runner.calls.length, 1);
  assert.match(r.out, /^BIRD is running \(control socket \/tmp\/x\/bird.ctl\)\.\n\nIPv4 BGP status\n/);
  assert.match(r.out, /\n192\.168\.77\.12\s+node-to-node mesh\s+up\s+2026-11-26 08:09:44\s+Established\n/);
  assert.match(r.out, /\n192\.168\.77\.99\s+global\s+start\s+2026-11-26 08:09:43\s+Connect\n/);
});

test('-o json gives the parsed sessions', async () => {
  const runner = new FakeRunner().on('birdc', { stdout: STATUS });
  const r = await run(['node', 'status', '--bird-socket', '/s', '-o', 'json'], runner);
  const doc = JSON.parse(r.out);
  assert.equal(doc.birdSocket, '/s');
  assert.deepEqual(doc.sessions.map((s: { peerAddress: string; bgpState: string }) => [s.peerAddress, s.bgpState]), [['192.168.77.99', 'Connect'], ['192.168.77.12', 'Established']]);
});

test('BIRD not reachable and --all are reported, not printed as empty tables', async () => {
  const down = new FakeRunner().on('birdc', { code: 1, stderr: 'Unable to connect to server control socket (/nope): No such file or directory' });
  const r = await run(['node', 'status', '--bird-socket', '/nope'], down);
  assert.match(String(r.error?.message), /BIRD is not running or not reachable: .*"\/nope"/);
  assert.equal(r.out, '');
  const all = await run(['node', 'status', '--all'], new FakeRunner());
  assert.match(String(all.error?.message), /--all needs agents to publish/);
});
