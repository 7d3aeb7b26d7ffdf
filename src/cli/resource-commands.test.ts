// brindlectl resource verbs end to end, in-process against a real SQLite datastore in a temp dir:
// apply/create/replace/delete/get/label/patch, output formats, kind aliases, and bad input that must
// leave the store unchanged with one clear line and a non-zero exit.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoryIO } from './io.ts';
import { runCli } from './main.ts';

let dir: string;
let db: string;

async function ctl(args: string[], stdin = '') {
  const io = memoryIO(stdin, {});
  const code = await runCli(['--datastore', `sqlite:${db}`, ...args], io);
  return { code, out: io.out, err: io.err };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Everything in the store, for "unchanged" assertions. */
async function snapshot(): Promise<string> {
  const r = await ctl(['datastore', 'export', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.65.0.0/16
`;

const POLICY = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-db
spec:
  order: 10
  selector: role == 'db'
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'backend'
    destination:
      ports: [5432]
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'brindle-cli-'));
  db = join(dir, 'store.db');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('brindlectl resources', () => {
  it('applies Calico v3 manifests unchanged and reports created, then unchanged, then configured', async () => {
    const f = file('pool.yaml', POOL + '---\n' + POLICY);
    let r = await ctl(['apply', '-f', f]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ippool\/pool-a created/);
    assert.match(r.out, /globalnetworkpolicy\/deny-db created/);
    r = await ctl(['apply', '-f', f]);
    assert.match(r.out, /ippool\/pool-a unchanged/);
    const changed = file('pool2.yaml', POOL.replace('10.65.0.0/16', '10.65.0.0/16\n  natOutgoing: true'));
    r = await ctl(['apply', '-f', changed]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ippool\/pool-a configured/);
  });

  it('get shows a table with defaults, accepts plural, short and mixed-case kind names', async () => {
    for (const kind of ['ippool', 'IPPools', 'pool', 'IpPool']) {
      const r = await ctl(['get', kind]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^NAME\s+CIDR\s+BLOCKSIZE/);
      assert.match(r.out, /pool-a\s+10\.65\.0\.0\/16\s+26/);
    }
    const r = await ctl(['get', 'gnp', '-o', 'wide']);
    assert.match(r.out, /deny-db\s+default\s+10\s+Ingress\s+role == 'db'/);
  });

  it('get -o yaml output applies back unchanged', async () => {
    const y = await ctl(['get', 'gnp', 'deny-db', '-o', 'yaml']);
    assert.equal(y.code, 0, y.err);
    assert.match(y.out, /^apiVersion: brindle\.io\/v1\nkind: GlobalNetworkPolicy\n/);
    const before = await snapshot();
    const r = await ctl(['apply', '-f', '-'], y.out);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /globalnetworkpolicy\/deny-db unchanged/);
    assert.equal(await snapshot(), before);
    const all = await ctl(['get', 'pools', '-o', 'yaml']);
    const again = await ctl(['apply', '-f', '-'], all.out);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /ippool\/pool-a unchanged/);
  });

  it('get -o json and -o name', async () => {
    const j = await ctl(['get', 'ippool', 'pool-a', '-o', 'json']);
    const obj = JSON.parse(j.out);
    assert.equal(obj.kind, 'IPPool');
    assert.equal(obj.spec.blockSize, 26);
    assert.ok(Number(obj.metadata.resourceVersion) > 0);
    assert.ok(obj.metadata.uid);
    const n = await ctl(['get', 'gnp', '-o', 'name']);
    assert.equal(n.out, 'globalnetworkpolicy/deny-db\n');
  });

  it('namespaced kinds: -n, -A and the default namespace', async () => {
    const f = file('ns.yaml', `apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web}
spec:
  selector: app == 'web'
  ingress: [{action: Allow}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`);
    const r = await ctl(['apply', '-n', 'prod', '-f', f]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /networkpolicy\/allow-web created/);
    assert.match(r.out, /networkpolicy\/deny-all created/);
    assert.match((await ctl(['get', 'networkpolicy', '-n', 'prod'])).out, /allow-web/);
    const none = await ctl(['get', 'networkpolicy']);
    assert.equal(none.out, '');
    assert.match(none.err, /No resources found in namespace "default"/);
    const all = await ctl(['get', 'cnp', '-A']);
    assert.match(all.out, /^NAMESPACE\s+NAME/);
    assert.match(all.out, /prod\s+allow-web/);
    const knp = await ctl(['get', 'knp', '-n', 'prod', '-o', 'yaml']);
    assert.match(knp.out, /apiVersion: networking\.k8s\.io\/v1\n\s*kind: NetworkPolicy/);
    const sel = await ctl(['get', 'ns', '-l', "env == 'prod'", '-o', 'name']);
    assert.equal(sel.out, 'namespace/prod\n');
  });

  it('label adds, refuses to overwrite without --overwrite, and removes', async () => {
    let r = await ctl(['label', 'ippool', 'pool-a', 'zone=a']);
    assert.equal(r.code, 0, r.err);
    r = await ctl(['label', 'ippool', 'pool-a', 'zone=b']);
    assert.equal(r.code, 1);
    assert.match(r.err, /already has value "a".*--overwrite/);
    r = await ctl(['label', 'ippool', 'pool-a', 'zone=b', '--overwrite']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse((await ctl(['get', 'pool', 'pool-a', '-o', 'json'])).out).metadata.labels.zone, 'b');
    r = await ctl(['label', 'ippool', 'pool-a', 'zone-']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse((await ctl(['get', 'pool', 'pool-a', '-o', 'json'])).out).metadata.labels?.zone, undefined);
    r = await ctl(['label', 'ippool', 'pool-a', 'bad key=x']);
    assert.equal(r.code, 2);
  });

  it('patch merges, validates, and keeps identity', async () => {
    let r = await ctl(['patch', 'ippool', 'pool-a', '-p', '{"spec":{"disabled":true}}']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse((await ctl(['get', 'pool', 'pool-a', '-o', 'json'])).out).spec.disabled, true);
    const before = await snapshot();
    r = await ctl(['patch', 'gnp', 'deny-db', '-p', '{"spec":{"ingress":[{"action":"Alow"}]}}']);
    assert.equal(r.code, 2);
    assert.match(r.err, /spec\.ingress\[0\]\.action/);
    r = await ctl(['patch', 'gnp', 'deny-db', '-p', '{not json']);
    assert.equal(r.code, 2);
    assert.match(r.err, /not valid JSON/);
    assert.equal(await snapshot(), before);
  });

  it('create fails on existing resources before writing anything; replace honours resourceVersion', async () => {
    const before = await snapshot();
    const f = file('mixed.yaml', POOL.replace('pool-a', 'pool-new').replace('10.65.0.0/16', '10.70.0.0/16') + '---\n' + POOL);
    let r = await ctl(['create', '-f', f]);
    assert.equal(r.code, 1);
    assert.match(r.err, /IPPool "pool-a": already exists/);
    assert.equal(await snapshot(), before, 'the first, valid document must not have been created');
    const cur = JSON.parse((await ctl(['get', 'gnp', 'deny-db', '-o', 'json'])).out);
    const stale = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) - 1) } };
    r = await ctl(['replace', '-f', '-'], JSON.stringify(stale));
    assert.equal(r.code, 1);
    assert.match(r.err, /resourceVersion "\d+" is stale/);
    r = await ctl(['replace', '-f', '-'], JSON.stringify({ ...cur, spec: { ...cur.spec, order: 20 } }));
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse((await ctl(['get', 'gnp', 'deny-db', '-o', 'json'])).out).spec.order, 20);
  });

  it('delete by kind and name and by file; missing resources fail unless --skip-not-exists', async () => {
    const f = file('tier.yaml', 'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n');
    assert.equal((await ctl(['apply', '-f', f])).code, 0);
    let r = await ctl(['delete', 'tier', 'security', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.err, /Tier "nope" not found; nothing was deleted/);
    assert.match((await ctl(['get', 'tiers'])).out, /security/);
    r = await ctl(['delete', 'tier', 'security', 'nope', '--skip-not-exists']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /tier\/security deleted/);
    assert.equal((await ctl(['apply', '-f', f])).code, 0);
    r = await ctl(['delete', '-f', f]);
    assert.equal(r.code, 0, r.err);
    assert.equal((await ctl(['get', 'tier', 'security'])).code, 1);
  });
});

describe('brindlectl bad input changes nothing', () => {
  const cases: Array<{ name: string; text: string; expect: RegExp; args?: string[] }> = [
    { name: 'unknown kind', text: 'apiVersion: projectcalico.org/v3\nkind: IPPol\nmetadata: {name: x}\nspec: {}\n', expect: /document 1.*IPPol/ },
    { name: 'bad CIDR', text: POOL.replace('10.65.0.0/16', '10.300.0.0/16').replace('pool-a', 'p2'), expect: /spec\.cidr/ },
    { name: 'overlapping pool', text: POOL.replace('pool-a', 'p3').replace('10.65.0.0/16', '10.65.128.0/17'), expect: /overlap/ },
    { name: 'bad selector with column', text: POLICY.replace("role == 'db'", "role == 'db' &&"), expect: /spec\.selector.*column \d+/ },
    { name: 'reversed port range', text: POLICY.replace('[5432]', '["90:80"]'), expect: /ports\[0\]/ },
    { name: 'unknown action', text: POLICY.replace('Allow', 'Permit'), expect: /spec\.ingress\[0\]\.action/ },
    { name: 'duplicate names in one file', text: POLICY + '---\n' + POLICY, expect: /deny-db/ },
    { name: 'YAML syntax error', text: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: [x\n', expect: /line \d+/ },
    { name: 'namespace mismatch with -n', text: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: q}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {}\n', expect: /does not match -n "b"/, args: ['-n', 'b'] },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 2, one line naming file and document, store unchanged`, async () => {
      const before = await snapshot();
      const f = file(`bad-${c.name.replace(/\W+/g, '-')}.yaml`, c.text);
      const r = await ctl(['apply', ...(c.args ?? []), '-f', f]);
      assert.equal(r.code, 2, `exit status for ${c.name}: ${r.err}`);
      assert.match(r.err, c.expect);
      assert.ok(r.err.includes(f), `error names the file: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
      assert.equal(await snapshot(), before);
    });
  }

  it('unknown kind on the command line and bad output format are usage errors', async () => {
    let r = await ctl(['get', 'frobnicators']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown resource kind "frobnicators"/);
    r = await ctl(['get', 'pools', '-o', 'xml']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown output format "xml"/);
    r = await ctl(['apply', '-f', join(dir, 'missing.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /Cannot read ".*missing\.yaml"/);
  });

  it('a datastore that is down gives one clear line, not a stack trace', async () => {
    const io = memoryIO('', {});
    const code = await runCli(['--datastore', 'etcd:http://127.0.0.1:1', 'get', 'pools'], io);
    assert.equal(code, 1);
    assert.match(io.err, /^brindlectl: .*127\.0\.0\.1:1/);
    assert.doesNotMatch(io.err, /\n\s+at /);
    const bad = memoryIO('', {});
    assert.equal(await runCli(['--datastore', 'mysql://x', 'get', 'pools'], bad), 2);
    assert.match(bad.err, /sqlite:PATH|etcd:URL/);
  });
});
