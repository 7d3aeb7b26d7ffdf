// Unit tests of the routes driver's pure part (no root): kernel routes for each route kind and the
// lines that make them, readback normalisation and comparison, VXLAN device and peer derivation, drift
// classification of an existing device, and the parsing of `-force -batch` failures.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vxlanMacFor } from '../lib/index.ts';
import {
  desiredRoutes, desiredVxlanDevices, desiredVxlanPeers, isGoneError, parseBatchFailures, parseKernelRoute,
  routeDeleteLine, routeMatches, routeReplaceLine, vxlanAddLines, vxlanDeviceDrift, vxlanFixLine, workloadSysctls,
} from './route-model.ts';

test('routes of every kind become proto-80 lines; a route message wins over a blackhole', () => {
  const routes = desiredRoutes([
    { dst: '10.65.1.1/32', type: 'local-workload', node: 'n1', interfaceName: 'brvabc', encap: 'none' },
    { dst: 'fd00:65:1:0::1/128', type: 'local-workload', node: 'n1', interfaceName: 'brvabc', encap: 'none' },
    { dst: '10.65.2.0/26', type: 'remote-block', node: 'n2', nextHop: '192.168.77.12', encap: 'none' },
    { dst: '10.65.3.0/26', type: 'remote-block', node: 'n3', nextHop: '10.65.3.0', encap: 'vxlan' },
    { dst: 'fd00:65:3::/122', type: 'remote-block', node: 'n3', nextHop: 'fd00:65:3::', encap: 'vxlan' },
    { dst: '10.65.4.5/32', type: 'remote-workload', node: 'n4', encap: 'none' },
    { dst: '10.65.9.0/26', type: 'remote-block', node: 'n9', nextHop: '192.168.77.19', encap: 'none' },
  ], ['10.65.1.0/26', '10.65.9.0/26'], new Set(['brindle.vxlan']));
  assert.deepEqual([...routes.values()].map(routeReplaceLine), [
    'route replace blackhole 10.65.1.0/26 proto 80',
    'route replace 10.65.9.0/26 via 192.168.77.19 proto 80',
    'route replace 10.65.1.1/32 dev brvabc scope link proto 80',
    'route replace fd00:65:1::1/128 dev brvabc proto 80',
    'route replace 10.65.2.0/26 via 192.168.77.12 proto 80',
    'route replace 10.65.3.0/26 via 10.65.3.0 dev brindle.vxlan onlink proto 80',
  ], 'the IPv6 VXLAN route waits for its device; a remote route without next hop is skipped');
  assert.equal(routeDeleteLine('fd00:65:3::/122'), 'route del fd00:65:3::/122 proto 80');
});

test('readback normalisation and comparison', () => {
  assert.deepEqual(parseKernelRoute({ dst: '10.65.1.1', dev: 'brvabc', flags: [] }, 4), { dst: '10.65.1.1/32', type: 'unicast', dev: 'brvabc' });
  assert.deepEqual(parseKernelRoute({ type: 'blackhole', dst: 'fd00:65:1::/122', dev: 'lo' }, 6), { dst: 'fd00:65:1::/122', type: 'blackhole' });
  assert.deepEqual(parseKernelRoute({ dst: 'default', gateway: '192.168.77.1', dev: 'eth0' }, 4), { dst: '0.0.0.0/0', type: 'unicast', dev: 'eth0', gateway: '192.168.77.1' });
  const want = { dst: '10.65.3.0/26', type: 'unicast' as const, dev: 'brindle.vxlan', gateway: '10.65.3.0', onlink: true };
  assert.equal(routeMatches({ ...want }, want), true);
  assert.equal(routeMatches({ ...want, onlink: undefined }, want), false);
  assert.equal(routeMatches({ ...want, gateway: '10.65.3.1' }, want), false);
  // A wanted route without a device accepts whichever device the kernel picked.
  assert.equal(routeMatches({ dst: '10.65.2.0/26', type: 'unicast', dev: 'eth0', gateway: '192.168.77.12' }, { dst: '10.65.2.0/26', type: 'unicast', gateway: '192.168.77.12' }), true);
});

