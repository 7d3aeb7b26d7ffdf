// Unit tests of the Agent loop with a real SQLite datastore in a temp dir and fake drivers that record
// what they are given: nothing before in-sync, Node create-or-CAS-update, pool and local-block messages,
// retry with backoff after a failed apply, periodic resync, rule counter metrics and readiness over HTTP.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResourceStore, SqliteDatastore } from '../datastore/index.ts';
import type { Datastore, WatchCallbacks } from '../datastore/index.ts';
import { DatastoreError, pollUntil, vxlanMacFor } from '../lib/index.ts';
import type { DriverMessage, RuleCounter } from '../dataplane/index.ts';
import { BLOCKS_PREFIX, Ipam } from '../ipam/index.ts';
import type { IPPool, Node, WorkloadEndpoint } from '../model/index.ts';
import { Agent, counterLabels, poolInfo, vxlanTunnelHandle } from './agent.ts';
import type { AgentNftDriver } from './agent.ts';
import { parseAgentFlags, parseDuration, runAgentCli } from './agent-cli.ts';
import { startHealthServer } from './health-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'brindle-agent-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let dbCounter = 0;
const openStore = () => new SqliteDatastore(join(dir, `db${dbCounter++}.sqlite`));

class FakeDriver implements AgentNftDriver {
  batches: DriverMessage[][] = [];
  resyncs = 0;
  failNext = 0;
  counterRows: RuleCounter[] = [];
  async apply(messages: Iterable<DriverMessage>): Promise<void> {
    this.batches.push([...messages]);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('nft: simulated refusal');
    }
  }
  async resync(): Promise<void> {
    this.resyncs++;
  }
  async counters(): Promise<RuleCounter[]> {
    return this.counterRows;
  }
  all(): DriverMessage[] {
    return this.batches.flat();
  }
}

const until = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, deadlineMs = 5000): Promise<T> =>
  pollUntil(what, fn, deadlineMs, { intervalMs: 10 });

function wep(name: string, node: string, ip: string): WorkloadEndpoint {
  return {
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { node, orchestrator: 'cni', workload: name, endpoint: 'eth0', interfaceName: `brv${name}`, ipNetworks: [`${ip}/32`] },
  };
}

function makeAgent(ds: SqliteDatastore, nft: FakeDriver, routes: FakeDriver, extra: Partial<ConstructorParameters<typeof Agent>[0]> = {}) {
  const agent = new Agent({
    datastore: ds, nodename: 'host-a', addresses: async () => ({ ipv4: '192.0.2.10/24' }), nft, routes,
    retryInitialMs: 20, retryMaxMs: 100, ...extra,
  });
  return agent;
}

