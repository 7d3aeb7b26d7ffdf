// brindlectl ipam show / check / release / configure, in-process against a real SQLite datastore:
// tables and JSON, one address, a check report written to a file and released from, and bad
// flags that exit 2 with one clear line.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResourceStore, SqliteDatastore } from '../datastore/index.ts';
import { Ipam } from '../ipam/index.ts';
import type { AssignedAddress } from '../ipam/index.ts';
import { BRINDLE_API_VERSION } from '../model/index.ts';
import { memoryIO } from './io.ts';
import { runCli } from './main.ts';

let dir: string;
let db: string;
let ds: SqliteDatastore;
let used: AssignedAddress;
let leaked: AssignedAddress;

async function ctl(args: string[]) {
  const io = memoryIO('', {});
  const code = await runCli(['--datastore', `sqlite:${db}`, ...args], io);
  return { code, out: io.out, err: io.err };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'brindle-ipam-cli-'));
  db = join(dir, 'brindle.db');
  ds = new SqliteDatastore(db);
  const rs = new ResourceStore(ds);
  await rs.create({ apiVersion: BRINDLE_API_VERSION, kind: 'IPPool', metadata: { name: 'pool-a' }, spec: { cidr: '10.65.0.0/24', blockSize: 28 } });
  await rs.create({ apiVersion: BRINDLE_API_VERSION, kind: 'IPPool', metadata: { name: 'pool-6' }, spec: { cidr: 'fd00:65::/64' } });
  await rs.create({ apiVersion: BRINDLE_API_VERSION, kind: 'IPReservation', metadata: { name: 'gw' }, spec: { reservedCIDRs: ['10.65.0.0/30'] } });
  await rs.create({ apiVersion: BRINDLE_API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: {} });
  const ipam = new Ipam(ds, { host: 'n1' });
  used = (await ipam.autoAssign({ handleId: 'net.used', num4: 1, attrs: { node: 'n1', namespace: 'default', pod: 'web' } })).ipv4[0];
  leaked = (await ipam.autoAssign({ handleId: 'net.gone', num4: 1, attrs: { node: 'n1', namespace: 'default', pod: 'gone' } })).ipv4[0];
  const v6 = (await ipam.autoAssign({ handleId: 'net.v6', num6: 1, attrs: { node: 'n1', namespace: 'default', pod: 'web' } })).ipv6[0];
  await rs.create({
    apiVersion: BRINDLE_API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name: 'web', namespace: 'default' },
    spec: { node: 'n1', pod: 'web', endpoint: 'eth0', ipNetworks: [`${used.ip}/32`, `${v6.ip}/128`] },
  });
});

