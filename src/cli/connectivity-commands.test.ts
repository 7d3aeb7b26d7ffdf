// `brindlectl connectivity test --simulate` registered on a fresh commander program: the full shared
// case file passes with one row per case, a failing case shows expected and observed side by side and
// sets a failing exit status, and the non-simulated mode explains where it lives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerConnectivityCommands } from './connectivity-commands.ts';

const CASES = fileURLToPath(new URL('../../../shared/conformance/k8s-netpol-cases.yaml', import.meta.url));

async function run(args: string[]) {
  let out = '';
  let err = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { err += s; } });
  registerConnectivityCommands(program, { loadResources: async () => [], stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  const before = process.exitCode;
  process.exitCode = undefined;
  let error: Error | undefined;
  let exitCode: number | string | undefined;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e as Error;
  } finally {
    exitCode = process.exitCode;
    process.exitCode = before;
  }
  return { out, err, error, exitCode };
}

test('all 67 shared cases pass in simulation, one row per case', async () => {
  const r = await run(['connectivity', 'test', '--simulate', '--cases', CASES]);
  assert.equal(r.error, undefined);
  assert.equal(r.exitCode, undefined);
  const rows = r.out.split('\n').filter((l) => /^(e2e|legacy)-\S+\s+\d+\s+\d+\s+\d+\s+ok$/.test(l));
  assert.equal(rows.length, 67);
  assert.match(r.out, /^CASE\s+PASSED\s+FAILED\s+SKIPPED\s+RESULT\n/);
  assert.match(r.out, /\n67 cases: 67 passed, 0 failed \(\d+ probes evaluated, simulated\)\n$/);
});

test('--only runs the named cases; -o json gives the results', async () => {
  const r = await run(['connectivity', 'test', '--simulate', '--cases', CASES, '--only', 'e2e-01, e2e-sctp-01', '-o', 'json']);
  const run1 = JSON.parse(r.out);
  assert.deepEqual(run1.cases.map((c: { id: string }) => c.id), ['e2e-01', 'e2e-sctp-01']);
  assert.equal(run1.cases[1].probes[0].protocol, 'SCTP');
  assert.equal(run1.cases[0].passed, 72);
  const unknown = await run(['connectivity', 'test', '--simulate', '--cases', CASES, '--only', 'nope']);
  assert.match(unknown.error?.message ?? '', /no case with id "nope"/);
});

test('a failing case prints expected and observed side by side and sets exit status 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'brindle-conn-'));
  try {
    const text = readFileSync(CASES, 'utf8').replace(/(- id: e2e-01\n[\s\S]*?\n {8}y\/a: )XXX-\.\.\.\.\./, '$1...-.....');
    assert.notEqual(text, readFileSync(CASES, 'utf8'), 'the fixture edit applied');
    const file = join(dir, 'cases.yaml');
    writeFileSync(file, text);
    const r = await run(['connectivity', 'test', '--simulate', '--cases', file, '--only', 'e2e-01,e2e-02']);
    assert.equal(r.exitCode, 1);
    assert.match(r.out, /\ne2e-01\s+69\s+3\s+0\s+FAIL\n/);
    assert.match(r.out, /\ne2e-02\s+72\s+0\s+0\s+ok\n/);
    assert.match(r.out, /e2e-01 initial probes: TCP\/80: 3 wrong\n\s+expected\s+observed\n/);
    assert.match(r.out, /\n {4}x\/a {3}-XX\.\.\.\.\.\. {2}-XX\.\.\.\.\.\.\n/);
    assert.match(r.out, /\n {2}\* y\/a {3}\.\.\.-\.\.\.\.\. {2}XXX-\.\.\.\.\.\n/);
    assert.match(r.out, /2 cases: 1 passed, 1 failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without --simulate it says the lab runner is where real packets are tested', async () => {
  const r = await run(['connectivity', 'test', '--cases', CASES]);
  assert.match(r.error?.message ?? '', /needs the lab runner, which arrives with `brindlectl lab`; add --simulate/);
});

test('a missing or malformed cases file is named', async () => {
  const r = await run(['connectivity', 'test', '--simulate', '--cases', '/nonexistent/cases.yaml']);
  assert.match(r.error?.message ?? '', /cannot read cases file "\/nonexistent\/cases\.yaml": ENOENT/);
  const dir = mkdtempSync(join(tmpdir(), 'brindle-conn-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'model: 3\ncases: []\n');
    const bad = await run(['connectivity', 'test', '--simulate', '--cases', file]);
    assert.match(bad.error?.message ?? '', /cases file ".*bad\.yaml": model: expected a mapping/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