test('first apply carries InSync with everything before it; pools, local blocks and endpoints reach both drivers', async (t) => {
  const ds = openStore();
  const store = new ResourceStore(ds);
  const pool: IPPool = { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p1' }, spec: { cidr: '10.65.0.0/16', natOutgoing: true, vxlanMode: 'Always' } };
  await store.create(pool);
  await store.create(wep('a', 'host-a', '10.65.0.1'));
  await store.create(wep('elsewhere', 'host-b', '10.65.1.1'));
  await ds.create(`${BLOCKS_PREFIX}10-65-0-0-26`, JSON.stringify({ cidr: '10.65.0.0/26', affinity: 'host:host-a' }));
  await ds.create(`${BLOCKS_PREFIX}10-65-1-0-26`, JSON.stringify({ cidr: '10.65.1.0/26', affinity: 'host:host-b' }));
  const nft = new FakeDriver();
  const routes = new FakeDriver();
  // The hand-written blocks above are not real IPAM blocks; tunnel allocation is tested on its own below.
  const agent = makeAgent(ds, nft, routes, { vxlanTunnelAddress: false });
  t.after(async () => { await agent.stop(); await ds.close(); });
  assert.equal(agent.ready().ok, false);
  agent.start();
  await until('ready', () => agent.ready().ok);
  const first = nft.batches[0];
  assert.equal(first.at(-1)?.type, 'InSync', 'the first batch ends with InSync');
  assert.deepEqual(first.filter((m) => m.type === 'IpPoolUpdate'), [{ type: 'IpPoolUpdate', id: 'p1', pool: { cidr: '10.65.0.0/16', natOutgoing: true, vxlanMode: 'Always' } }]);
  assert.deepEqual(first.filter((m) => m.type === 'LocalBlockUpdate'), [{ type: 'LocalBlockUpdate', cidr: '10.65.0.0/26' }]);
  const eps = first.filter((m) => m.type === 'WorkloadEndpointUpdate');
  assert.equal(eps.length, 1, 'only this host\'s endpoint');
  assert.deepEqual(routes.batches[0], first, 'both drivers get the same batch');

  // Live changes after in-sync: a new local endpoint, a pool removed, a new local block (block watch).
  await store.create(wep('b', 'host-a', '10.65.0.2'));
  await store.delete({ kind: 'IPPool', name: 'p1' });
  await ds.create(`${BLOCKS_PREFIX}10-65-0-64-26`, JSON.stringify({ cidr: '10.65.0.64/26', affinity: 'host:host-a' }));
  await until('endpoint b', () => nft.all().some((m) => m.type === 'WorkloadEndpointUpdate' && m.endpoint.name === 'b'));
  await until('pool removed', () => nft.all().some((m) => m.type === 'IpPoolRemove' && m.id === 'p1'));
  await until('second block', () => nft.all().some((m) => m.type === 'LocalBlockUpdate' && m.cidr === '10.65.0.64/26'));
  assert.equal(nft.all().filter((m) => m.type === 'InSync').length, 1, 'InSync is sent once');
  assert.match(agent.metricsText(), /brindle_active_local_endpoints 2/);
  assert.match(agent.metricsText(), /brindle_sync_status\{status="in-sync"\} 1/);
});

test('a VXLAN pool gets the host a tunnel address and MAC on its Node, kept on restart, released when the pool goes', async (t) => {
  const ds = openStore();
  const store = new ResourceStore(ds);
  const pool = (name: string, cidr: string, vxlanMode: 'Always' | 'Never'): IPPool =>
    ({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize: 26, vxlanMode } });
  await store.create(pool('plain', '10.70.0.0/16', 'Never'));
  const first = makeAgent(ds, new FakeDriver(), new FakeDriver());
  first.start();
  await until('registered', () => first.nodeRegistered);
  const ipam = new Ipam(ds);
  const handle = vxlanTunnelHandle('host-a');
  // No VXLAN pool: nothing allocated, no fields.
  assert.equal(await first.reconcileTunnelAddress(), undefined);
  assert.equal(await ipam.getHandle(handle), undefined);

  await store.create(pool('vx', '10.71.0.0/16', 'Always'));
  const node = await until('tunnel address on the Node', async () => {
    const n = await store.get<Node>({ kind: 'Node', name: 'host-a' });
    return n?.spec.ipv4VXLANTunnelAddr ? n : undefined;
  });
  const ip = node.spec.ipv4VXLANTunnelAddr!;
  assert.match(ip, /^10\.71\.\d+\.\d+$/, 'from the VXLAN pool, not the plain one');
  assert.equal(node.spec.vxlanTunnelMACAddr, vxlanMacFor('host-a', 4));
  assert.equal(node.spec.bgp?.ipv4Address, '192.0.2.10/24', 'other fields kept');
  assert.deepEqual((await ipam.handleAddresses(handle)).map((a) => a.ip), [ip]);
  assert.ok((await ipam.listBlocks({ host: 'host-a' })).some((b) => b.cidr.startsWith('10.71.')), 'the address comes from a block affine to the host');
  await first.stop();

  // A restarted agent reuses the allocation rather than taking a second address.
  const second = makeAgent(ds, new FakeDriver(), new FakeDriver());
  t.after(async () => { await second.stop(); await ds.close(); });
  second.start();
  await until('registered again', () => second.nodeRegistered);
  assert.equal(await second.reconcileTunnelAddress(), ip);
  assert.deepEqual((await ipam.handleAddresses(handle)).map((a) => a.ip), [ip]);

  // The VXLAN pool goes: the address is released and the fields cleared.
  await store.delete({ kind: 'IPPool', name: 'vx' });
  const cleared = await until('fields cleared', async () => {
    const n = await store.get<Node>({ kind: 'Node', name: 'host-a' });
    return n && n.spec.ipv4VXLANTunnelAddr === undefined ? n : undefined;
  });
  assert.equal(cleared.spec.vxlanTunnelMACAddr, undefined);
  assert.equal(cleared.spec.bgp?.ipv4Address, '192.0.2.10/24');
  await until('handle released', async () => (await ipam.getHandle(handle)) === undefined || (await ipam.handleAddresses(handle)).length === 0);
});

