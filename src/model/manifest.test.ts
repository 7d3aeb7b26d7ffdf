// Tests for the manifest codecs: Calico projectcalico.org/v3 and Kubernetes examples of every kind are
// accepted unchanged, YAML/JSON/List decoding and their syntax errors, batch checks (duplicates, pool
// overlaps), and the encode → parse round trip that makes `get -o yaml | apply` a no-op.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS } from './kinds.ts';
import { checkBatch, encodeManifests, parseManifests } from './manifest.ts';
import type { ManifestDocument } from './manifest.ts';
import type { AnyResource, IPPool, KindName } from './types.ts';
import { ManifestError } from './validate.ts';

/** One example per kind, in the shape the Calico and Kubernetes documentation show them. */
const EXAMPLES = `
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: my.ippool-1
spec:
  cidr: 10.1.0.0/16
  ipipMode: CrossSubnet
  natOutgoing: true
  disabled: false
  nodeSelector: all()
  allowedUses:
    - Workload
    - Tunnel
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: v6-pool
spec:
  cidr: 2001:db8:1::/112
  blockSize: 120
  vxlanMode: Always
---
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata:
  name: my-ipreservation-1
spec:
  reservedCIDRs:
    - 192.168.2.3
    - 10.0.2.3/32
    - cafe:f00d::/123
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: node-hostname
spec:
  bgp:
    asNumber: 64512
    ipv4Address: 10.244.0.1/24
    ipv6Address: 2001:db8:85a3::8a2e:370:7334/120
    ipv4IPIPTunnelAddr: 192.168.0.1
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-my--nginx--b1337a-eth0
  namespace: default
  labels:
    app: frontend
    projectcalico.org/namespace: default
    projectcalico.org/orchestrator: k8s
spec:
  node: node1
  orchestrator: k8s
  endpoint: eth0
  containerID: "1337495556942031415926535"
  pod: my-nginx-b1337a
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  ipNetworks:
    - 192.168.0.0/32
  profiles:
    - profile1
  ports:
    - name: some-port
      port: 1234
      protocol: TCP
    - name: another-port
      port: 5432
      protocol: UDP
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: some.name
  labels:
    type: production
spec:
  interfaceName: eth0
  node: myhost
  expectedIPs:
    - 192.168.0.1
    - 192.168.0.2
  profiles:
    - profile1
    - profile2
  ports:
    - name: some-port
      port: 1234
      protocol: TCP
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  selector: role == 'database'
  types:
    - Ingress
    - Egress
  ingress:
    - action: Allow
      metadata:
        annotations:
          from: frontend
          to: database
      protocol: TCP
      source:
        selector: role == 'frontend'
      destination:
        ports:
          - 6379
  egress:
    - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-ping-and-hosts
spec:
  order: 10.5
  selector: all()
  namespaceSelector: has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system"}
  ingress:
    - action: Allow
      protocol: ICMP
      icmp:
        type: 8
    - action: Allow
      protocol: ICMPv6
      ipVersion: 6
      notICMP:
        type: 128
        code: 0
    - action: Allow
      source:
        namespaceSelector: global()
        selector: type == 'hep'
    - action: Allow
      protocol: TCP
      source:
        serviceAccounts:
          names: [api-service]
        notNets: [10.9.0.0/16]
      destination:
        notPorts: ["1:1023", http]
  egress:
    - action: Allow
      protocol: UDP
      destination:
        services:
          name: kube-dns
          namespace: kube-system
    - action: Log
    - action: Pass
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: block-external-prednat
spec:
  selector: has(host-endpoint)
  order: 100
  applyOnForward: true
  preDNAT: true
  types:
    - Ingress
  ingress:
    - action: Deny
      source:
        nets: [1.2.3.4/32]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: staged-allow
  namespace: production
spec:
  stagedAction: Set
  tier: internal-access
  selector: role == 'database'
  ingress:
    - action: Allow
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata:
  name: staged-deny
spec:
  selector: all()
  egress:
    - action: Deny
      protocol: 17
      destination:
        ports: [53]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: internal-access
spec:
  order: 100
  defaultAction: Pass
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: dev-apps
spec:
  ingress:
    - action: Deny
      source:
        nets:
          - 10.0.20.0/24
    - action: Allow
      source:
        selector: stage == 'development'
  egress:
    - action: Allow
  labelsToApply:
    stage: development
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: external-database
  namespace: staging
  labels:
    role: db
spec:
  nets:
    - 198.51.100.0/28
    - 203.0.113.0/24
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: a-name-for-the-set
  labels:
    role: external-database
spec:
  nets:
    - 198.51.100.0/28
    - 2001:db8::/64
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: false
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
  serviceExternalIPs:
    - cidr: 104.244.42.129/32
    - cidr: 172.217.3.0/24
  listenPort: 178
  bindMode: NodeIP
  communities:
    - name: bgp-large-community
      value: 63400:300:100
  prefixAdvertisements:
    - cidr: 172.218.4.0/26
      communities:
        - bgp-large-community
        - 63400:120
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: some.name
spec:
  node: rack1-host1
  peerIP: 192.168.1.1
  asNumber: 63400
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  ipv6Support: false
  logSeverityScreen: Info
  vxlanEnabled: true
  vxlanVNI: 4096
  vxlanPort: 4789
  defaultEndpointToHostAction: Drop
  failsafeInboundHostPorts:
    - protocol: tcp
      port: 22
    - protocol: udp
      port: 68
      net: 0.0.0.0/0
  routeRefreshInterval: 90s
---
apiVersion: projectcalico.org/v3
kind: ClusterInformation
metadata:
  name: default
spec:
  clusterGUID: 6d4b6b4cc3a64a4fa0c3e2b9e0d7c6b1
  clusterType: k8s,bgp
  calicoVersion: v3.30.0
  datastoreReady: true
---
apiVersion: v1
kind: Namespace
metadata:
  name: production
  labels:
    env: prod
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: api-service
  namespace: production
---
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  namespace: production
  labels:
    app: nginx
spec:
  nodeName: node1
  containers:
    - name: nginx
      image: nginx:1.27
      ports:
        - name: http
          containerPort: 80
status:
  podIP: 10.1.0.5
  podIPs:
    - ip: 10.1.0.5
  phase: Running
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 32000
      endPort: 32768
`;

