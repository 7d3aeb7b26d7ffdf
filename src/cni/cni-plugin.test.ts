// Unit tests of the plugin commands with the FakeRunner (no root, no kernel) over a real SQLite
// store in a temp dir: request validation codes, ADD's kernel program and WorkloadEndpoint, result
// shapes per version, rollback on failure, idempotent DEL, CHECK, GC, STATUS and brindle-ipam.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { openDatastore, ResourceStore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { HOST_SIDE_MAC } from '../lib/index.ts';
import { Ipam } from '../ipam/index.ts';
import type { Pod, WorkloadEndpoint } from '../model/index.ts';
import { FakeRunner } from '../os/index.ts';
import { runPlugin } from './cni-plugin.ts';
import type { PluginKind } from './cni-plugin.ts';
import { handleIdFor, hostInterfaceFor, identify, workloadEndpointName } from './workload-endpoint.ts';
import { parseCniArgs } from './cni-request.ts';

const NETNS = '/proc/self/ns/net'; // exists and is a namespace file; the fake runner never enters it

let dir: string;
let locator: string;

function baseConf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'testnet', type: 'brindle-cni', datastore: locator, nodename: 'node-1', ...extra };
}

function env(command: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra };
}

interface Run {
  exitCode: number;
  json: Record<string, unknown> | undefined;
  stdout: string;
  stderr: string;
}

async function run(kind: PluginKind, e: NodeJS.ProcessEnv, conf: unknown, runner = new FakeRunner()): Promise<Run> {
  let stderr = '';
  const stdin = typeof conf === 'string' ? conf : JSON.stringify(conf);
  const out = await runPlugin(kind, stdin, { env: e, runner, stderr: { write: (s: string) => (stderr += s) }, crash: () => undefined });
  return { exitCode: out.exitCode, stdout: out.stdout, json: out.stdout ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined, stderr };
}

async function withStore<T>(fn: (ds: Datastore, rs: ResourceStore) => Promise<T>): Promise<T> {
  const ds = await openDatastore(locator);
  try {
    return await fn(ds, new ResourceStore(ds));
  } finally {
    await ds.close();
  }
}

async function addPool(name: string, cidr: string, blockSize?: number): Promise<void> {
  await withStore((_, rs) =>
    rs.apply({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr, ...(blockSize ? { blockSize } : {}) } }),
  );
}

async function handles(): Promise<string[]> {
  return withStore(async (ds) => (await new Ipam(ds).listHandles()).map((h) => h.handleId).sort());
}

