// Root tests of the routes and links driver: two throwaway host namespaces on a shared underlay
// subnet, one workload namespace each. Direct routing (IPv4 and IPv6), then VXLAN per pool: routes
// programmed, read back, real packets across, drift (deleted route, foreign proto-80 route, sysctl,
// FDB entry, device MTU, deleted device) repaired by resync, lines the kernel refuses retried.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ROUTE_PROTOCOL, VXLAN_DEVICE_V4, VXLAN_DEVICE_V6, VXLAN_VNI_V4, VXLAN_VNI_V6, vxlanMacFor,
} from '../lib/index.ts';
import { ProcessRunner, rootTestSkipReason } from '../os/index.ts';
import type { DataplaneMessage, Route, VxlanTunnelEndpoint } from '../dataplane-api/index.ts';
import type { DriverMessage } from './host-messages.ts';
import { RoutesDriver } from './routes-driver.ts';
import { createLab } from './test-lab.ts';
import type { Lab } from './test-lab.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'bridge', 'ping']);
const runner = new ProcessRunner();

interface Side {
  lab: Lab;
  node: string;
  underlay4: string;
  underlay6: string;
  pod: { v4: string; v6: string; iface: string };
  block4: string;
  block6: string;
  tunnel4: string;
  tunnel6: string;
}

/** Two hosts joined by a veth underlay (192.168.77.0/24, fd00:77::/64), a pod on each, no routes yet. */
async function twoHosts(t: { after(fn: () => Promise<void>): void }): Promise<[Side, Side]> {
  const sides: Side[] = [];
  for (const n of [1, 2]) {
    const lab = await createLab(runner);
    t.after(() => lab.close());
    const side: Side = {
      lab, node: `node${n}`, underlay4: `192.168.77.1${n}`, underlay6: `fd00:77::1${n}`,
      pod: { v4: `10.65.${n}.1`, v6: `fd00:65:${n}::1`, iface: `brvroute${n}` },
      block4: `10.65.${n}.0/26`, block6: `fd00:65:${n}::/122`, tunnel4: `10.65.${n}.0`, tunnel6: `fd00:65:${n}::`,
    };
    await lab.addPod({ name: 'pod', ...side.pod }, { routes: false });
    sides.push(side);
  }
  const [a, b] = sides;
  await a.lab.host.ip([`link add ul0 type veth peer name ul0 netns ${b.lab.host.name}`]);
  for (const s of sides) {
    await s.lab.run('host', 'sysctl', ['-qw', 'net.ipv6.conf.ul0.accept_dad=0']);
    await s.lab.host.ip([`addr add ${s.underlay4}/24 dev ul0`, `addr add ${s.underlay6}/64 dev ul0 nodad`, 'link set ul0 up']);
    await s.lab.startServer('pod');
  }
  // The first IPv6 neighbour solicitation on a fresh veth underlay goes unanswered here (resolution then
  // takes the 1 s retransmit timer, longer than a probe waits); resolve the underlay once up front.
  for (const [s, peer] of [[a, b], [b, a]]) {
    for (const addr of [peer.underlay4, peer.underlay6]) await s.lab.run('host', 'ping', ['-c', '1', '-W', '3', addr]);
  }
  return [a, b];
}

function endpointMessage(s: Side): DataplaneMessage {
  return {
    type: 'WorkloadEndpointUpdate', id: `wep/${s.node}`, endpoint: {
      id: `wep/${s.node}`, source: 'wep', namespace: 'ns', name: `pod-${s.node}`, node: s.node, orchestrator: 'k8s',
      interfaceName: s.pod.iface, ipv4Nets: [`${s.pod.v4}/32`], ipv6Nets: [`${s.pod.v6}/128`], profileIds: [], tiers: [], pendingTiers: [],
    },
  };
}

function localRoutes(s: Side): Route[] {
  return [
    { dst: `${s.pod.v4}/32`, type: 'local-workload', node: s.node, interfaceName: s.pod.iface, encap: 'none' },
    { dst: `${s.pod.v6}/128`, type: 'local-workload', node: s.node, interfaceName: s.pod.iface, encap: 'none' },
  ];
}