test('VXLAN devices from this host\'s VTEP (MTU by underlay family), peers from the others', () => {
  const own = { node: 'n1', parentDeviceIp: '192.168.77.11', tunnelAddress: '10.65.1.0', mac: '66:00:00:00:00:01', tunnelAddressV6: 'fd00:65:1::' };
  const devs = desiredVxlanDevices(own, 'n1', { name: 'eth0', mtu: 9000 });
  assert.deepEqual(devs, [
    { family: 4, name: 'brindle.vxlan', vni: 4096, local: '192.168.77.11', parent: 'eth0', mtu: 8950, mac: '66:00:00:00:00:01', address: '10.65.1.0/32' },
    { family: 6, name: 'brindle.vxlan6', vni: 6096, local: '192.168.77.11', parent: 'eth0', mtu: 8950, mac: vxlanMacFor('n1', 6), address: 'fd00:65:1::/128' },
  ]);
  const v6Underlay = desiredVxlanDevices({ ...own, parentDeviceIp: 'fd00:77::11' }, 'n1', { name: 'eth0', mtu: 1500 });
  assert.deepEqual(v6Underlay.map((d) => d.mtu), [1430, 1430]);
  assert.deepEqual(vxlanAddLines(devs[0]), [
    'link add brindle.vxlan type vxlan id 4096 local 192.168.77.11 dev eth0 dstport 4789 nolearning',
    'link set brindle.vxlan address 66:00:00:00:00:01 mtu 8950 up',
    'addr replace 10.65.1.0/32 dev brindle.vxlan',
  ]);
  const peers = desiredVxlanPeers([own, { node: 'n2', parentDeviceIp: '192.168.77.12', tunnelAddress: '10.65.2.0' }], 'n1', devs);
  assert.deepEqual(peers, [{ node: 'n2', dev: 'brindle.vxlan', ip: '10.65.2.0', mac: vxlanMacFor('n2', 4), dst: '192.168.77.12' }]);
  assert.deepEqual(desiredVxlanDevices(undefined, 'n1', undefined), []);
});

test('an existing device is left, fixed in place, or re-created', () => {
  const want = desiredVxlanDevices({ node: 'n1', parentDeviceIp: '192.168.77.11', tunnelAddress: '10.65.1.0', mac: '66:00:00:00:00:01' }, 'n1', { name: 'eth0', mtu: 1500 })[0];
  const link = {
    ifname: 'brindle.vxlan', address: '66:00:00:00:00:01', mtu: 1450, flags: ['UP'],
    linkinfo: { info_kind: 'vxlan', info_data: { id: 4096, local: '192.168.77.11', port: 4789, learning: false, link: 'eth0' } },
  };
  assert.equal(vxlanDeviceDrift(link, want), 'ok');
  assert.equal(vxlanDeviceDrift({ ...link, mtu: 1400, flags: [] }, want), 'fix');
  assert.equal(vxlanFixLine({ ...link, mtu: 1400, flags: [] }, want), 'link set brindle.vxlan mtu 1450 up', 'the MAC is not touched when right');
  assert.equal(vxlanDeviceDrift({ ...link, linkinfo: { ...link.linkinfo, info_data: { ...link.linkinfo.info_data, id: 1 } } }, want), 'recreate');
  assert.equal(vxlanDeviceDrift({ ...link, linkinfo: { ...link.linkinfo, info_data: { ...link.linkinfo.info_data, learning: true } } }, want), 'recreate');
});

test('workload sysctls and -force batch failures', () => {
  assert.deepEqual(workloadSysctls('brv.x', true, true), [
    ['net/ipv4/conf/brv.x/proxy_arp', '1'], ['net/ipv4/neigh/brv.x/proxy_delay', '0'], ['net/ipv4/conf/brv.x/forwarding', '1'],
    ['net/ipv6/conf/brv.x/accept_ra', '0'], ['net/ipv6/conf/brv.x/forwarding', '1'],
  ]);
  const failures = parseBatchFailures('Cannot find device "nosuch"\nCommand failed -:7\nError: Nexthop has invalid gateway.\nCommand failed -:8\n');
  assert.deepEqual([...failures], [[7, 'Cannot find device "nosuch"'], [8, 'Error: Nexthop has invalid gateway.']]);
  assert.equal(isGoneError('RTNETLINK answers: No such process'), true);
  assert.equal(isGoneError('Error: Nexthop has invalid gateway.'), false);
});
