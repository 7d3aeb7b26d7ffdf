// Golden-file tests of the BIRD config renderer, one file per scenario under testdata/ (regenerate
// with UPDATE_GOLDEN=1 after checking the diff), each parsed by `bird -p` when BIRD is installed so a
// golden that BIRD would refuse cannot pass; plus the peer-selection rules and input errors.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidError } from '../lib/index.ts';
import type { BGPConfiguration, BGPPeer, IPPool, Node } from '../model/index.ts';
import { birdPeers, durationSeconds, parsePeerIp, renderBirdConfig } from './index.ts';
import type { BirdConfigInput } from './index.ts';

const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));
const API = 'projectcalico.org/v3';

function birdPath(): string | undefined {
  for (const p of ['/usr/sbin/bird', '/usr/bin/bird', '/sbin/bird']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
const BIRD = birdPath();

function node(name: string, v4?: string, extra: { v6?: string; as?: number; cid?: string; labels?: Record<string, string> } = {}): Node {
  return {
    apiVersion: API,
    kind: 'Node',
    metadata: { name, labels: extra.labels },
    spec: { bgp: { ipv4Address: v4, ipv6Address: extra.v6, asNumber: extra.as, routeReflectorClusterID: extra.cid } },
  };
}
function pool(name: string, cidr: string, extra: Partial<IPPool['spec']> = {}): IPPool {
  return { apiVersion: API, kind: 'IPPool', metadata: { name }, spec: { cidr, ...extra } };
}
function peer(name: string, spec: BGPPeer['spec']): BGPPeer {
  return { apiVersion: API, kind: 'BGPPeer', metadata: { name }, spec };
}
function bgpConfig(name: string, spec: BGPConfiguration['spec']): BGPConfiguration {
  return { apiVersion: API, kind: 'BGPConfiguration', metadata: { name }, spec };
}

const mesh3 = [node('n1', '192.168.77.11/24'), node('n2', '192.168.77.12/24'), node('n3', '192.168.77.13/24')];
const pool4 = pool('default-ipv4', '10.65.0.0/16');

const SCENARIOS: Record<string, BirdConfigInput> = {
  'mesh-3-n1': { nodeName: 'n1', nodes: mesh3, bgpConfigurations: [], bgpPeers: [], ipPools: [pool4], blocks: ['10.65.1.0/26'] },
  'mesh-3-n3': { nodeName: 'n3', nodes: mesh3, bgpConfigurations: [], bgpPeers: [], ipPools: [pool4], blocks: ['10.65.3.0/26', '10.65.3.64/26'] },
  'mesh-off-global-peer': {
    nodeName: 'n2',
    nodes: mesh3,
    bgpConfigurations: [
      bgpConfig('default', {
        nodeToNodeMeshEnabled: false,
        asNumber: 64600,
        serviceClusterIPs: [{ cidr: '10.96.0.0/12' }],
        communities: [{ name: 'edge', value: '64600:100' }],
        prefixAdvertisements: [{ cidr: '10.65.2.0/26', communities: ['edge', '64600:1:2'] }],
      }),
    ],
    bgpPeers: [peer('tor', { peerIP: '192.168.77.1', asNumber: 65000, keepaliveTime: '3s', holdTime: '9s', maxRestartTime: '2m' })],
    ipPools: [pool4],
    blocks: ['10.65.2.0/26'],
  },
  'route-reflector': {
    nodeName: 'rr1',
    nodes: [...mesh3, node('rr1', '192.168.77.2/24', { cid: '224.0.0.1', labels: { 'route-reflector': 'true' } })],
    bgpConfigurations: [bgpConfig('default', { nodeToNodeMeshEnabled: false })],
    bgpPeers: [peer('to-rr', { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" })],
    ipPools: [pool4],
    blocks: [],
  },
  'route-reflector-client': {
    nodeName: 'n1',
    nodes: [...mesh3, node('rr1', '192.168.77.2/24', { cid: '224.0.0.1', labels: { 'route-reflector': 'true' } })],
    bgpConfigurations: [bgpConfig('default', { nodeToNodeMeshEnabled: false })],
    bgpPeers: [peer('to-rr', { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" })],
    ipPools: [pool4],
    blocks: ['10.65.1.0/26'],
  },
  'node-peer-password': {
    nodeName: 'n1',
    nodes: mesh3,
    bgpConfigurations: [bgpConfig('node.n1', { listenPort: 1790 })],
    bgpPeers: [
      peer('n1-upstream', {
        node: 'n1',
        peerIP: '10.9.0.1:1179',
        asNumber: 65010,
        localASNumber: 65001,
        password: { secretKeyRef: { name: 'bgp-secrets', key: 'upstream' } },
        ttlSecurity: 2,
        sourceAddress: 'None',
        numAllowedLocalASNumbers: 1,
      }),
      peer('n2-only', { node: 'n2', peerIP: '10.9.0.2', asNumber: 65011 }),
    ],
    ipPools: [pool4],
    blocks: ['10.65.1.0/26'],
    resolveSecret: (ref) => (ref.name === 'bgp-secrets' && ref.key === 'upstream' ? 's3cret-pw' : undefined),
  },
  ipv6: {
    nodeName: 'n1',
    nodes: [node('n1', '192.168.77.11/24', { v6: 'fd00:77::11/64' }), node('n2', '192.168.77.12/24', { v6: 'fd00:77::12/64' }), node('n6', undefined, { v6: 'fd00:78::6/64' })],
    bgpConfigurations: [],
    bgpPeers: [peer('v6-tor', { peerIP: '[fd00:77::1]:179', asNumber: 65000 })],
    ipPools: [pool4, pool('default-ipv6', 'fd00:65::/48')],
    blocks: ['10.65.1.0/26', 'fd00:65:0:1::/122'],
  },
  'disabled-export-pool': {
    nodeName: 'n1',
    nodes: mesh3,
    bgpConfigurations: [],
    bgpPeers: [],
    ipPools: [pool4, pool('private', '10.80.0.0/16', { disableBGPExport: true })],
    blocks: ['10.65.1.0/26', '10.80.4.0/26'],
  },
  'borrowed-addresses': {
    nodeName: 'n1',
    nodes: [node('n1', '192.168.77.11/24', { v6: 'fd00:77::11/64' }), node('n2', '192.168.77.12/24', { v6: 'fd00:77::12/64' })],
    bgpConfigurations: [],
    bgpPeers: [],
    ipPools: [pool4, pool('default-ipv6', 'fd00:65::/48')],
    blocks: ['10.65.1.0/26'],
    borrowedAddresses: ['10.65.2.7', '10.65.1.9', 'fd00:65:0:2::5'],
  },
  'listen-port-log-ignored': {
    nodeName: 'n1',
    nodes: mesh3,
    bgpConfigurations: [
      bgpConfig('default', { logSeverityScreen: 'Warning', ignoredInterfaces: ['eth9', 'docker*'] }),
      bgpConfig('node.n2', { listenPort: 1790 }),
    ],
    bgpPeers: [],
    ipPools: [pool4],
    blocks: ['10.65.1.0/26'],
  },
  'route-reflector-external-peer': {
    nodeName: 'rr1',
    nodes: [...mesh3, node('rr1', '192.168.77.2/24', { cid: '224.0.0.1', labels: { 'route-reflector': 'true' } })],
    bgpConfigurations: [bgpConfig('default', { nodeToNodeMeshEnabled: false })],
    bgpPeers: [
      peer('to-rr', { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" }),
      peer('rr-tor', { node: 'rr1', peerIP: '10.9.0.1', asNumber: 65000, nextHopMode: 'Self' }),
    ],
    ipPools: [pool4],
    blocks: [],
  },
};

describe('renderBirdConfig golden files', () => {
  const update = process.env.UPDATE_GOLDEN === '1';
  for (const [name, input] of Object.entries(SCENARIOS)) {
    it(name, () => {
      const text = renderBirdConfig(input);
      const file = join(TESTDATA, `${name}.conf`);
      if (update) writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'), `rendered config differs from ${file}`);
      assert.equal(renderBirdConfig(input), text, 'rendering is deterministic');
    });
    it(`${name} parses with bird -p`, { skip: BIRD ? false : 'bird (Debian bird2) is not installed' }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'brg-golden-'));
      try {
        const file = join(dir, 'bird.conf');
        writeFileSync(file, renderBirdConfig(input));
        execFileSync(BIRD!, ['-p', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const e = err as { stderr?: Buffer };
        assert.fail(`bird -p rejected scenario "${name}": ${e.stderr?.toString() ?? String(err)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('peer selection', () => {
  it('mesh: the lower address connects, the higher one waits', () => {
    const n1 = birdPeers(SCENARIOS['mesh-3-n1']);
    assert.deepEqual(n1.map((p) => [p.protocol, p.type, p.passive]), [
      ['Mesh_192_168_77_12', 'mesh', false],
      ['Mesh_192_168_77_13', 'mesh', false],
    ]);
    const n3 = birdPeers(SCENARIOS['mesh-3-n3']);
    assert.deepEqual(n3.map((p) => p.passive), [true, true]);
  });

  it('route reflector: clients for every selected node, reverse peering on the clients, no mesh', () => {
    const rr = birdPeers(SCENARIOS['route-reflector']);
    assert.deepEqual(rr.map((p) => [p.address, p.rrClient]), [['192.168.77.11', true], ['192.168.77.12', true], ['192.168.77.13', true]]);
    const client = birdPeers(SCENARIOS['route-reflector-client']);
    assert.deepEqual(client.map((p) => [p.address, p.rrClient, p.type]), [['192.168.77.2', false, 'node']]);
  });

  it('route reflector with the mesh on: the others mesh among themselves, not with the reflector', () => {
    const input = { ...SCENARIOS['route-reflector-client'], bgpConfigurations: [] };
    const peers = birdPeers(input);
    assert.deepEqual(peers.map((p) => `${p.type}:${p.address}`), ['node:192.168.77.2', 'mesh:192.168.77.12', 'mesh:192.168.77.13']);
  });

  it('mesh peers are dialled on the listen port their node configures', () => {
    const peers = birdPeers(SCENARIOS['listen-port-log-ignored']);
    assert.deepEqual(peers.map((p) => [p.protocol, p.port]), [['Mesh_192_168_77_12_port_1790', 1790], ['Mesh_192_168_77_13', undefined]]);
  });

  it('per-node peers apply only to their node', () => {
    const n1 = birdPeers(SCENARIOS['node-peer-password']);
    assert.deepEqual(n1.filter((p) => p.type === 'node').map((p) => [p.address, p.port, p.password]), [['10.9.0.1', 1179, 's3cret-pw']]);
    const n2 = birdPeers({ ...SCENARIOS['node-peer-password'], nodeName: 'n2' });
    assert.deepEqual(n2.filter((p) => p.type === 'node').map((p) => p.address), ['10.9.0.2']);
  });

  it('a disabled pool is still exported (its workloads keep their addresses); disableBGPExport is not', () => {
    const text = renderBirdConfig({ ...SCENARIOS['disabled-export-pool'], ipPools: [pool('old', '10.65.0.0/16', { disabled: true }), pool('private', '10.80.0.0/16', { disableBGPExport: true })] });
    assert.match(text, /\n  if net ~ \[ 10\.80\.0\.0\/16\+ \] then reject;\n/);
    assert.match(text, /\(proto = "brindle_originate_v4" \|\| source = RTS_BGP\) && net ~ \[ 10\.65\.0\.0\/16\+ \] then accept;/);
  });

  it('nodeSelector scopes a peer by label', () => {
    const nodes = [node('a', '10.0.0.1/24', { labels: { rack: 'r1' } }), node('b', '10.0.0.2/24', { labels: { rack: 'r2' } })];
    const base = { nodes, bgpConfigurations: [bgpConfig('default', { nodeToNodeMeshEnabled: false })], ipPools: [], blocks: [] };
    const bgpPeers = [peer('r1-tor', { nodeSelector: "rack == 'r1'", peerIP: '10.0.0.254', asNumber: 65001 })];
    assert.deepEqual(birdPeers({ ...base, nodeName: 'a', bgpPeers }).map((p) => p.address), ['10.0.0.254']);
    assert.deepEqual(birdPeers({ ...base, nodeName: 'b', bgpPeers }), []);
  });
});

describe('renderer inputs', () => {
  const base = SCENARIOS['mesh-3-n1'];
  it('rejects what BIRD could not be given, naming the resource and field', () => {
    assert.throws(() => renderBirdConfig({ ...base, nodeName: 'nope' }), /no Node resource named "nope"/);
    assert.throws(() => renderBirdConfig({ ...base, bgpPeers: [peer('x', { peerIP: '10.1.1.1' })] }), (e: unknown) => e instanceof InvalidError && /BGPPeer "x" spec.asNumber/.test(e.message));
    assert.throws(() => renderBirdConfig({ ...base, bgpPeers: [peer('x', { peerIP: '10.1.1.1', asNumber: 1, password: { value: 'a"b' } })] }), /spec.password/);
    assert.throws(() => renderBirdConfig({ ...base, bgpPeers: [peer('x', { peerIP: '10.1.1.1', asNumber: 1, password: { secretKeyRef: { name: 's', key: 'k' } } })] }), /secret "s" key "k" not found/);
    assert.throws(() => renderBirdConfig({ ...base, bgpPeers: [peer('x', { peerIP: 'not-an-ip', asNumber: 1 })] }), /peerIP "not-an-ip"/);
    assert.throws(() => renderBirdConfig({ ...base, blocks: ['10.65.1.0/99'] }), /blocks\[0\]/);
    assert.throws(() => renderBirdConfig({ ...base, bgpConfigurations: [bgpConfig('default', { logSeverityScreen: 'Loud' })] }), /logSeverityScreen: "Loud"/);
    assert.throws(() => renderBirdConfig({ ...base, bgpConfigurations: [bgpConfig('default', { ignoredInterfaces: ['a"b'] })] }), /ignoredInterfaces\[0\]/);
  });
  it('reads durations and peer addresses', () => {
    assert.equal(durationSeconds('1m30s', 'p'), 90);
    assert.equal(durationSeconds('20', 'p'), 20);
    assert.throws(() => durationSeconds('soon', 'p'), /cannot read duration "soon"/);
    assert.deepEqual(parsePeerIp('10.0.0.1:1790', 'p'), { ip: '10.0.0.1', family: 4, port: 1790 });
    assert.deepEqual(parsePeerIp('[FD00::1]:179', 'p'), { ip: 'fd00::1', family: 6, port: 179 });
    assert.deepEqual(parsePeerIp('fd00::1', 'p'), { ip: 'fd00::1', family: 6, port: undefined });
  });
});