test('Calico and Kubernetes examples of every kind are accepted unchanged', () => {
  const docs = parseManifests(EXAMPLES, 'examples.yaml');
  const kinds = new Set(docs.map((d) => d.resource.kind));
  for (const k of KINDS) assert.ok(kinds.has(k.kind), `no example of ${k.kind}`);
  assert.deepEqual(docs.map((d) => d.index), docs.map((_, i) => i + 1));
  const byName = (kind: KindName, name: string): AnyResource => docs.find((d) => d.resource.kind === kind && d.resource.metadata.name === name)!.resource;
  assert.equal(byName('KubernetesNetworkPolicy', 'test-network-policy').apiVersion, 'networking.k8s.io/v1');
  assert.equal(byName('GlobalNetworkPolicy', 'allow-ping-and-hosts').apiVersion, 'brindle.io/v1');
  assert.equal(byName('AgentConfiguration', 'default').kind, 'AgentConfiguration');
  // The Calico NetworkPolicy example in namespace "production" and the k8s one are different kinds.
  assert.equal(byName('NetworkPolicy', 'allow-tcp-6379').metadata.namespace, 'production');
});

test('defaults are applied to parsed resources', () => {
  const docs = parseManifests(EXAMPLES, 'examples.yaml');
  const get = (kind: KindName, name: string): Record<string, unknown> =>
    docs.find((d) => d.resource.kind === kind && d.resource.metadata.name === name)!.resource.spec as Record<string, unknown>;
  assert.deepEqual(get('IPPool', 'v6-pool'), {
    cidr: '2001:db8:1::/112',
    blockSize: 120,
    ipipMode: 'Never',
    vxlanMode: 'Always',
    natOutgoing: false,
    disabled: false,
    disableBGPExport: false,
    nodeSelector: 'all()',
    allowedUses: ['Workload', 'Tunnel'],
    assignmentMode: 'Automatic',
  });
  assert.equal(get('IPPool', 'my.ippool-1').blockSize, 26);
  assert.deepEqual(get('GlobalNetworkPolicy', 'allow-ping-and-hosts').types, ['Ingress', 'Egress']);
  assert.equal(get('GlobalNetworkPolicy', 'allow-ping-and-hosts').tier, 'default');
  assert.deepEqual(get('StagedGlobalNetworkPolicy', 'staged-deny').types, ['Egress']);
  assert.equal(get('StagedGlobalNetworkPolicy', 'staged-deny').stagedAction, 'Set');
  assert.equal(get('StagedNetworkPolicy', 'staged-allow').tier, 'internal-access');
  assert.equal(get('BGPConfiguration', 'default').nodeToNodeMeshEnabled, false);
  const k8s = get('KubernetesNetworkPolicy', 'test-network-policy');
  assert.deepEqual(k8s.policyTypes, ['Ingress', 'Egress']);
  const pod = get('Pod', 'nginx') as { serviceAccountName: string; containers: Array<{ ports: Array<{ protocol: string }> }> };
  assert.equal(pod.serviceAccountName, 'default');
  assert.equal(pod.containers[0].ports[0].protocol, 'TCP');
});

