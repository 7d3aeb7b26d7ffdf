// Calc graph state sequences: each sequence is a list of datastore states with the desired state the
// host must end up with, replayed forward, reversed, split (one shuffled update per flush) and squashed
// (each state from scratch). Every step is also checked against the from-scratch snapshot and the
// dataplane message protocol, and re-putting the same resources must emit nothing.

import { describe, test } from 'node:test';
import {
  gnetset, gnp, hep, knp, netset, node, np, ns, pod, pool, profile, replay, REPLAY_MODES, sa, snp, tier, wep,
} from './calc-graph-harness.ts';
import type { StateDef } from './calc-graph-harness.ts';

const DEV = ns('dev', { env: 'dev' });
const PROD = ns('prod', { env: 'prod' });
const K8S_PROFILES = ['kns.dev', 'ksa.dev.default'];

const SEQUENCES: Array<{ name: string; hostname?: string; states: StateDef[] }> = [
  {
    name: 'local and remote pods, namespace profiles, remote routes',
    states: [
      {
        name: 'one local, one remote pod',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' })],
        expect: { endpoints: { 'pod:dev/a': '' }, profiles: K8S_PROFILES },
      },
      {
        name: 'the remote node becomes known: a route to its pod',
        resources: [DEV, node('n2', '192.168.0.2'), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' })],
        expect: { endpoints: { 'pod:dev/a': '' }, profiles: K8S_PROFILES, routes: ['10.0.0.2/32 remote-workload n2 192.168.0.2 none'] },
      },
      {
        name: 'the remote pod moves to this host',
        resources: [DEV, node('n2', '192.168.0.2'), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n1', '10.0.0.2', { app: 'db' })],
        expect: { endpoints: { 'pod:dev/a': '', 'pod:dev/b': '' }, profiles: K8S_PROFILES },
      },
    ],
  },
  {
    name: 'policy activation follows local matches; IP sets follow the rule selectors',
    states: [
      {
        name: 'a policy that selects only a remote pod is not active',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('db-only', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: { endpoints: { 'pod:dev/a': '' }, profiles: K8S_PROFILES },
      },
      {
        name: 'a policy selecting the local pod is active with its IP set',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('db-only', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          gnp('web-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web-in] eg[]' },
          policies: ['GlobalNetworkPolicy/web-in'], profiles: K8S_PROFILES,
          ipSets: { 'app == "db"': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'a label change on the remote pod empties the set',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'cache' }),
          gnp('db-only', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          gnp('web-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web-in] eg[]' },
          policies: ['GlobalNetworkPolicy/web-in'], profiles: K8S_PROFILES,
          ipSets: { 'app == "db"': [] },
        },
      },
      {
        name: 'a label change on the local pod swaps the active policy',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'db' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'web' }),
          gnp('db-only', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          gnp('web-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/db-only] eg[]' },
          policies: ['GlobalNetworkPolicy/db-only'], profiles: K8S_PROFILES,
          ipSets: { 'app == "web"': ['10.0.0.2/32'] },
        },
      },
    ],
  },
  {
    name: 'Kubernetes NetworkPolicy: own-namespace peers, namespaceSelector peers, namespace labels, ipBlock',
    states: [
      {
        name: 'podSelector peer: pods of the policy namespace only',
        resources: [DEV, PROD, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          knp('dev', 'allow-db', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[KubernetesNetworkPolicy/dev/allow-db] eg[]' },
          policies: ['KubernetesNetworkPolicy/dev/allow-db'], profiles: K8S_PROFILES,
          ipSets: { '(projectcalico.org/namespace == "dev" && projectcalico.org/orchestrator == "k8s" && app == "db")': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'namespaceSelector AND podSelector peer',
        resources: [DEV, PROD, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          knp('dev', 'allow-db', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { app: 'db' } } }] }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[KubernetesNetworkPolicy/dev/allow-db] eg[]' },
          policies: ['KubernetesNetworkPolicy/dev/allow-db'], profiles: K8S_PROFILES,
          ipSets: { '(pcns.env == "prod" && projectcalico.org/orchestrator == "k8s" && app == "db")': ['10.0.1.3/32'] },
        },
      },
      {
        name: 'the selected namespace loses its label',
        resources: [DEV, ns('prod', { env: 'staging' }), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          knp('dev', 'allow-db', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { app: 'db' } } }] }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[KubernetesNetworkPolicy/dev/allow-db] eg[]' },
          policies: ['KubernetesNetworkPolicy/dev/allow-db'], profiles: K8S_PROFILES,
          ipSets: { '(pcns.env == "prod" && projectcalico.org/orchestrator == "k8s" && app == "db")': [] },
        },
      },
      {
        name: 'ipBlock peers need no IP set',
        resources: [DEV, ns('prod', { env: 'staging' }), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          knp('dev', 'allow-db', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.2/32'] } }] }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[KubernetesNetworkPolicy/dev/allow-db] eg[]' },
          policies: ['KubernetesNetworkPolicy/dev/allow-db'], profiles: K8S_PROFILES,
        },
      },
    ],
  },
  {
    name: 'named ports become ip-and-port sets that follow container ports',
    states: [
      {
        name: 'http on one of two db pods',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }, { ports: [{ name: 'http', port: 8080 }] }),
          pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
          pod('dev', 'c', 'n2', '10.0.0.3', { app: 'db' }),
          gnp('to-http', { selector: 'app == "web"', egress: [{ action: 'Allow', protocol: 'TCP', destination: { selector: 'app == "db"', ports: ['http'] } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[] eg[GlobalNetworkPolicy/to-http]' },
          policies: ['GlobalNetworkPolicy/to-http'], profiles: K8S_PROFILES,
          ipSets: { 'app == "db"': ['10.0.0.2/32', '10.0.0.3/32'], 'app == "db" @http/tcp': ['10.0.0.2,tcp:8080'] },
        },
      },
      {
        name: 'the other db pod starts serving http on another port',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }, { ports: [{ name: 'http', port: 8080 }] }),
          pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
          pod('dev', 'c', 'n2', '10.0.0.3', { app: 'db' }, { ports: [{ name: 'http', port: 9090 }] }),
          gnp('to-http', { selector: 'app == "web"', egress: [{ action: 'Allow', protocol: 'TCP', destination: { selector: 'app == "db"', ports: ['http'] } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[] eg[GlobalNetworkPolicy/to-http]' },
          policies: ['GlobalNetworkPolicy/to-http'], profiles: K8S_PROFILES,
          ipSets: { 'app == "db"': ['10.0.0.2/32', '10.0.0.3/32'], 'app == "db" @http/tcp': ['10.0.0.2,tcp:8080', '10.0.0.3,tcp:9090'] },
        },
      },
      {
        name: 'the rule switches to a UDP named port: only the matching protocol counts',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }, { ports: [{ name: 'http', port: 8080 }] }),
          pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
          pod('dev', 'c', 'n2', '10.0.0.3', { app: 'db' }, { ports: [{ name: 'dns', port: 53 }] }),
          gnp('to-http', { selector: 'app == "web"', egress: [{ action: 'Allow', protocol: 'UDP', destination: { selector: 'app == "db"', ports: ['dns'] } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[] eg[GlobalNetworkPolicy/to-http]' },
          policies: ['GlobalNetworkPolicy/to-http'], profiles: K8S_PROFILES,
          ipSets: { 'app == "db"': ['10.0.0.2/32', '10.0.0.3/32'], 'app == "db" @dns/udp': ['10.0.0.2,udp:53'] },
        },
      },
    ],
  },
  {
    name: 'tiers: order, a missing tier sorts last, tier deletion',
    states: [
      {
        name: 'policy in a tier nobody created',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'),
          gnp('sec.p', { tier: 'sec', selector: 'all()', ingress: [{ action: 'Deny' }] }), gnp('base', { selector: 'all()', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/base] eg[] ; sec: in[GlobalNetworkPolicy/sec.p] eg[]' },
          policies: ['GlobalNetworkPolicy/base', 'GlobalNetworkPolicy/sec.p'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'the tier is created before default',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), tier('sec', 10),
          gnp('sec.p', { tier: 'sec', selector: 'all()', ingress: [{ action: 'Deny' }] }), gnp('base', { selector: 'all()', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'sec: in[GlobalNetworkPolicy/sec.p] eg[] ; default: in[GlobalNetworkPolicy/base] eg[]' },
          policies: ['GlobalNetworkPolicy/base', 'GlobalNetworkPolicy/sec.p'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'the tier is reordered after default',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), tier('sec', 2_000_000, 'Pass'),
          gnp('sec.p', { tier: 'sec', selector: 'all()', ingress: [{ action: 'Deny' }] }), gnp('base', { selector: 'all()', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/base] eg[] ; sec: in[GlobalNetworkPolicy/sec.p] eg[]' },
          policies: ['GlobalNetworkPolicy/base', 'GlobalNetworkPolicy/sec.p'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'the tier outlives its last policy',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), tier('sec', 2_000_000, 'Pass'), gnp('base', { selector: 'all()', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/base] eg[]' },
          policies: ['GlobalNetworkPolicy/base'], profiles: K8S_PROFILES,
        },
      },
    ],
  },
  {
    name: 'policy order inside a tier: order, then name; unordered last; types per direction',
    states: [
      {
        name: 'mixed orders',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'),
          gnp('b', { order: 10, selector: 'all()', ingress: [{ action: 'Log' }] }), gnp('a', { order: 10, selector: 'all()', ingress: [{ action: 'Log' }] }),
          gnp('c', { selector: 'all()', ingress: [{ action: 'Log' }] }), gnp('z', { order: 1, selector: 'all()', ingress: [{ action: 'Log' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/z,GlobalNetworkPolicy/a,GlobalNetworkPolicy/b,GlobalNetworkPolicy/c] eg[]' },
          policies: ['GlobalNetworkPolicy/a', 'GlobalNetworkPolicy/b', 'GlobalNetworkPolicy/c', 'GlobalNetworkPolicy/z'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'an order change moves one policy',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'),
          gnp('b', { order: 10, selector: 'all()', ingress: [{ action: 'Log' }] }), gnp('a', { order: 20, selector: 'all()', ingress: [{ action: 'Log' }] }),
          gnp('c', { selector: 'all()', ingress: [{ action: 'Log' }] }), gnp('z', { order: 1, selector: 'all()', ingress: [{ action: 'Log' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/z,GlobalNetworkPolicy/b,GlobalNetworkPolicy/a,GlobalNetworkPolicy/c] eg[]' },
          policies: ['GlobalNetworkPolicy/a', 'GlobalNetworkPolicy/b', 'GlobalNetworkPolicy/c', 'GlobalNetworkPolicy/z'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'a types change moves a policy to the egress list',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'),
          gnp('b', { order: 10, selector: 'all()', types: ['Egress'], egress: [{ action: 'Log' }] }), gnp('a', { order: 20, selector: 'all()', ingress: [{ action: 'Log' }] }),
          gnp('c', { selector: 'all()', ingress: [{ action: 'Log' }] }), gnp('z', { order: 1, selector: 'all()', ingress: [{ action: 'Log' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/z,GlobalNetworkPolicy/a,GlobalNetworkPolicy/c] eg[GlobalNetworkPolicy/b]' },
          policies: ['GlobalNetworkPolicy/a', 'GlobalNetworkPolicy/b', 'GlobalNetworkPolicy/c', 'GlobalNetworkPolicy/z'], profiles: K8S_PROFILES,
        },
      },
    ],
  },
  {
    name: 'staged policies: pending view with Set, Delete, Learn; staged-only tier',
    states: [
      {
        name: 'staged Set replaces the enforced policy in the pending view',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          np('dev', 'guard', { selector: 'app == "web"', ingress: [{ action: 'Deny' }] }),
          snp('dev', 'guard', { stagedAction: 'Set', selector: 'app == "web"', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/guard] eg[] || pending default: in[StagedNetworkPolicy/dev/guard] eg[]' },
          policies: ['NetworkPolicy/dev/guard', 'StagedNetworkPolicy/dev/guard'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'staged Delete removes it from the pending view',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          np('dev', 'guard', { selector: 'app == "web"', ingress: [{ action: 'Deny' }] }),
          snp('dev', 'guard', { stagedAction: 'Delete', selector: 'app == "web"', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/guard] eg[] || pending ' },
          policies: ['NetworkPolicy/dev/guard'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'staged Learn changes nothing',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          np('dev', 'guard', { selector: 'app == "web"', ingress: [{ action: 'Deny' }] }),
          snp('dev', 'guard', { stagedAction: 'Learn', selector: 'app == "web"', ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/guard] eg[]' },
          policies: ['NetworkPolicy/dev/guard'], profiles: K8S_PROFILES,
        },
      },
      {
        name: 'a staged-only tier is absent from the enforced view',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), tier('preview', 5),
          snp('dev', 'guard', { tier: 'preview', stagedAction: 'Set', selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': ' || pending preview: in[StagedNetworkPolicy/dev/guard] eg[]' },
          policies: ['StagedNetworkPolicy/dev/guard'], profiles: K8S_PROFILES,
          ipSets: { '(projectcalico.org/namespace == "dev" && app == "db")': [] },
        },
      },
    ],
  },
  {
    name: 'a WorkloadEndpoint takes over from its Pod; local interface routes',
    states: [
      {
        name: 'the Pod alone',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), gnp('self', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/self] eg[]' },
          policies: ['GlobalNetworkPolicy/self'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
        },
      },
      {
        name: 'its WorkloadEndpoint arrives',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), gnp('self', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          wep('dev', 'n1-k8s-a-eth0', 'n1', ['10.0.0.1/32'], { pod: 'a', iface: 'cali1', labels: { app: 'web' } })],
        expect: {
          endpoints: { 'wep:dev/n1-k8s-a-eth0': 'default: in[GlobalNetworkPolicy/self] eg[]' },
          policies: ['GlobalNetworkPolicy/self'], profiles: ['kns.dev'], ipSets: { 'app == "web"': ['10.0.0.1/32'] },
          routes: ['10.0.0.1/32 local-workload n1 cali1 none'],
        },
      },
      {
        name: 'the WorkloadEndpoint changes address and interface',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), gnp('self', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          wep('dev', 'n1-k8s-a-eth0', 'n1', ['10.0.0.9/32'], { pod: 'a', iface: 'cali9', labels: { app: 'web' } })],
        expect: {
          endpoints: { 'wep:dev/n1-k8s-a-eth0': 'default: in[GlobalNetworkPolicy/self] eg[]' },
          policies: ['GlobalNetworkPolicy/self'], profiles: ['kns.dev'], ipSets: { 'app == "web"': ['10.0.0.9/32'] },
          routes: ['10.0.0.9/32 local-workload n1 cali9 none'],
        },
      },
    ],
  },
  {
    name: 'host endpoints: normal, untracked, preDNAT and forward tiers; profiles',
    states: [
      {
        name: 'a normal host policy',
        resources: [hep('n1-eth0', 'n1', ['192.168.0.1'], { role: 'host' }), hep('n2-eth0', 'n2', ['192.168.0.2'], { role: 'host' }),
          gnp('host-normal', { selector: 'role == "host"', ingress: [{ action: 'Allow', source: { selector: 'role == "host"' } }] })],
        expect: {
          endpoints: { 'hep:n1-eth0': 'default: in[GlobalNetworkPolicy/host-normal] eg[]' },
          policies: ['GlobalNetworkPolicy/host-normal'], ipSets: { 'role == "host"': ['192.168.0.1/32', '192.168.0.2/32'] },
        },
      },
      {
        name: 'doNotTrack, preDNAT and applyOnForward policies land in their own lists',
        resources: [hep('n1-eth0', 'n1', ['192.168.0.1'], { role: 'host' }), hep('n2-eth0', 'n2', ['192.168.0.2'], { role: 'host' }),
          gnp('host-normal', { selector: 'role == "host"', ingress: [{ action: 'Allow', source: { selector: 'role == "host"' } }] }),
          gnp('raw', { selector: 'role == "host"', doNotTrack: true, applyOnForward: true, ingress: [{ action: 'Allow' }] }),
          gnp('pre', { selector: 'role == "host"', preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny', source: { nets: ['10.99.0.0/16'] } }] }),
          gnp('fwd', { selector: 'role == "host"', applyOnForward: true, ingress: [{ action: 'Allow' }] })],
        expect: {
          endpoints: {
            'hep:n1-eth0': 'default: in[GlobalNetworkPolicy/fwd,GlobalNetworkPolicy/host-normal] eg[] || untracked default: in[GlobalNetworkPolicy/raw] eg[] || preDNAT default: in[GlobalNetworkPolicy/pre] eg[] || forward default: in[GlobalNetworkPolicy/fwd] eg[]',
          },
          policies: ['GlobalNetworkPolicy/fwd', 'GlobalNetworkPolicy/host-normal', 'GlobalNetworkPolicy/pre', 'GlobalNetworkPolicy/raw'],
          ipSets: { 'role == "host"': ['192.168.0.1/32', '192.168.0.2/32'] },
        },
      },
      {
        name: 'the host endpoint gets the default-allow profile and a second address',
        resources: [hep('n1-eth0', 'n1', ['192.168.0.1', '192.168.9.1'], { role: 'host' }, ['projectcalico-default-allow']), hep('n2-eth0', 'n2', ['192.168.0.2'], { role: 'host' }),
          gnp('host-normal', { selector: 'role == "host"', ingress: [{ action: 'Allow', source: { selector: 'role == "host"' } }] })],
        expect: {
          endpoints: { 'hep:n1-eth0': 'default: in[GlobalNetworkPolicy/host-normal] eg[]' },
          policies: ['GlobalNetworkPolicy/host-normal'], profiles: ['projectcalico-default-allow'],
          ipSets: { 'role == "host"': ['192.168.0.1/32', '192.168.0.2/32', '192.168.9.1/32'] },
        },
      },
    ],
  },
  {
    name: 'network sets and global network sets as selector members',
    states: [
      {
        name: 'a namespaced and a global set match a cluster-wide selector',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          gnp('from-sets', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"' } }] }),
          netset('dev', 'partners', ['198.51.100.0/24'], { role: 'partner' }), gnetset('ext', ['203.0.113.0/24', '203.0.113.7/32'], { role: 'partner' })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/from-sets] eg[]' },
          policies: ['GlobalNetworkPolicy/from-sets'], profiles: K8S_PROFILES,
          ipSets: { 'role == "partner"': ['198.51.100.0/24', '203.0.113.0/24', '203.0.113.7/32'] },
        },
      },
      {
        name: 'a namespaced policy sees only its namespace\'s set',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          np('dev', 'partners-only', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"' } }] }),
          netset('dev', 'partners', ['198.51.100.0/24'], { role: 'partner' }), gnetset('ext', ['203.0.113.0/24', '203.0.113.7/32'], { role: 'partner' })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/partners-only] eg[]' },
          policies: ['NetworkPolicy/dev/partners-only'], profiles: K8S_PROFILES,
          ipSets: { '(projectcalico.org/namespace == "dev" && role == "partner")': ['198.51.100.0/24'] },
        },
      },
      {
        name: 'the network set\'s nets change',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          np('dev', 'partners-only', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"' } }] }),
          netset('dev', 'partners', ['198.51.100.0/25', '198.51.100.128/25'], { role: 'partner' }), gnetset('ext', ['203.0.113.0/24', '203.0.113.7/32'], { role: 'partner' })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/partners-only] eg[]' },
          policies: ['NetworkPolicy/dev/partners-only'], profiles: K8S_PROFILES,
          ipSets: { '(projectcalico.org/namespace == "dev" && role == "partner")': ['198.51.100.0/25', '198.51.100.128/25'] },
        },
      },
      {
        name: 'global() in a namespaceSelector: only non-namespaced sets',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
          gnp('global-only', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"', namespaceSelector: 'global()' } }] }),
          netset('dev', 'partners', ['198.51.100.0/25', '198.51.100.128/25'], { role: 'partner' }), gnetset('ext', ['203.0.113.0/24', '203.0.113.7/32'], { role: 'partner' })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/global-only] eg[]' },
          policies: ['GlobalNetworkPolicy/global-only'], profiles: K8S_PROFILES,
          ipSets: { '(!has(projectcalico.org/namespace) && role == "partner")': ['203.0.113.0/24', '203.0.113.7/32'] },
        },
      },
    ],
  },
  {
    name: 'profiles: a missing profile, then a stored one with rules and labelsToApply',
    states: [
      {
        name: 'the endpoint names a profile nobody stored',
        resources: [wep('dev', 'w1', 'n1', ['10.0.2.1/32'], { iface: 'cali-w1', profiles: ['locked'] })],
        expect: { endpoints: { 'wep:dev/w1': '' }, profiles: ['locked'], routes: ['10.0.2.1/32 local-workload n1 cali-w1 none'] },
      },
      {
        name: 'the profile arrives; its labels make a policy apply',
        resources: [wep('dev', 'w1', 'n1', ['10.0.2.1/32'], { iface: 'cali-w1', profiles: ['locked'] }),
          profile('locked', { ingress: [{ action: 'Allow', source: { selector: 'trusted == "yes"' } }], labelsToApply: { locked: 'yes' } }),
          gnp('lock-check', { selector: 'locked == "yes"', types: ['Egress'], egress: [{ action: 'Deny' }] })],
        expect: {
          endpoints: { 'wep:dev/w1': 'default: in[] eg[GlobalNetworkPolicy/lock-check]' },
          policies: ['GlobalNetworkPolicy/lock-check'], profiles: ['locked'], ipSets: { 'trusted == "yes"': [] },
          routes: ['10.0.2.1/32 local-workload n1 cali-w1 none'],
        },
      },
      {
        name: 'the profile stops applying its label',
        resources: [wep('dev', 'w1', 'n1', ['10.0.2.1/32'], { iface: 'cali-w1', profiles: ['locked'] }),
          profile('locked', { ingress: [{ action: 'Allow', source: { selector: 'trusted == "yes"' } }] }),
          gnp('lock-check', { selector: 'locked == "yes"', types: ['Egress'], egress: [{ action: 'Deny' }] })],
        expect: {
          endpoints: { 'wep:dev/w1': '' }, profiles: ['locked'], ipSets: { 'trusted == "yes"': [] },
          routes: ['10.0.2.1/32 local-workload n1 cali-w1 none'],
        },
      },
    ],
  },
  {
    name: 'service accounts: names, labels through pcsa., label changes',
    states: [
      {
        name: 'serviceAccounts.names',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { sa: 'api' }),
          gnp('sa-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { serviceAccounts: { names: ['api'] } } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/sa-in] eg[]' },
          policies: ['GlobalNetworkPolicy/sa-in'], profiles: K8S_PROFILES,
          ipSets: { 'projectcalico.org/serviceaccount in {"api"}': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'serviceAccounts.selector over the account\'s labels',
        resources: [DEV, sa('dev', 'api', { team: 'data' }), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { sa: 'api' }),
          gnp('sa-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { serviceAccounts: { selector: 'team == "data"' } } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/sa-in] eg[]' },
          policies: ['GlobalNetworkPolicy/sa-in'], profiles: K8S_PROFILES,
          ipSets: { 'pcsa.team == "data"': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'the account\'s label changes',
        resources: [DEV, sa('dev', 'api', { team: 'ops' }), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }, { sa: 'api' }),
          gnp('sa-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { serviceAccounts: { selector: 'team == "data"' } } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/sa-in] eg[]' },
          policies: ['GlobalNetworkPolicy/sa-in'], profiles: K8S_PROFILES,
          ipSets: { 'pcsa.team == "data"': [] },
        },
      },
    ],
  },
  {
    name: 'routes: blocks of one remote node, borrowed addresses, VXLAN Always and CrossSubnet',
    states: [
      {
        name: 'a remote block held by one node is one route',
        resources: [pool('p1', '10.10.0.0/16'), node('n1', '192.168.0.1'), node('n2', '192.168.0.2'),
          wep('dev', 'w1', 'n1', ['10.10.0.1/32'], { iface: 'cali1' }), wep('dev', 'w2', 'n2', ['10.10.0.65/32'], { iface: 'cali2' }), wep('dev', 'w3', 'n2', ['10.10.0.66/32'], { iface: 'cali3' })],
        expect: {
          endpoints: { 'wep:dev/w1': '' },
          routes: ['10.10.0.1/32 local-workload n1 cali1 none', '10.10.0.64/26 remote-block n2 192.168.0.2 none'],
        },
      },
      {
        name: 'another node borrows an address from the block: per-address routes',
        resources: [pool('p1', '10.10.0.0/16'), node('n1', '192.168.0.1'), node('n2', '192.168.0.2'), node('n3', '192.168.1.3'),
          wep('dev', 'w1', 'n1', ['10.10.0.1/32'], { iface: 'cali1' }), wep('dev', 'w2', 'n2', ['10.10.0.65/32'], { iface: 'cali2' }), wep('dev', 'w3', 'n2', ['10.10.0.66/32'], { iface: 'cali3' }),
          wep('dev', 'w4', 'n3', ['10.10.0.70/32'], { iface: 'cali4' })],
        expect: {
          endpoints: { 'wep:dev/w1': '' },
          routes: ['10.10.0.1/32 local-workload n1 cali1 none', '10.10.0.65/32 remote-workload n2 192.168.0.2 none',
            '10.10.0.66/32 remote-workload n2 192.168.0.2 none', '10.10.0.70/32 remote-workload n3 192.168.1.3 none'],
        },
      },
      {
        name: 'VXLAN Always: via tunnel addresses, with VTEPs',
        resources: [pool('p1', '10.10.0.0/16', { vxlanMode: 'Always' }),
          node('n1', '192.168.0.1', { vxlan: '10.10.255.1', mac: 'ee:ee:ee:00:00:01' }), node('n2', '192.168.0.2', { vxlan: '10.10.255.2', mac: 'ee:ee:ee:00:00:02' }),
          node('n3', '192.168.1.3', { vxlan: '10.10.255.3', mac: 'ee:ee:ee:00:00:03' }),
          wep('dev', 'w1', 'n1', ['10.10.0.1/32'], { iface: 'cali1' }), wep('dev', 'w2', 'n2', ['10.10.0.65/32'], { iface: 'cali2' }), wep('dev', 'w3', 'n2', ['10.10.0.66/32'], { iface: 'cali3' }),
          wep('dev', 'w4', 'n3', ['10.10.0.70/32'], { iface: 'cali4' })],
        expect: {
          endpoints: { 'wep:dev/w1': '' },
          routes: ['10.10.0.1/32 local-workload n1 cali1 none', '10.10.0.65/32 remote-workload n2 10.10.255.2 vxlan',
            '10.10.0.66/32 remote-workload n2 10.10.255.2 vxlan', '10.10.0.70/32 remote-workload n3 10.10.255.3 vxlan'],
          vteps: ['n1 192.168.0.1 10.10.255.1 ee:ee:ee:00:00:01', 'n2 192.168.0.2 10.10.255.2 ee:ee:ee:00:00:02', 'n3 192.168.1.3 10.10.255.3 ee:ee:ee:00:00:03'],
        },
      },
      {
        name: 'VXLAN CrossSubnet: only the node in another subnet is tunnelled',
        resources: [pool('p1', '10.10.0.0/16', { vxlanMode: 'CrossSubnet' }),
          node('n1', '192.168.0.1', { vxlan: '10.10.255.1', mac: 'ee:ee:ee:00:00:01' }), node('n2', '192.168.0.2', { vxlan: '10.10.255.2', mac: 'ee:ee:ee:00:00:02' }),
          node('n3', '192.168.1.3', { vxlan: '10.10.255.3', mac: 'ee:ee:ee:00:00:03' }),
          wep('dev', 'w1', 'n1', ['10.10.0.1/32'], { iface: 'cali1' }), wep('dev', 'w2', 'n2', ['10.10.0.65/32'], { iface: 'cali2' }), wep('dev', 'w3', 'n2', ['10.10.0.66/32'], { iface: 'cali3' }),
          wep('dev', 'w4', 'n3', ['10.10.0.70/32'], { iface: 'cali4' })],
        expect: {
          endpoints: { 'wep:dev/w1': '' },
          routes: ['10.10.0.1/32 local-workload n1 cali1 none', '10.10.0.65/32 remote-workload n2 192.168.0.2 none',
            '10.10.0.66/32 remote-workload n2 192.168.0.2 none', '10.10.0.70/32 remote-workload n3 10.10.255.3 vxlan'],
          vteps: ['n1 192.168.0.1 10.10.255.1 ee:ee:ee:00:00:01', 'n2 192.168.0.2 10.10.255.2 ee:ee:ee:00:00:02', 'n3 192.168.1.3 10.10.255.3 ee:ee:ee:00:00:03'],
        },
      },
    ],
  },
  {
    name: 'duplicate addresses across endpoints are counted, not lost',
    states: [
      {
        name: 'two pods share an address',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.1', { app: 'web' }),
          gnp('web', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
        },
      },
      {
        name: 'one of them leaves the set, the address stays',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.1', { app: 'db' }),
          gnp('web', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
        },
      },
      {
        name: 'they swap labels',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'db' }), pod('dev', 'b', 'n2', '10.0.0.1', { app: 'web' }),
          gnp('web', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
        },
      },
      {
        name: 'two local interfaces claim one address: one route, the first endpoint\'s interface',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'db' }), pod('dev', 'b', 'n2', '10.0.0.1', { app: 'web' }),
          gnp('web', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] }),
          wep('dev', 'w2', 'n1', ['10.0.9.9/32'], { iface: 'cali2' }), wep('dev', 'w1', 'n1', ['10.0.9.9/32'], { iface: 'cali1' })],
        expect: {
          endpoints: {
            'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]',
            'wep:dev/w1': 'default: in[GlobalNetworkPolicy/web] eg[]', 'wep:dev/w2': 'default: in[GlobalNetworkPolicy/web] eg[]',
          },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
          routes: ['10.0.9.9/32 local-workload n1 cali1 none'],
        },
      },
    ],
  },
  {
    name: 'bad input the validator let through: no labels, unparsable selector, missing namespace',
    states: [
      {
        name: 'a pod with no labels at all',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), gnp('all-in', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "x"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/all-in] eg[]' },
          policies: ['GlobalNetworkPolicy/all-in'], profiles: K8S_PROFILES, ipSets: { 'app == "x"': [] },
        },
      },
      {
        name: 'a policy whose selector does not parse is treated as absent',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), gnp('all-in', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "x"' } }] }),
          gnp('broken', { selector: 'app ==', ingress: [{ action: 'Deny' }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/all-in] eg[]' },
          policies: ['GlobalNetworkPolicy/all-in'], profiles: K8S_PROFILES, ipSets: { 'app == "x"': [] },
        },
      },
      {
        name: 'a rule that selects a namespace that does not exist',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), gnp('all-in', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "x"' } }] }),
          gnp('broken', { selector: 'app ==', ingress: [{ action: 'Deny' }] }),
          gnp('ghost-ns', { selector: 'all()', ingress: [{ action: 'Allow', source: { namespaceSelector: 'projectcalico.org/name == "ghost"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/all-in,GlobalNetworkPolicy/ghost-ns] eg[]' },
          policies: ['GlobalNetworkPolicy/all-in', 'GlobalNetworkPolicy/ghost-ns'], profiles: K8S_PROFILES,
          ipSets: { 'app == "x"': [], 'pcns.projectcalico.org/name == "ghost"': [] },
        },
      },
      {
        name: 'a pod appears in that namespace before the Namespace object does',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1'), pod('ghost', 'g', 'n2', '10.0.5.5'),
          gnp('all-in', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: 'app == "x"' } }] }),
          gnp('broken', { selector: 'app ==', ingress: [{ action: 'Deny' }] }),
          gnp('ghost-ns', { selector: 'all()', ingress: [{ action: 'Allow', source: { namespaceSelector: 'projectcalico.org/name == "ghost"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/all-in,GlobalNetworkPolicy/ghost-ns] eg[]' },
          policies: ['GlobalNetworkPolicy/all-in', 'GlobalNetworkPolicy/ghost-ns'], profiles: K8S_PROFILES,
          ipSets: { 'app == "x"': [], 'pcns.projectcalico.org/name == "ghost"': ['10.0.5.5/32'] },
        },
      },
    ],
  },
  {
    name: 'AssumeNeededOnEveryNode keeps a policy active without local matches',
    states: [
      {
        name: 'hinted policy, no local endpoint',
        resources: [DEV, pod('dev', 'a', 'n2', '10.0.0.1', { app: 'web' }),
          gnp('everywhere', { performanceHints: ['AssumeNeededOnEveryNode'], selector: 'app == "none"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: { policies: ['GlobalNetworkPolicy/everywhere'], ipSets: { 'app == "web"': ['10.0.0.1/32'] } },
      },
      {
        name: 'hint removed',
        resources: [DEV, pod('dev', 'a', 'n2', '10.0.0.1', { app: 'web' }),
          gnp('everywhere', { selector: 'app == "none"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {},
      },
    ],
  },
  {
    name: 'one IP set per distinct selector, shared by selector and notSelector uses',
    states: [
      {
        name: 'two policies, one selector',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('p1', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] }),
          gnp('p2', { selector: 'app == "web"', ingress: [{ action: 'Deny', source: { notSelector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/p1,GlobalNetworkPolicy/p2] eg[]' },
          policies: ['GlobalNetworkPolicy/p1', 'GlobalNetworkPolicy/p2'], profiles: K8S_PROFILES, ipSets: { 'app == "db"': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'one user goes, the set stays',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('p2', { selector: 'app == "web"', ingress: [{ action: 'Deny', source: { notSelector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/p2] eg[]' },
          policies: ['GlobalNetworkPolicy/p2'], profiles: K8S_PROFILES, ipSets: { 'app == "db"': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'the last user changes selector: the old set goes, a new one comes',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('p2', { selector: 'app == "web"', ingress: [{ action: 'Deny', source: { notSelector: 'app == "cache"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/p2] eg[]' },
          policies: ['GlobalNetworkPolicy/p2'], profiles: K8S_PROFILES, ipSets: { 'app == "cache"': [] },
        },
      },
    ],
  },
  {
    name: 'namespace labels drive GlobalNetworkPolicy namespaceSelector and rule namespaceSelector',
    states: [
      {
        name: 'dev selected, prod peers in the set',
        resources: [DEV, PROD, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          gnp('ns-scoped', { selector: 'all()', namespaceSelector: 'env == "dev"', ingress: [{ action: 'Allow', source: { namespaceSelector: 'env == "prod"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/ns-scoped] eg[]' },
          policies: ['GlobalNetworkPolicy/ns-scoped'], profiles: K8S_PROFILES, ipSets: { 'pcns.env == "prod"': ['10.0.1.3/32'] },
        },
      },
      {
        name: 'dev relabelled: the policy no longer applies here',
        resources: [ns('dev', { env: 'qa' }), PROD, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          gnp('ns-scoped', { selector: 'all()', namespaceSelector: 'env == "dev"', ingress: [{ action: 'Allow', source: { namespaceSelector: 'env == "prod"' } }] })],
        expect: { endpoints: { 'pod:dev/a': '' }, profiles: K8S_PROFILES },
      },
      {
        name: 'dev back, prod relabelled: the peer set empties',
        resources: [DEV, ns('prod', { env: 'staging' }), pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('prod', 'c', 'n2', '10.0.1.3', { app: 'db' }),
          gnp('ns-scoped', { selector: 'all()', namespaceSelector: 'env == "dev"', ingress: [{ action: 'Allow', source: { namespaceSelector: 'env == "prod"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/ns-scoped] eg[]' },
          policies: ['GlobalNetworkPolicy/ns-scoped'], profiles: K8S_PROFILES, ipSets: { 'pcns.env == "prod"': [] },
        },
      },
    ],
  },
  {
    name: 'egress and ingress types of a namespaced policy',
    states: [
      {
        name: 'egress only',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          np('dev', 'eg', { selector: 'all()', types: ['Egress'], egress: [{ action: 'Allow', destination: { nets: ['10.0.0.0/8'] } }] })],
        expect: { endpoints: { 'pod:dev/a': 'default: in[] eg[NetworkPolicy/dev/eg]' }, policies: ['NetworkPolicy/dev/eg'], profiles: K8S_PROFILES },
      },
      {
        name: 'both directions',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          np('dev', 'eg', { selector: 'all()', types: ['Ingress', 'Egress'], egress: [{ action: 'Allow', destination: { nets: ['10.0.0.0/8'] } }] })],
        expect: { endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/eg] eg[NetworkPolicy/dev/eg]' }, policies: ['NetworkPolicy/dev/eg'], profiles: K8S_PROFILES },
      },
      {
        name: 'an egress rule with a selector scoped to the namespace',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          np('dev', 'eg', { selector: 'all()', types: ['Ingress', 'Egress'], egress: [{ action: 'Allow', destination: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[NetworkPolicy/dev/eg] eg[NetworkPolicy/dev/eg]' }, policies: ['NetworkPolicy/dev/eg'], profiles: K8S_PROFILES,
          ipSets: { '(projectcalico.org/namespace == "dev" && app == "db")': ['10.0.0.2/32'] },
        },
      },
    ],
  },
  {
    name: 'pods without addresses, then with one, then dual-stack',
    states: [
      {
        name: 'no addresses yet',
        resources: [DEV, pod('dev', 'a', 'n1', undefined, { app: 'web' }), pod('dev', 'b', 'n2', undefined, { app: 'db' }),
          gnp('web', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "db"': [] },
        },
      },
      {
        name: 'the peer gets an address',
        resources: [DEV, pod('dev', 'a', 'n1', undefined, { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('web', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "db"': ['10.0.0.2/32'] },
        },
      },
      {
        name: 'the peer becomes dual-stack',
        resources: [DEV, pod('dev', 'a', 'n1', undefined, { app: 'web' }), pod('dev', 'b', 'n2', undefined, { app: 'db' }, { ips: ['10.0.0.2', 'fd00::2'] }),
          gnp('web', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/web] eg[]' },
          policies: ['GlobalNetworkPolicy/web'], profiles: K8S_PROFILES, ipSets: { 'app == "db"': ['10.0.0.2/32', 'fd00::2/128'] },
        },
      },
    ],
  },
  {
    name: 'hostname "*": every endpoint is local (whole-cluster simulation)',
    hostname: '*',
    states: [
      {
        name: 'both pods are endpoints',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
          gnp('db-in', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': '', 'pod:dev/b': 'default: in[GlobalNetworkPolicy/db-in] eg[]' },
          policies: ['GlobalNetworkPolicy/db-in'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.1/32'] },
        },
      },
      {
        name: 'labels swap: the policy moves to the other pod',
        resources: [DEV, pod('dev', 'a', 'n1', '10.0.0.1', { app: 'db' }), pod('dev', 'b', 'n2', '10.0.0.2', { app: 'web' }),
          gnp('db-in', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] })],
        expect: {
          endpoints: { 'pod:dev/a': 'default: in[GlobalNetworkPolicy/db-in] eg[]', 'pod:dev/b': '' },
          policies: ['GlobalNetworkPolicy/db-in'], profiles: K8S_PROFILES, ipSets: { 'app == "web"': ['10.0.0.2/32'] },
        },
      },
    ],
  },
];

for (const seq of SEQUENCES) {
  describe(`calc graph: ${seq.name}`, () => {
    for (const mode of REPLAY_MODES) {
      test(`${mode}`, () => replay(seq.states, mode, seq.hostname ?? 'n1'));
    }
  });
}