test('Node is created with the address, then CAS-updated keeping fields others set', async (t) => {
  const ds = openStore();
  const store = new ResourceStore(ds);
  const nft = new FakeDriver();
  const agent = makeAgent(ds, nft, new FakeDriver());
  t.after(async () => { await agent.stop(); await ds.close(); });
  const created = await agent.registerNode();
  assert.equal(created.spec.bgp?.ipv4Address, '192.0.2.10/24');

  const other: Node = { ...created, spec: { ...created.spec, bgp: { ...created.spec.bgp, ipv4Address: '192.0.2.99/24', asNumber: 64512 }, orchRefs: [{ orchestrator: 'k8s', nodeName: 'host-a' }] } };
  await store.update(other);
  const updated = await agent.registerNode();
  assert.equal(updated.spec.bgp?.ipv4Address, '192.0.2.10/24');
  assert.equal(updated.spec.bgp?.asNumber, 64512);
  assert.deepEqual(updated.spec.orchRefs, [{ orchestrator: 'k8s', nodeName: 'host-a' }]);
  const again = await agent.registerNode();
  assert.equal(again.metadata.resourceVersion, updated.metadata.resourceVersion, 'no write when nothing changed');
});

test('a failed apply is retried with backoff and counted; the loop keeps running', async (t) => {
  const ds = openStore();
  const nft = new FakeDriver();
  nft.failNext = 2;
  const routes = new FakeDriver();
  const agent = makeAgent(ds, nft, routes);
  t.after(async () => { await agent.stop(); await ds.close(); });
  agent.start();
  await until('ready after retries', () => agent.ready().ok);
  assert.equal(nft.batches.length, 3, 'first apply and two retries');
  assert.deepEqual(nft.batches.slice(1), [[], []], 'retries re-run the drivers\' kept work with an empty batch');
  assert.match(agent.metricsText(), /brindle_dataplane_apply_errors_total 2/);
  assert.match(agent.metricsText(), /brindle_dataplane_apply_seconds_count 1/);
});

test('route items the kernel refused are retried without blocking readiness', async (t) => {
  const ds = openStore();
  const nft = new FakeDriver();
  let pending = 3;
  const routes = new (class extends FakeDriver {
    pendingRetries(): number {
      return pending;
    }
  })();
  const agent = makeAgent(ds, nft, routes);
  t.after(async () => { await agent.stop(); await ds.close(); });
  agent.start();
  await until('ready while routes are pending', () => agent.ready().ok);
  await until('a retry', () => routes.batches.length >= 2);
  assert.deepEqual(routes.batches[1], []);
  pending = 0;
  const settled = await until('retries stop once nothing is pending', async () => {
    const n = routes.batches.length;
    await new Promise((r) => setTimeout(r, 300));
    return routes.batches.length === n ? n : false;
  });
  assert.ok(settled >= 2);
  assert.doesNotMatch(agent.metricsText(), /^brindle_dataplane_apply_errors_total [1-9]/m, 'refused route lines are not apply errors');
});