test('empty documents are skipped and indexes count every document', () => {
  const text = `---\n# only a comment\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t1\n---\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t2\n`;
  const docs = parseManifests(text, 'tiers.yaml');
  assert.deepEqual(docs.map((d) => [d.index, d.resource.metadata.name]), [[2, 't1'], [4, 't2']]);
  assert.deepEqual(parseManifests('', 'empty.yaml'), []);
  assert.deepEqual(parseManifests('# nothing\n', 'empty.yaml'), []);
});

test('JSON input, single object and List', () => {
  const one = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }), 'ns.json');
  assert.equal(one.length, 1);
  assert.equal(one[0].resource.kind, 'Namespace');
  const list = parseManifests(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
        { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'b' } },
      ],
    }),
    'list.json',
  );
  assert.deepEqual(list.map((d) => [d.index, d.item, d.resource.kind]), [[1, 1, 'Namespace'], [1, 2, 'Tier']]);
});

test('a List with a bad item names the document and item', () => {
  const text = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ok\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: Not_OK\n`;
  assert.throws(
    () => parseManifests(text, 'list.yaml'),
    (e: unknown) => e instanceof ManifestError && e.item === 2 && e.path === 'metadata.name' && e.message.startsWith('list.yaml: document 1 item 2: Namespace "Not_OK": metadata.name: '),
  );
  assert.throws(() => parseManifests('apiVersion: v1\nkind: List\nitems: 3\n', 'l.yaml'), /l\.yaml: document 1: List: items: expected a list of resources/);
  assert.throws(() => parseManifests('apiVersion: v1\nkind: List\nitem: []\n', 'l.yaml'), /document 1: List: item: unknown field "item" in a List/);
});

test('YAML syntax errors name document, line and column', () => {
  const text = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: [b\n  labels: {}\n';
  assert.throws(
    () => parseManifests(text, 'bad.yaml'),
    (e: unknown) => e instanceof ManifestError && e.index === 2 && e.line !== undefined && e.line >= 9 && /^bad\.yaml: document 2: invalid YAML at line \d+, column \d+: /.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(
    () => parseManifests('a: 1\na: 2\n', 'dup.yaml'),
    (e: unknown) => e instanceof ManifestError && e.line === 2 && /^dup\.yaml: document 1: invalid YAML at line 2, column 1: Map keys must be unique$/.test(e.message),
  );
});

test('JSON syntax errors name line and column', () => {
  assert.throws(
    () => parseManifests('{\n  "apiVersion": "v1",\n  "kind" "Namespace"\n}', 'bad.json'),
    (e: unknown) => e instanceof ManifestError && e.line === 3 && /^bad\.json: document 1: invalid JSON at line 3, column 10: /.test(e.message),
  );
});

const poolDoc = (name: string, cidr: string, index: number, source = 'pools.yaml'): ManifestDocument => ({
  source,
  index,
  resource: parseManifests(JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr } }), source)[0].resource,
});

test('checkBatch: duplicate (kind, namespace, name) in one batch names both documents', () => {
  const text = `apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: s\nspec: {}\n---\napiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: s\n  namespace: other\n---\napiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: s\n  namespace: default\n`;
  const docs = parseManifests(text, 'sets.yaml');
  assert.throws(
    () => checkBatch(docs, { pools: [] }),
    (e: unknown) =>
      e instanceof ManifestError &&
      e.index === 3 &&
      e.message === 'sets.yaml: document 3: NetworkSet "s": metadata.name: defined twice in one batch: also in document 1',
  );
  // Same name in different namespaces, or of different kinds, is fine.
  checkBatch(docs.slice(0, 2), { pools: [] });
  const other = parseManifests(text, 'more.yaml');
  assert.throws(() => checkBatch([docs[1], other[1]], { pools: [] }), /more\.yaml: document 2: NetworkSet "s": metadata\.name: defined twice in one batch: also in sets\.yaml document 2/);
});

test('checkBatch: overlapping pools in the batch or with existing pools', () => {
  assert.throws(
    () => checkBatch([poolDoc('a', '10.0.0.0/16', 1), poolDoc('b', '10.0.128.0/17', 2)], { pools: [] }),
    (e: unknown) => e instanceof ManifestError && e.path === 'spec.cidr' && e.message === 'pools.yaml: document 2: IPPool "b": spec.cidr: "10.0.128.0/17" overlaps pool "a" (10.0.0.0/16) in document 1',
  );
  const existing = poolDoc('old', '10.0.0.0/8', 1).resource as IPPool;
  assert.throws(() => checkBatch([poolDoc('new', '10.5.0.0/16', 1)], { pools: [existing] }), /IPPool "new": spec\.cidr: "10\.5\.0\.0\/16" overlaps existing pool "old" \(10\.0\.0\.0\/8\)/);
  // Re-applying an existing pool unchanged is not an overlap with itself.
  checkBatch([poolDoc('old', '10.0.0.0/8', 1)], { pools: [existing] });
  checkBatch([poolDoc('a', '10.0.0.0/16', 1), poolDoc('b', '10.1.0.0/16', 2), poolDoc('c', 'fd00::/64', 3)], { pools: [] });
  assert.throws(() => checkBatch([poolDoc('old', '11.0.0.0/8', 1)], { pools: [existing] }), /spec\.cidr: the CIDR of an existing pool cannot change \(from "10\.0\.0\.0\/8" to "11\.0\.0\.0\/8"\)/);
});

test('encode: key order, printing apiVersion/kind, one object vs several', () => {
  const docs = parseManifests(EXAMPLES, 'examples.yaml');
  const k8s = docs.find((d) => d.resource.kind === 'KubernetesNetworkPolicy')!.resource;
  const yaml = encodeManifests([k8s], 'yaml');
  assert.match(yaml, /^apiVersion: networking\.k8s\.io\/v1\nkind: NetworkPolicy\nmetadata:\n  name: test-network-policy\n  namespace: default\nspec:\n  podSelector:/);
  const json = JSON.parse(encodeManifests([k8s], 'json')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['apiVersion', 'kind', 'metadata', 'spec']);
  const many = JSON.parse(encodeManifests(docs.slice(0, 3).map((d) => d.resource), 'json')) as { kind: string; items: unknown[] };
  assert.equal(many.kind, 'List');
  assert.equal(many.items.length, 3);
  const asList = JSON.parse(encodeManifests([k8s], 'json', { asList: true })) as { kind: string; items: unknown[] };
  assert.equal(asList.items.length, 1);
  assert.equal(encodeManifests(docs.slice(0, 3).map((d) => d.resource), 'yaml').split(/^---$/m).length, 3);
  const ns = docs.find((d) => d.resource.kind === 'Namespace')!.resource;
  assert.doesNotMatch(encodeManifests([ns], 'yaml'), /spec/);
  const pod = docs.find((d) => d.resource.kind === 'Pod')!.resource;
  assert.match(encodeManifests([pod], 'yaml'), /\nspec:[\s\S]*\nstatus:\n {2}podIP: 10\.1\.0\.5/);
});

test('round trip: encode → parse gives the same resources (yaml, json, List)', () => {
  const resources = parseManifests(EXAMPLES, 'examples.yaml').map((d) => d.resource);
  const withMeta = resources.map((r, i) => ({ ...r, metadata: { ...r.metadata, resourceVersion: String(100 + i), uid: `u-${i}`, creationTimestamp: '2025-01-02T03:04:05Z' } })) as AnyResource[];
  for (const [format, asList] of [['yaml', false], ['yaml', true], ['json', false], ['json', true]] as const) {
    const text = encodeManifests(withMeta, format, { asList });
    const back = parseManifests(text, `rt.${format}`).map((d) => d.resource);
    assert.deepEqual(back, withMeta, `${format} asList=${asList}`);
  }
  for (const r of withMeta) {
    const back = parseManifests(encodeManifests([r], 'yaml'), 'one.yaml');
    assert.deepEqual(back.map((d) => d.resource), [r]);
  }
});

test('strings that YAML 1.1 would read as other types are quoted on output', () => {
  const r = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', labels: { enabled: 'yes', flag: 'on', num: '10', n: 'x' } } }), 'x.json')[0].resource;
  const yaml = encodeManifests([r], 'yaml');
  assert.match(yaml, /enabled: "yes"/);
  assert.match(yaml, /flag: "on"/);
  assert.match(yaml, /num: "10"/);
  assert.match(yaml, /"n": x/);
});