function remoteRoutes(peer: Side, encap: 'none' | 'vxlan'): Route[] {
  return [
    { dst: peer.block4, type: 'remote-block', node: peer.node, nextHop: encap === 'vxlan' ? peer.tunnel4 : peer.underlay4, encap },
    { dst: peer.block6, type: 'remote-block', node: peer.node, nextHop: encap === 'vxlan' ? peer.tunnel6 : peer.underlay6, encap },
  ];
}

function vtep(s: Side): VxlanTunnelEndpoint {
  return { node: s.node, parentDeviceIp: s.underlay4, tunnelAddress: s.tunnel4, tunnelAddressV6: s.tunnel6 };
}

async function kernelRoutes(s: Side): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const { stdout } = await s.lab.run('host', 'ip', [fam, 'route', 'show', 'proto', String(ROUTE_PROTOCOL)]);
    out.push(...stdout.split('\n').map((l) => l.replace(/\s+(metric 1024|pref medium)/g, '').trim()).filter((l) => l));
  }
  return out.sort();
}

async function reach(from: Side, to: Side): Promise<boolean[]> {
  const r = await from.lab.probe('pod', [{ to: to.pod.v4, proto: 'tcp', port: 80 }, { to: to.pod.v6, proto: 'tcp', port: 80 }, { to: to.pod.v4, proto: 'udp', port: 53 }]);
  return r.map((x) => x.ok);
}