test('periodic resync calls both drivers and refreshes the rule counters', async (t) => {
  const ds = openStore();
  const nft = new FakeDriver();
  nft.counterRows = [
    { chain: 'x', comment: 'default/allow-web ingress#0 allow', packets: 3, bytes: 100 },
    { chain: 'x', comment: 'default/allow-web ingress#0 allow', packets: 4, bytes: 100 },
    { chain: 'y', comment: 'profile kns.default egress#1 allow', packets: 5, bytes: 10 },
    { chain: 'z', comment: 'ct state invalid drop', packets: 9, bytes: 10 },
  ];
  const routes = new FakeDriver();
  const agent = makeAgent(ds, nft, routes, { resyncIntervalMs: 50 });
  t.after(async () => { await agent.stop(); await ds.close(); });
  agent.start();
  await until('two resyncs', () => nft.resyncs >= 2 && routes.resyncs >= 2);
  await until('counter metric', () => agent.metricsText().includes('brindle_policy_rule_packets_total{action="allow",direction="ingress",policy="allow-web",rule="0",tier="default"} 7'));
  assert.match(agent.metricsText(), /policy="profile:kns.default",rule="1",tier=""\} 5/);
  assert.doesNotMatch(agent.metricsText(), /invalid/);
});

test('readiness over HTTP follows in-sync and programmed', async (t) => {
  const ds = openStore();
  const nft = new FakeDriver();
  nft.failNext = 1000;
  const agent = makeAgent(ds, nft, new FakeDriver(), { retryMaxMs: 20 });
  const server = await startHealthServer(agent.healthSource, 0);
  t.after(async () => { await agent.stop(); await server.close(); await ds.close(); });
  agent.start();
  await until('a failed apply', () => nft.batches.length >= 2);
  const notReady = await fetch(`http://127.0.0.1:${server.port}/readiness`);
  assert.equal(notReady.status, 503);
  assert.match(await notReady.text(), /sync=in-sync programmed=false/);
  nft.failNext = 0;
  await until('ready', async () => (await fetch(`http://127.0.0.1:${server.port}/readiness`)).status === 200);
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  assert.match(metrics, /# TYPE brindle_dataplane_apply_seconds histogram/);
});

test('updates arriving within the batch window are applied as one batch', async (t) => {
  const ds = openStore();
  const store = new ResourceStore(ds);
  const nft = new FakeDriver();
  const agent = makeAgent(ds, nft, new FakeDriver(), { batchDelayMs: 300 });
  t.after(async () => { await agent.stop(); await ds.close(); });
  agent.start();
  await until('ready', () => agent.ready().ok);
  const before = nft.batches.length;
  await Promise.all(['x', 'y', 'z'].map((n, i) => store.create(wep(n, 'host-a', `10.65.0.${10 + i}`))));
  await until('the three endpoints', () => nft.all().filter((m) => m.type === 'WorkloadEndpointUpdate').length === 3);
  assert.equal(nft.batches.length, before + 1, 'one apply for three writes');
});

test('datastore outage: not ready while down, catches up when it returns, kernel left alone', async (t) => {
  const real = openStore();
  let down = false;
  const watches: WatchCallbacks[] = [];
  // The real store, except that while "down" every call fails and open watches end with DatastoreError.
  const flaky = new Proxy(real, {
    get(target, key) {
      const v = Reflect.get(target, key, target) as unknown;
      if (typeof v !== 'function') return v;
      if (key === 'watch') {
        return (prefix: string, rev: number, cb: WatchCallbacks) => {
          watches.push(cb);
          return target.watch(prefix, rev, { onEvents: (e) => { if (!down) cb.onEvents(e); }, onError: (e) => cb.onError(e) });
        };
      }
      return async (...args: unknown[]) => {
        if (down) throw new DatastoreError(`store "${target.url}" unreachable (test)`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Datastore;
  const nft = new FakeDriver();
  const agent = new Agent({
    datastore: flaky, nodename: 'host-a', addresses: async () => ({ ipv4: '192.0.2.10/24' }), nft, routes: new FakeDriver(),
    retryInitialMs: 20, retryMaxMs: 100,
  });
  t.after(async () => { await agent.stop(); await real.close(); });
  agent.start();
  await until('ready', () => agent.ready().ok);
  down = true;
  for (const w of watches) w.onError(new DatastoreError('connection lost (test)'));
  await until('not ready while down', () => !agent.ready().ok && /sync=down/.test(agent.ready().detail));
  const applies = nft.batches.length;
  await new ResourceStore(real).create(wep('late', 'host-a', '10.65.0.40'));
  down = false;
  await until('caught up', () => agent.ready().ok && nft.all().some((m) => m.type === 'WorkloadEndpointUpdate' && m.endpoint.name === 'late'));
  assert.equal(nft.all().filter((m) => m.type === 'InSync').length, 1, 'no second InSync, no flush');
  assert.ok(nft.batches.length > applies);
  assert.equal(nft.resyncs, 0, 'the outage itself touched nothing');
});

test('helpers: pool info, counter labels, durations', () => {
  assert.deepEqual(poolInfo({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: 'fd00::/64', vxlanMode: 'Never', disabled: true } }),
    { cidr: 'fd00::/64', natOutgoing: false, vxlanMode: 'Never', disabled: true });
  assert.deepEqual(counterLabels('sec/ns1/p2 egress#3 deny'), { tier: 'sec', policy: 'ns1/p2', rule: '3', action: 'deny', direction: 'egress' });
  assert.equal(counterLabels('fail closed'), undefined);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2m'), 120_000);
  assert.throws(() => parseDuration('soon'), /bad duration "soon"/);
});

test('flags: defaults, explicit values and one-line errors with exit 2', async () => {
  const f = parseAgentFlags([], 'myhost');
  assert.equal(f.nodename, 'myhost');
  assert.equal(f.healthPort, 9099);
  assert.equal(f.resyncIntervalMs, 90_000);
  assert.equal(f.autodetect.kind, 'first-found');
  const g = parseAgentFlags(['--nodename', 'n1', '--ip', '10.0.0.5', '--health-port', '0', '--resync-interval', '2s', '--cni-socket', '/tmp/x.sock'], 'h');
  assert.deepEqual([g.nodename, g.ip, g.healthPort, g.resyncIntervalMs, g.cniSocket], ['n1', '10.0.0.5', 0, 2000, '/tmp/x.sock']);
  assert.equal(parseAgentFlags(['--ip-autodetect', 'interface=eth.*'], 'h').autodetect.kind, 'interface');
  for (const [args, msg] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--health-port', 'abc'], /--health-port "abc"/],
    [['--ip', 'nope'], /--ip "nope" is not an IP address/],
    [['--ip', '10.0.0.1', '--ip-autodetect', 'first-found'], /either --ip or --ip-autodetect/],
    [['--ip-autodetect', 'magic'], /unknown method "magic"/],
    [['--resync-interval', 'x'], /bad duration/],
  ] as Array<[string[], RegExp]>) {
    let out = '';
    const code = await runAgentCli(args, { stderr: { write: (s: string) => (out += s) } });
    assert.equal(code, 2, `exit 2 for ${args.join(' ')}`);
    assert.match(out, msg);
    assert.equal(out.trim().split('\n').length, 1, 'one line');
  }
});

test('datastore that cannot be opened: keeps retrying, not ready, stops cleanly with 0', async () => {
  let out = '';
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  writeFileSync(join(dir, 'not-a-dir'), '');
  const run = runAgentCli(['--datastore', `sqlite:${join(dir, 'not-a-dir', 'x.db')}`, '--health-port', '0', '--nodename', 'n1'], {
    stderr: { write: (s: string) => (out += s) }, stopSignal,
  });
  await until('two retries', () => (out.match(/datastore unavailable; retrying/g) ?? []).length >= 2);
  stop();
  assert.equal(await run, 0);
  for (const line of out.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), `JSON line: ${line}`);
});