async function endpoints(): Promise<WorkloadEndpoint[]> {
  return withStore(async (_, rs) => (await rs.list<WorkloadEndpoint>('WorkloadEndpoint')).items);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'brb-cni-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
beforeEach(() => {
  locator = `sqlite:${join(dir, `store-${++n}.db`)}`;
});

describe('VERSION', () => {
  test('answers with empty stdin (podman) and echoes the requested version', async () => {
    let r = await run('cni', { CNI_COMMAND: 'VERSION' }, '');
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.json, { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    r = await run('ipam', { CNI_COMMAND: 'VERSION' }, { cniVersion: '0.4.0' });
    assert.equal(r.json?.cniVersion, '0.4.0');
  });
});

describe('bad input: the spec error JSON with the right code, nothing changed', () => {
  const cases: Array<{ name: string; env?: NodeJS.ProcessEnv; conf?: unknown; code: number; msg: RegExp }> = [
    { name: 'no CNI_COMMAND', env: { CNI_CONTAINERID: 'c1' }, code: 4, msg: /CNI_COMMAND is not set/ },
    { name: 'unknown CNI_COMMAND', env: env('ATTACH'), code: 4, msg: /CNI_COMMAND "ATTACH" is not one of ADD, DEL, CHECK, VERSION, GC, STATUS/ },
    { name: 'ADD without CNI_NETNS', env: { ...env('ADD'), CNI_NETNS: '' }, code: 4, msg: /CNI_NETNS is not set \(CNI_COMMAND=ADD needs CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME\)/ },
    { name: 'ADD without CNI_CONTAINERID and CNI_IFNAME', env: { CNI_COMMAND: 'ADD', CNI_NETNS: NETNS }, code: 4, msg: /CNI_CONTAINERID, CNI_IFNAME are not set/ },
    { name: 'bad container id', env: env('ADD', { CNI_CONTAINERID: '-x y' }), code: 4, msg: /CNI_CONTAINERID "-x y" is invalid/ },
    { name: 'interface name too long', env: env('ADD', { CNI_IFNAME: 'eth0123456789012' }), code: 4, msg: /CNI_IFNAME "eth0123456789012" is not a valid interface name/ },
    { name: 'relative netns', env: env('ADD', { CNI_NETNS: 'run/netns/x' }), code: 4, msg: /CNI_NETNS "run\/netns\/x" is not an absolute path/ },
    { name: 'malformed CNI_ARGS', env: env('ADD', { CNI_ARGS: 'K8S_POD_NAME' }), code: 4, msg: /CNI_ARGS "K8S_POD_NAME" is malformed/ },
    { name: 'unknown CNI_ARGS key', env: env('ADD', { CNI_ARGS: 'FOO=1' }), code: 4, msg: /CNI_ARGS has unknown key "FOO" \(set IgnoreUnknown=1/ },
    { name: 'bad static IP', env: env('ADD', { CNI_ARGS: 'IP=10.0.0.300' }), code: 4, msg: /"10\.0\.0\.300" is not an IP address/ },
    { name: 'empty stdin', conf: '', code: 6, msg: /No network config on stdin/ },
    { name: 'not JSON', conf: '{"cniVersion":', code: 6, msg: /not valid JSON/ },
    { name: 'JSON array', conf: '[]', code: 6, msg: /must be a JSON object, got an array/ },
    { name: 'no cniVersion', conf: { name: 'x' }, code: 7, msg: /Network config "x": field "cniVersion" is missing/ },
    { name: 'unsupported version', conf: { cniVersion: '0.2.0', name: 'x' }, code: 1, msg: /CNI version "0\.2\.0" is not supported: this plugin speaks 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/ },
    { name: 'no name', conf: { cniVersion: '1.0.0' }, code: 7, msg: /field "name" is missing/ },
    { name: 'bad mtu', conf: { cniVersion: '1.0.0', name: 'x', mtu: 'big' }, code: 7, msg: /field "mtu" must be a whole number from 68 to 65535, got "big"/ },
    { name: 'unsupported datastore', conf: { cniVersion: '1.0.0', name: 'x', datastore: 'mysql://db' }, code: 2, msg: /field "datastore" = "mysql:\/\/db" is not supported/ },
    { name: 'bad log level', conf: { cniVersion: '1.0.0', name: 'x', log_level: 'loud' }, code: 2, msg: /"log_level" = "loud" is not supported/ },
    { name: 'another IPAM plugin', conf: { cniVersion: '1.0.0', name: 'x', ipam: { type: 'host-local' } }, code: 2, msg: /field "ipam\.type" = "host-local" is not supported/ },
    { name: 'bad labels', conf: { cniVersion: '1.0.0', name: 'x', args: { cni: { labels: [{ key: 'a' }] } } }, code: 7, msg: /args\.cni\.labels\[0\]/ },
    { name: 'netns that does not exist', env: env('ADD', { CNI_NETNS: '/run/netns/brb-does-not-exist' }), code: 3, msg: /Network namespace "\/run\/netns\/brb-does-not-exist" \(CNI_NETNS\) does not exist/ },
    { name: 'netns that is a plain file', env: env('ADD', { CNI_NETNS: '/etc/hostname' }), code: 4, msg: /CNI_NETNS "\/etc\/hostname" is not a network namespace file/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      await addPool('p4', '10.50.0.0/24');
      const runner = new FakeRunner();
      const r = await run('cni', c.env ?? env('ADD'), c.conf ?? baseConf(), runner);
      assert.equal(r.exitCode, 1);
      assert.equal(r.json?.code, c.code, r.stdout);
      assert.match(String(r.json?.msg), c.msg);
      assert.equal(typeof r.json?.cniVersion, 'string');
      assert.deepEqual(runner.calls, [], 'no command ran');
      assert.deepEqual(await handles(), []);
      assert.match(r.stderr, /error:/, 'the error is also on stderr');
    });
  }
});

describe('ADD', () => {
  test('allocates dual-stack, programs host and container side, writes the endpoint, prints a 1.0.0 result', async () => {
    await addPool('p4', '10.50.0.0/24', 26);
    await addPool('p6', 'fd00:50::/120', 122);
    const runner = new FakeRunner();
    const r = await run('cni', env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web-1' }), baseConf({ mtu: 1400, args: { cni: { labels: [{ key: 'app', value: 'web' }] } } }), runner);
    assert.equal(r.exitCode, 0, r.stdout);
    const id = identify('testnet', 'node-1', 'c1', 'eth0', parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web-1'));
    const hostIf = hostInterfaceFor(id);
    assert.match(hostIf, /^brv[0-9a-f]{11}$/);
    const res = r.json as { interfaces: Array<{ name: string; mac: string; sandbox?: string }>; ips: Array<{ address: string; gateway: string; interface: number; version?: string }>; routes: unknown[] };
    assert.equal(res.interfaces[0].name, hostIf);
    assert.equal(res.interfaces[0].mac, HOST_SIDE_MAC);
    assert.equal(res.interfaces[1].name, 'eth0');
    assert.equal(res.interfaces[1].sandbox, NETNS);
    assert.match(res.interfaces[1].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(res.ips.length, 2);
    const [ip4, ip6] = res.ips;
    assert.match(ip4.address, /^10\.50\.0\.\d+\/32$/);
    assert.match(ip6.address, /^fd00:50::[0-9a-f]*\/128$/);
    assert.equal(ip4.gateway, '169.254.1.1');
    assert.equal(ip6.gateway, 'fe80::ecee:eeff:feee:eeee');
    assert.equal(ip4.interface, 1);
    assert.equal(ip4.version, undefined, '1.0.0 results carry no ips[].version');
    assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }, { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' }]);

    const a4 = ip4.address.split('/')[0];
    const a6 = ip6.address.split('/')[0];
    const mac = res.interfaces[1].mac;
    const batches = runner.calls.filter((c) => c.line.includes('-batch'));
    assert.deepEqual(batches.map((b) => [b.line, b.input]).sort(), [
      ['ip -batch -', `link add ${hostIf} mtu 1400 address ee:ee:ee:ee:ee:ee type veth peer name eth0 mtu 1400 address ${mac} netns ${NETNS}\nlink set ${hostIf} addrgenmode none\naddr add fe80::ecee:eeff:feee:eeee/64 dev ${hostIf} nodad\nlink set ${hostIf} up\n`],
      ['ip -batch -', `route replace ${a4}/32 dev ${hostIf} scope link proto 80\nroute replace ${a6}/128 dev ${hostIf} proto 80\n`],
      [`nsenter --net=${NETNS} ip -batch -`, `link set eth0 up\naddr add ${a4}/32 dev eth0\nroute add 169.254.1.1 dev eth0 scope link\nroute add default via 169.254.1.1 dev eth0\naddr add ${a6}/128 dev eth0 nodad\nroute add ::/0 via fe80::ecee:eeff:feee:eeee dev eth0\n`],
    ].sort());
    assert.deepEqual(runner.calls.filter((c) => c.command === 'write').map((c) => c.line), [
      `write /proc/sys/net/ipv4/conf/${hostIf}/proxy_arp 1`,
      `write /proc/sys/net/ipv4/neigh/${hostIf}/proxy_delay 0`,
      `write /proc/sys/net/ipv4/conf/${hostIf}/forwarding 1`,
      `write /proc/sys/net/ipv6/conf/${hostIf}/accept_ra 0`,
      'write /proc/sys/net/ipv6/conf/all/forwarding 1',
    ]);

    const weps = await endpoints();
    assert.equal(weps.length, 1);
    const wep = weps[0];
    assert.equal(wep.metadata.name, 'node--1-cni-web--1-eth0');
    assert.equal(wep.metadata.namespace, 'default');
    assert.deepEqual(wep.metadata.labels, { app: 'web' });
    assert.deepEqual(wep.spec.ipNetworks, [`${a4}/32`, `${a6}/128`]);
    assert.equal(wep.spec.interfaceName, hostIf);
    assert.equal(wep.spec.mac, mac);
    assert.equal(wep.spec.containerID, 'c1');
    assert.equal(wep.spec.orchestrator, 'cni');
    assert.equal(wep.spec.workload, 'web-1');
    const h = await withStore((ds) => new Ipam(ds).getHandle('testnet.c1'));
    assert.equal(h?.attrs?.network, 'testnet');
    assert.equal(h?.attrs?.node, 'node-1');
    assert.equal(h?.attrs?.containerID, 'c1');
  });

  test('0.3.1 and 0.4.0 results carry ips[].version; 1.1.0 carries the interface mtu', async () => {
    await addPool('p4', '10.50.0.0/24');
    for (const [v, i] of [['0.3.1', 1], ['0.4.0', 2], ['1.1.0', 3]] as const) {
      const r = await run('cni', env('ADD', { CNI_CONTAINERID: `v${i}` }), baseConf({ cniVersion: v, mtu: 1450 }));
      assert.equal(r.exitCode, 0, r.stdout);
      const res = r.json as { cniVersion: string; ips: Array<Record<string, unknown>>; interfaces: Array<Record<string, unknown>> };
      assert.equal(res.cniVersion, v);
      assert.equal(res.ips[0].version, v === '1.1.0' ? undefined : '4');
      assert.equal(res.interfaces[1].mtu, v === '1.1.0' ? 1450 : undefined);
    }
  });

  test('a Kubernetes pod stored in the datastore gives the endpoint its labels, service account and named ports', async () => {
    await addPool('p4', '10.50.0.0/24');
    await withStore(async (_, rs) => {
      const pod: Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'db-0', namespace: 'prod', labels: { app: 'db', tier: 'data' } },
        spec: { serviceAccountName: 'db-sa', containers: [{ name: 'pg', ports: [{ name: 'pg', containerPort: 5432 }, { containerPort: 9000 }] }] },
      };
      await rs.apply(pod);
    });
    const r = await run('cni', env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=db-0;K8S_POD_INFRA_CONTAINER_ID=c1' }), baseConf({ args: { labels: { ignored: 'yes' } } }));
    assert.equal(r.exitCode, 0, r.stdout);
    const [wep] = await endpoints();
    assert.equal(wep.metadata.name, 'node--1-k8s-db--0-eth0');
    assert.equal(wep.metadata.namespace, 'prod');
    assert.deepEqual(wep.metadata.labels, { app: 'db', tier: 'data' });
    assert.equal(wep.spec.serviceAccountName, 'db-sa');
    assert.equal(wep.spec.pod, 'db-0');
    assert.equal(wep.spec.orchestrator, 'k8s');
    assert.deepEqual(wep.spec.ports, [{ name: 'pg', protocol: 'TCP', port: 5432 }]);
  });

  test('static IP and MAC from CNI_ARGS are honoured', async () => {
    await addPool('p4', '10.50.0.0/24');
    const runner = new FakeRunner();
    const r = await run('cni', env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;IP=10.50.0.77;MAC=02:11:22:33:44:55' }), baseConf(), runner);
    assert.equal(r.exitCode, 0, r.stdout);
    const res = r.json as { ips: Array<{ address: string }>; interfaces: Array<{ mac: string }> };
    assert.deepEqual(res.ips.map((i) => i.address), ['10.50.0.77/32']);
    assert.equal(res.interfaces[1].mac, '02:11:22:33:44:55');
    assert.ok(runner.calls[0].input?.includes('address 02:11:22:33:44:55 netns'));
    assert.ok(!runner.calls.some((c) => c.line.includes('ipv6')), 'an IPv4-only workload gets no IPv6 settings');
  });

  test('a static address another attachment holds is error 105 and takes nothing', async () => {
    await addPool('p4', '10.50.0.0/24');
    assert.equal((await run('cni', env('ADD', { CNI_CONTAINERID: 's1', CNI_ARGS: 'IP=10.50.0.9' }), baseConf())).exitCode, 0);
    const r = await run('cni', env('ADD', { CNI_CONTAINERID: 's2', CNI_ARGS: 'IP=10.50.0.9' }), baseConf());
    assert.equal(r.json?.code, 105, r.stdout);
    assert.match(String(r.json?.msg), /10\.50\.0\.9.*already allocated to handle "testnet\.s1"/);
    assert.deepEqual(await handles(), ['testnet.s1']);
  });

  test('an exhausted pool is error 100 and leaves nothing behind', async () => {
    await addPool('tiny', '10.60.0.0/30', 30);
    await withStore((ds) => new Ipam(ds).setConfig({ strictAffinity: true }));
    for (let i = 0; i < 4; i++) assert.equal((await run('cni', env('ADD', { CNI_CONTAINERID: `f${i}` }), baseConf())).exitCode, 0);
    const runner = new FakeRunner();
    const r = await run('cni', env('ADD', { CNI_CONTAINERID: 'f4' }), baseConf(), runner);
    assert.equal(r.exitCode, 1);
    assert.equal(r.json?.code, 100, r.stdout);
    assert.match(String(r.json?.msg), /tiny/);
    assert.equal((await handles()).length, 4);
    assert.ok(!(await handles()).includes('testnet.f4'));
    assert.equal((await endpoints()).length, 4);
    // The veth may have been made while IPAM ran: it was removed again.
    const id = identify('testnet', 'node-1', 'f4', 'eth0', parseCniArgs(''));
    assert.ok(runner.calls.some((c) => c.input === `link del ${hostInterfaceFor(id)}\n`), runner.calls.map((c) => c.line).join('\n'));
  });

  test('no pool at all is error 100 with a hint', async () => {
    const r = await run('cni', env('ADD'), baseConf());
    assert.equal(r.json?.code, 100);
    assert.match(String(r.json?.msg), /there is no IP pool/);
  });

  test('a kernel failure in the container rolls back: link removed, addresses released, no endpoint', async () => {
    await addPool('p4', '10.50.0.0/24');
    const runner = new FakeRunner().on(`nsenter --net=${NETNS} ip -batch -`, { code: 2, stderr: 'Error: Nexthop has invalid gateway.\nCommand failed -:4\n' });
    const r = await run('cni', env('ADD'), baseConf(), runner);
    assert.equal(r.exitCode, 1);
    assert.equal(r.json?.code, 102);
    assert.match(String(r.json?.msg), /Nexthop has invalid gateway\. \(batch line "route add default via 169\.254\.1\.1 dev eth0" in network namespace/);
    assert.deepEqual(await handles(), []);
    assert.deepEqual(await endpoints(), []);
    assert.ok(runner.calls.some((c) => c.input?.startsWith('link del brv')));
  });

  test('an interface that already exists in the container is error 101 and the host side is not touched', async () => {
    await addPool('p4', '10.50.0.0/24');
    const runner = new FakeRunner()
      .on('ip -batch -', { code: 2, stderr: 'RTNETLINK answers: File exists\nCommand failed -:1\n' }, 1)
      .on(/ip -json link show dev brv/, { code: 1, stderr: 'Device "brv" does not exist.' });
    const r = await run('cni', env('ADD'), baseConf(), runner);
    assert.equal(r.json?.code, 101, r.stdout);
    assert.match(String(r.json?.msg), /Interface "eth0" already exists in network namespace/);
    assert.ok(!runner.calls.some((c) => c.input?.startsWith('link del')), 'nothing deleted');
    assert.deepEqual(await handles(), []);
  });

  test('a stale host interface of the same name is replaced', async () => {
    await addPool('p4', '10.50.0.0/24');
    const runner = new FakeRunner()
      .on('ip -batch -', { code: 2, stderr: 'RTNETLINK answers: File exists\nCommand failed -:1\n' }, 1)
      .on(/ip -json link show dev brv/, { stdout: '[{"ifindex":9,"ifname":"brvx"}]' });
    const r = await run('cni', env('ADD'), baseConf(), runner);
    assert.equal(r.exitCode, 0, r.stdout);
    const batches = runner.calls.filter((c) => c.line === 'ip -batch -').map((c) => c.input?.split(' ')[0] + ' ' + c.input?.split(' ')[1]);
    assert.deepEqual(batches.slice(0, 3), ['link add', 'link del', 'link add']);
  });

  test('a repeated ADD for a handle that still holds addresses frees them first', async () => {
    await addPool('p4', '10.50.0.0/24');
    assert.equal((await run('cni', env('ADD'), baseConf())).exitCode, 0);
    assert.equal((await run('cni', env('ADD'), baseConf())).exitCode, 0);
    const held = await withStore((ds) => new Ipam(ds).handleAddresses('testnet.c1'));
    assert.equal(held.length, 1);
  });
});

describe('DEL', () => {
  test('releases, deletes the link and the endpoint; again (link gone, no netns) is still success', async () => {
    await addPool('p4', '10.50.0.0/24');
    assert.equal((await run('cni', env('ADD'), baseConf())).exitCode, 0);
    const runner = new FakeRunner();
    const r = await run('cni', env('DEL'), baseConf(), runner);
    assert.equal(r.exitCode, 0, r.stdout);
    assert.equal(r.stdout, '');
    assert.deepEqual(runner.calls.map((c) => c.input), [`link del ${hostInterfaceFor(identify('testnet', 'node-1', 'c1', 'eth0', parseCniArgs('')))}\n`]);
    assert.deepEqual(await handles(), []);
    assert.deepEqual(await endpoints(), []);
    const gone = new FakeRunner().on('ip -batch -', { code: 1, stderr: 'Cannot find device "brvx"\nCommand failed -:1\n' });
    const again = await run('cni', { ...env('DEL'), CNI_NETNS: '' }, baseConf(), gone);
    assert.equal(again.exitCode, 0, again.stdout);
  });

  test('leaves the endpoint and interface of a newer sandbox of the same pod alone', async () => {
    await addPool('p4', '10.50.0.0/24');
    const args = { CNI_ARGS: 'K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p' };
    assert.equal((await run('cni', env('ADD', { ...args, CNI_CONTAINERID: 'old' }), baseConf())).exitCode, 0);
    assert.equal((await run('cni', env('ADD', { ...args, CNI_CONTAINERID: 'new' }), baseConf())).exitCode, 0);
    const runner = new FakeRunner();
    assert.equal((await run('cni', env('DEL', { ...args, CNI_CONTAINERID: 'old' }), baseConf(), runner)).exitCode, 0);
    assert.deepEqual(runner.calls, []);
    assert.deepEqual(await handles(), ['testnet.new']);
    const [wep] = await endpoints();
    assert.equal(wep.spec.containerID, 'new');
  });

  test('with an unreachable datastore is error 11 (try again)', async () => {
    const r = await run('cni', env('DEL'), baseConf({ datastore: 'sqlite:/etc/hostname/brb/x.db' }));
    assert.match(String(r.json?.msg), /Cannot open datastore "sqlite:\/etc\/hostname\/brb\/x\.db"/);
    assert.match(String(r.json?.msg), /Cannot open datastore "sqlite:\/etc\/hostname\/brb\/x\.db"/);
  });
});

describe('CHECK', () => {
  test('passes when kernel and store match prevResult and names every difference otherwise', async () => {
    await addPool('p4', '10.50.0.0/24');
    const add = await run('cni', env('ADD'), baseConf());
    const prev = add.json as { ips: Array<{ address: string }>; interfaces: Array<{ name: string; mac: string }> };
    const ip = prev.ips[0].address.split('/')[0];
    const hostIf = prev.interfaces[0].name;
    const mac = prev.interfaces[1].mac;
    const good = new FakeRunner()
      .on(`ip -json link show dev ${hostIf}`, { stdout: JSON.stringify([{ ifindex: 5, ifname: hostIf, address: HOST_SIDE_MAC, flags: ['UP'] }]) })
      .on(/ip -json addr show dev eth0/, { stdout: JSON.stringify([{ ifindex: 2, ifname: 'eth0', address: mac, addr_info: [{ family: 'inet', local: ip, prefixlen: 32 }] }]) })
      .on(`ip -json -4 route show dev ${hostIf}`, { stdout: JSON.stringify([{ dst: ip, dev: hostIf }]) })
      .on(/ip -json -4 route show$/, { stdout: JSON.stringify([{ dst: 'default', gateway: '169.254.1.1', dev: 'eth0' }]) });
    const ok = await run('cni', env('CHECK'), baseConf({ prevResult: prev }), good);
    assert.equal(ok.exitCode, 0, ok.stdout);
    const bad = new FakeRunner()
      .on(`ip -json link show dev ${hostIf}`, { code: 1, stderr: `Device "${hostIf}" does not exist.` })
      .on(/ip -json addr show dev eth0/, { stdout: JSON.stringify([{ ifindex: 2, ifname: 'eth0', address: mac, addr_info: [] }]) });
    const r = await run('cni', env('CHECK'), baseConf({ prevResult: prev }), bad);
    assert.equal(r.json?.code, 103);
    assert.equal(
      r.json?.msg,
      `CHECK of container "c1" interface "eth0" failed: host interface "${hostIf}" does not exist; interface "eth0" lacks address ${ip}/32; ` +
        `host route ${ip}/32 dev ${hostIf} is missing; the workload has no IPv4 default route via 169.254.1.1`,
    );
  });

  test('needs prevResult and cniVersion ≥ 0.4.0', async () => {
    assert.equal((await run('cni', env('CHECK'), baseConf())).json?.code, 7);
    assert.equal((await run('cni', env('CHECK'), baseConf({ cniVersion: '0.3.1', prevResult: {} }))).json?.code, 1);
  });
});

describe('GC and STATUS', () => {
  test('GC frees this host\'s attachments of this network that the runtime no longer lists', async () => {
    await addPool('p4', '10.50.0.0/24');
    for (const c of ['a', 'b']) assert.equal((await run('cni', env('ADD', { CNI_CONTAINERID: c }), baseConf({ cniVersion: '1.1.0' }))).exitCode, 0);
    assert.equal((await run('cni', env('ADD', { CNI_CONTAINERID: 'z' }), baseConf({ cniVersion: '1.1.0', nodename: 'node-2' }))).exitCode, 0);
    const runner = new FakeRunner();
    const r = await run('cni', { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, baseConf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }), runner);
    assert.equal(r.exitCode, 0, r.stdout);
    assert.deepEqual(await handles(), ['testnet.a', 'testnet.z']);
    assert.deepEqual((await endpoints()).map((w) => w.spec.containerID).sort(), ['a', 'z']);
    assert.equal(runner.calls.filter((c) => c.input?.startsWith('link del')).length, 1);
  });

  test('STATUS is 50 without a pool and 0 with one; both need 1.1.0', async () => {
    const status = () => run('cni', { CNI_COMMAND: 'STATUS' }, baseConf({ cniVersion: '1.1.0' }));
    let r = await status();
    assert.equal(r.json?.code, 50);
    assert.match(String(r.json?.msg), /Cannot serve ADD: there is no IP pool/);
    await addPool('p4', '10.50.0.0/24');
    r = await status();
    assert.equal(r.exitCode, 0, r.stdout);
    assert.equal((await run('cni', { CNI_COMMAND: 'STATUS' }, baseConf())).json?.code, 1);
  });
});

describe('brindle-ipam', () => {
  test('ADD prints addresses only (no interfaces), with the configured routes; DEL releases', async () => {
    await addPool('p4', '10.50.0.0/24');
    const conf = { cniVersion: '0.4.0', name: 'br', type: 'bridge', ipam: { type: 'brindle-ipam', datastore: locator, routes: [{ dst: '0.0.0.0/0' }] }, nodename: 'node-1' };
    const runner = new FakeRunner();
    const r = await run('ipam', env('ADD'), conf, runner);
    assert.equal(r.exitCode, 0, r.stdout);
    const res = r.json as Record<string, unknown>;
    assert.equal(res.interfaces, undefined);
    assert.match((res.ips as Array<{ address: string; version: string }>)[0].address, /^10\.50\.0\.\d+\/32$/);
    assert.equal((res.ips as Array<{ version: string }>)[0].version, '4');
    assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0' }]);
    assert.deepEqual(runner.calls, []);
    assert.deepEqual(await handles(), ['br.c1']);
    assert.equal((await run('ipam', env('DEL'), conf)).exitCode, 0);
    assert.deepEqual(await handles(), []);
    assert.equal((await run('ipam', env('DEL'), conf)).exitCode, 0);
  });
});

describe('naming', () => {
  test('endpoint names double the dashes inside each part; handles follow Calico', () => {
    const id = identify('k8s-pod-network', 'node-a', 'abc', 'eth0', parseCniArgs('K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=core-dns-1'));
    assert.equal(workloadEndpointName(id), 'node--a-k8s-core--dns--1-eth0');
    assert.equal(handleIdFor('k8s-pod-network', 'abc', 'eth0'), 'k8s-pod-network.abc');
    assert.equal(handleIdFor('net', 'abc', 'net1'), 'net.abc.net1');
    const other = identify('n', 'Node_X', 'abc', 'eth0', parseCniArgs('K8S_POD_NAME=My_App'));
    assert.equal(workloadEndpointName(other), 'node--x-cni-my--app-eth0');
  });
});

test('the log file gets JSON lines and stdout stays clean', async () => {
  await addPool('p4', '10.50.0.0/24');
  const logFile = join(dir, `cni-${n}.log`);
  const r = await run('cni', env('ADD'), baseConf({ log_file_path: logFile }));
  assert.equal(r.exitCode, 0);
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = lines.find((l) => l.msg === 'ADD done');
  assert.ok(done, JSON.stringify(lines));
  assert.equal(done.component, 'cni');
  assert.equal(done.containerID, 'c1');
  assert.equal(done.node, 'node-1');
  assert.equal(typeof done.ms, 'number');
  assert.doesNotThrow(() => JSON.parse(r.stdout));
});