describe('routes and links driver (root, throwaway namespaces)', { skip }, () => {
  test('direct routes between hosts on one subnet, blackholes, sysctls; drift repaired; refused lines retried', async (t) => {
    const [a, b] = await twoHosts(t);
    const drivers = new Map<Side, RoutesDriver>();
    for (const [s, peer] of [[a, b], [b, a]] as Array<[Side, Side]>) {
      const d = new RoutesDriver({ runner, netns: s.lab.hostPath, hostname: s.node });
      drivers.set(s, d);
      const msgs: DriverMessage[] = [
        endpointMessage(s),
        ...[...localRoutes(s), ...remoteRoutes(peer, 'none')].map((route): DriverMessage => ({ type: 'RouteUpdate', route })),
        { type: 'LocalBlockUpdate', cidr: s.block4 }, { type: 'LocalBlockUpdate', cidr: s.block6 },
      ];
      assert.equal((await d.apply(msgs)).deferred, true, 'nothing before InSync');
      const r = await d.apply([{ type: 'InSync' }]);
      assert.deepEqual(r.failures, []);
    }
    assert.deepEqual(await kernelRoutes(a), [
      `${a.pod.v4} dev ${a.pod.iface} scope link`,
      `${a.pod.v6} dev ${a.pod.iface}`,
      `${b.block4} via ${b.underlay4} dev ul0`,
      `${b.block6} via ${b.underlay6} dev ul0`,
      `blackhole ${a.block4}`,
      `blackhole ${a.block6} dev lo`,
    ].sort());
    assert.deepEqual(await reach(a, b), [true, true, true]);
    assert.deepEqual(await reach(b, a), [true, true, true]);
    const da = drivers.get(a)!;
    assert.deepEqual((await da.resync()).ipLines, [], 'a readback right after programming finds nothing to do');

    // An unused address of this host's block is blackholed (a lookup answers EINVAL), not sent to the
    // default route as an address outside the block is.
    await assert.rejects(a.lab.run('host', 'ip', ['route', 'get', '10.65.1.50']), /Invalid argument/);
    assert.match((await a.lab.run('host', 'ip', ['route', 'get', '10.65.9.50'])).stdout, /via 198\.18\.0\.2/);

    // Drift: a deleted route, a foreign proto-80 route, someone else's route, a reset sysctl.
    await a.lab.host.ip([`route del ${a.pod.v4}/32`, `route add 10.77.0.0/24 via ${b.underlay4} proto ${ROUTE_PROTOCOL}`, `route add 10.78.0.0/24 via ${b.underlay4} proto static`]);
    await a.lab.run('host', 'sysctl', ['-qw', `net.ipv4.conf.${a.pod.iface}.proxy_arp=0`]);
    assert.deepEqual(await reach(b, a), [false, true, false]);
    const repaired = await da.resync();
    assert.deepEqual(repaired.ipLines.sort(), [`route del 10.77.0.0/24 proto ${ROUTE_PROTOCOL}`, `route replace ${a.pod.v4}/32 dev ${a.pod.iface} scope link proto ${ROUTE_PROTOCOL}`]);
    assert.deepEqual(repaired.sysctls, [[`net/ipv4/conf/${a.pod.iface}/proxy_arp`, '1']]);
    assert.deepEqual(await reach(b, a), [true, true, true]);
    const { stdout: kept } = await a.lab.run('host', 'ip', ['route', 'show', '10.78.0.0/24']);
    assert.match(kept, /10\.78\.0\.0\/24 via 192\.168\.77\.12 dev ul0 proto static/, 'routes without brindle\'s mark are left alone');

    // Steady state: one route removed is one line.
    const removed = await da.apply([{ type: 'RouteRemove', dst: b.block6 }]);
    assert.deepEqual(removed.ipLines, [`route del ${b.block6} proto ${ROUTE_PROTOCOL}`]);
    assert.deepEqual(await reach(a, b), [true, false, true]);

    // A route to an interface that does not exist yet is refused, kept, and programmed once it appears.
    const early: Route = { dst: '10.65.1.7/32', type: 'local-workload', node: a.node, interfaceName: 'brvlater', encap: 'none' };
    const first = await da.apply([{ type: 'RouteUpdate', route: early }]);
    assert.equal(first.failures.length, 1);
    assert.match(first.failures[0].error, /Cannot find device "brvlater"/);
    await a.lab.host.ip(['link add brvlater type veth peer name brvlater1', 'link set brvlater up']);
    const retried = await da.apply([]);
    assert.deepEqual(retried.ipLines, [`route replace 10.65.1.7/32 dev brvlater scope link proto ${ROUTE_PROTOCOL}`]);
    assert.deepEqual(retried.failures, []);
  });

  test('VXLAN per pool: devices with lowered MTU, neighbour and FDB entries, onlink routes; drift repaired', async (t) => {
    const [a, b] = await twoHosts(t);
    const drivers = new Map<Side, RoutesDriver>();
    for (const [s, peer] of [[a, b], [b, a]] as Array<[Side, Side]>) {
      const d = new RoutesDriver({ runner, netns: s.lab.hostPath, hostname: s.node });
      drivers.set(s, d);
      const r = await d.apply([
        endpointMessage(s),
        { type: 'VxlanTunnelEndpointUpdate', vtep: vtep(a) }, { type: 'VxlanTunnelEndpointUpdate', vtep: vtep(b) },
        ...[...localRoutes(s), ...remoteRoutes(peer, 'vxlan')].map((route): DriverMessage => ({ type: 'RouteUpdate', route })),
        { type: 'InSync' },
      ]);
      assert.deepEqual(r.failures, []);
    }
    const link = async (s: Side, dev: string) => JSON.parse((await s.lab.run('host', 'ip', ['-d', '-j', 'link', 'show', dev])).stdout)[0];
    const l4 = await link(a, VXLAN_DEVICE_V4);
    assert.deepEqual([l4.linkinfo.info_data.id, l4.linkinfo.info_data.local, l4.linkinfo.info_data.port, l4.linkinfo.info_data.learning, l4.mtu, l4.address],
      [VXLAN_VNI_V4, a.underlay4, 4789, false, 1500 - 50, vxlanMacFor(a.node, 4)]);
    const l6 = await link(a, VXLAN_DEVICE_V6);
    assert.deepEqual([l6.linkinfo.info_data.id, l6.mtu], [VXLAN_VNI_V6, 1500 - 50], 'IPv6 overlay over an IPv4 underlay: 50 bytes');
    assert.deepEqual(await kernelRoutes(a), [
      `${a.pod.v4} dev ${a.pod.iface} scope link`,
      `${a.pod.v6} dev ${a.pod.iface}`,
      `${b.block4} via ${b.tunnel4} dev ${VXLAN_DEVICE_V4} onlink`,
      `${b.block6} via ${b.tunnel6} dev ${VXLAN_DEVICE_V6} onlink`,
    ].sort());
    const fdb = (await a.lab.run('host', 'bridge', ['fdb', 'show', 'dev', VXLAN_DEVICE_V4])).stdout;
    assert.match(fdb, new RegExp(`${vxlanMacFor(b.node, 4)} dst ${b.underlay4.replace(/\./g, '\\.')} self permanent`));
    const neigh = (await a.lab.run('host', 'ip', ['neigh', 'show', 'dev', VXLAN_DEVICE_V6])).stdout;
    assert.match(neigh, new RegExp(`${b.tunnel6} lladdr ${vxlanMacFor(b.node, 6)} PERMANENT`));

    const txBefore = JSON.parse((await a.lab.run('host', 'ip', ['-s', '-j', 'link', 'show', VXLAN_DEVICE_V4])).stdout)[0].stats64.tx.packets;
    assert.deepEqual(await reach(a, b), [true, true, true]);
    const txAfter = JSON.parse((await a.lab.run('host', 'ip', ['-s', '-j', 'link', 'show', VXLAN_DEVICE_V4])).stdout)[0].stats64.tx.packets;
    assert.ok(txAfter > txBefore, 'the traffic went through the vxlan device');
    const da = drivers.get(a)!;
    assert.deepEqual((await da.resync()).ipLines, []);

    // Drift: a lost FDB entry and a changed MTU.
    await a.lab.run('host', 'bridge', ['fdb', 'del', vxlanMacFor(b.node, 4), 'dev', VXLAN_DEVICE_V4, 'dst', b.underlay4, 'self']);
    await a.lab.host.ip([`link set ${VXLAN_DEVICE_V6} mtu 1400`]);
    assert.deepEqual(await reach(a, b), [false, true, false]);
    const fixed = await da.resync();
    assert.deepEqual(fixed.bridgeLines, [`fdb replace ${vxlanMacFor(b.node, 4)} dev ${VXLAN_DEVICE_V4} dst ${b.underlay4} self permanent`]);
    assert.deepEqual(fixed.ipLines, [`link set ${VXLAN_DEVICE_V6} mtu 1450`]);
    assert.deepEqual(await reach(a, b), [true, true, true]);

    // Drift: the device deleted (the kernel drops its routes too) is re-created with everything on it.
    await a.lab.host.ip([`link del ${VXLAN_DEVICE_V4}`]);
    const rebuilt = await da.resync();
    assert.ok(rebuilt.ipLines.some((l) => l.startsWith(`link add ${VXLAN_DEVICE_V4} type vxlan id ${VXLAN_VNI_V4} local ${a.underlay4} dev ul0`)));
    assert.ok(rebuilt.ipLines.includes(`route replace ${b.block4} via ${b.tunnel4} dev ${VXLAN_DEVICE_V4} onlink proto ${ROUTE_PROTOCOL}`));
    assert.deepEqual(await reach(a, b), [true, true, true]);

    // The peer's VTEP goes away: its entries go; this host's own VTEP goes: the devices go.
    const gone = await da.apply([{ type: 'VxlanTunnelEndpointRemove', node: b.node }, ...remoteRoutes(b, 'vxlan').map((r): DriverMessage => ({ type: 'RouteRemove', dst: r.dst }))]);
    assert.deepEqual(gone.ipLines.filter((l) => l.startsWith('neigh')).sort(), [`neigh del ${b.tunnel4} dev ${VXLAN_DEVICE_V4}`, `neigh del ${b.tunnel6} dev ${VXLAN_DEVICE_V6}`]);
    assert.equal(gone.bridgeLines.length, 2);
    await da.apply([{ type: 'VxlanTunnelEndpointRemove', node: a.node }]);
    const links = (await a.lab.run('host', 'ip', ['-j', 'link', 'show'])).stdout;
    assert.ok(!links.includes(VXLAN_DEVICE_V4) && !links.includes(VXLAN_DEVICE_V6), 'no vxlan device left');
    assert.deepEqual(await kernelRoutes(a), [`${a.pod.v4} dev ${a.pod.iface} scope link`, `${a.pod.v6} dev ${a.pod.iface}`].sort());
  });
});