after(async () => {
  await ds.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('brindlectl ipam', () => {
  it('show: per-pool totals, in use, reserved and free; --show-blocks adds the blocks', async () => {
    const r = await ctl(['ipam', 'show']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0], /^POOL\s+CIDR\s+BLOCK SIZE\s+IPS TOTAL\s+IN USE\s+RESERVED\s+FREE\s+BLOCKS\s+DISABLED$/);
    assert.match(r.out, /pool-6\s+fd00:65::\/64\s+\/122\s+18446744073709551616\s+1 \(0%\)\s+0\s+18446744073709551615 \(100%\)\s+1\s+false/);
    assert.match(r.out, /pool-a\s+10\.65\.0\.0\/24\s+\/28\s+256\s+2 \(0\.8%\)\s+4\s+250 \(97\.7%\)\s+1\s+false/);
    assert.doesNotMatch(r.out, /BLOCK\s+POOL\s+HOST/);
    const b = await ctl(['ipam', 'show', '--show-blocks', '--show-configuration']);
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, new RegExp(`${used.block.replace(/[./]/g, '\\$&')}\\s+pool-a\\s+n1\\s+16\\s+2 \\(12\\.5%\\)\\s+\\d+\\s+\\d+`));
    assert.match(b.out, /strictAffinity: false\nmaxBlocksPerHost: 0 \(no limit\)\nautoAllocateBlocks: true/);
  });

  it('show -o json prints sizes as strings', async () => {
    const r = await ctl(['ipam', 'show', '--show-blocks', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    const a = doc.pools.find((p: { name: string }) => p.name === 'pool-a');
    assert.deepEqual([a.total, a.inUse, a.reserved, a.free], ['256', '2', '4', '250']);
    assert.equal(doc.blocks.length, 2);
  });

  it('show --ip: owner, block and endpoints of one address', async () => {
    const r = await ctl(['ipam', 'show', '--ip', used.ip]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^IP ${used.ip.replace(/\./g, '\\.')} is in use\n`));
    assert.match(r.out, /pool:\s+pool-a\n/);
    assert.match(r.out, /affine to host "n1"/);
    assert.match(r.out, /handle:\s+net\.used\n/);
    assert.match(r.out, /attributes: node=n1 namespace=default pod=web/);
    assert.match(r.out, /endpoints:\s+default\/web\n/);
    const free = await ctl(['ipam', 'show', '--ip', '10.65.0.250']);
    assert.match(free.out, /IP 10\.65\.0\.250 is not allocated/);
    const reserved = await ctl(['ipam', 'show', '--ip', '10.65.0.1']);
    assert.match(reserved.out, /is reserved\n[\s\S]*reserved:\s+by IPReservation "gw"/);
    const bad = await ctl(['ipam', 'show', '--ip', '10.65.0']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /"10\.65\.0" is not an IP address/);
  });

  it('check -o FILE writes the report; release --from-report frees the leak once', async () => {
    const report = join(dir, 'report.json');
    const r = await ctl(['ipam', 'check', '-o', report]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Leaked allocations \(allocated, no endpoint\): 1\n/);
    assert.match(r.out, new RegExp(`  ${leaked.ip.replace(/\./g, '\\.')}  handle "net\\.gone"`));
    assert.match(r.out, /Report written to .*report\.json; release the leaks with: brindlectl ipam release --from-report/);
    const saved = JSON.parse(readFileSync(report, 'utf8'));
    assert.equal(saved.kind, 'IpamCheckReport');
    assert.deepEqual(saved.leakedAllocations.map((l: { ip: string }) => l.ip), [leaked.ip]);

    const rel = await ctl(['ipam', 'release', '--from-report', report]);
    assert.equal(rel.code, 0, rel.err);
    assert.match(rel.out, new RegExp(`released ${leaked.ip.replace(/\./g, '\\.')}\n`));
    assert.match(rel.out, /released 1 of 1 leaked allocation\(s\) in the report/);
    const again = await ctl(['ipam', 'release', '--from-report', report]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /skipped .*: no longer leaked/);
    assert.match(again.out, /released 0 of 1/);
    const stdout = await ctl(['ipam', 'check', '-o', '-']);
    assert.equal(JSON.parse(stdout.out).summary.leakedAllocations, 0);
  });

  it('release --ip frees an address; errors are one line with the right exit status', async () => {
    const ipam = new Ipam(ds, { host: 'n1' });
    const [a] = (await ipam.autoAssign({ handleId: 'tmp', num4: 1 })).ipv4;
    const r = await ctl(['ipam', 'release', '--ip', a.ip]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `released ${a.ip}\n`);
    const twice = await ctl(['ipam', 'release', '--ip', a.ip]);
    assert.equal(twice.code, 1);
    assert.equal(twice.err, `brindlectl: cannot release ${a.ip}: not allocated\n`);
    const neither = await ctl(['ipam', 'release']);
    assert.equal(neither.code, 2);
    assert.match(neither.err, /give either --ip IP \(repeatable\) or --from-report FILE/);
    const both = await ctl(['ipam', 'release', '--ip', a.ip, '--from-report', 'x.json']);
    assert.equal(both.code, 2);
    const missing = await ctl(['ipam', 'release', '--from-report', join(dir, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read report ".*nope\.json"/);
    const notReport = join(dir, 'not-report.json');
    writeFileSync(notReport, '{"kind":"Pod"}');
    const wrong = await ctl(['ipam', 'release', '--from-report', notReport]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /not-report\.json: not an IPAM check report/);
    const badIp = await ctl(['ipam', 'release', '--ip', 'ten']);
    assert.equal(badIp.code, 2);
    assert.match(badIp.err, /--ip: "ten" is not an IP address/);
  });

  it('configure shows and changes the IPAM configuration, refusing inconsistent settings', async () => {
    const show = await ctl(['ipam', 'configure']);
    assert.equal(show.out, 'strictAffinity: false\nmaxBlocksPerHost: 0 (no limit)\nautoAllocateBlocks: true\n');
    const bad = await ctl(['ipam', 'configure', '--max-blocks-per-host', '3']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /maxBlocksPerHost: a limit of 3 needs strictAffinity: true/);
    const set = await ctl(['ipam', 'configure', '--strict-affinity', 'true', '--max-blocks-per-host', '3']);
    assert.equal(set.code, 0, set.err);
    assert.equal(set.out, 'strictAffinity: true\nmaxBlocksPerHost: 3\nautoAllocateBlocks: true\n');
    assert.deepEqual(await new Ipam(ds).getConfig(), { strictAffinity: true, maxBlocksPerHost: 3, autoAllocateBlocks: true });
    const word = await ctl(['ipam', 'configure', '--strict-affinity', 'maybe']);
    assert.equal(word.code, 2);
    assert.match(word.err, /--strict-affinity: expected true or false, got "maybe"/);
    await ctl(['ipam', 'configure', '--strict-affinity', 'false', '--max-blocks-per-host', '0']);
  });
});
