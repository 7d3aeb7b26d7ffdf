// Bad-input table for validate.ts (through parseManifests, as users meet it): every case names the exact
// field path and a recognisable part of the one-line message. Good inputs live in manifest.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { ManifestError, validateResource } from './validate.ts';
import { parseManifests } from './manifest.ts';

const calico = 'projectcalico.org/v3';

function pool(spec: Record<string, unknown>, name = 'p1'): Record<string, unknown> {
  return { apiVersion: calico, kind: 'IPPool', metadata: { name }, spec };
}
function gnp(spec: Record<string, unknown>, name = 'gnp1'): Record<string, unknown> {
  return { apiVersion: calico, kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}
function np(spec: Record<string, unknown>, name = 'np1'): Record<string, unknown> {
  return { apiVersion: calico, kind: 'NetworkPolicy', metadata: { name, namespace: 'prod' }, spec };
}
function knp(spec: Record<string, unknown>, name = 'knp1'): Record<string, unknown> {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'prod' }, spec };
}
const ingress = (rule: Record<string, unknown>): Record<string, unknown> => gnp({ selector: 'all()', ingress: [rule] });

interface BadCase {
  name: string;
  /** A manifest object (encoded as the only document) or raw text. */
  input: Record<string, unknown> | string;
  path: string;
  message: RegExp;
  column?: number;
}

const BAD: BadCase[] = [
  { name: 'unknown kind suggests a close match', input: { apiVersion: calico, kind: 'GlobalNetworkPolcy', metadata: { name: 'x' } }, path: 'kind', message: /document 1: kind: unknown kind "GlobalNetworkPolcy" \(did you mean GlobalNetworkPolicy\?\)/ },
  { name: 'unknown kind with nothing close lists the kinds', input: { apiVersion: calico, kind: 'Zebra', metadata: { name: 'x' } }, path: 'kind', message: /unknown kind "Zebra" \(brindle stores IPPool, .*NetworkPolicy/ },
  { name: 'missing kind', input: { apiVersion: calico, metadata: { name: 'x' } }, path: 'kind', message: /kind: required$/ },
  { name: 'bad apiVersion for a known kind', input: { apiVersion: 'projectcalico.org/v2', kind: 'IPPool', metadata: { name: 'x' }, spec: { cidr: '10.0.0.0/16' } }, path: 'apiVersion', message: /kind IPPool is not served under apiVersion "projectcalico\.org\/v2" \(expected brindle\.io\/v1 or projectcalico\.org\/v3\)/ },
  { name: 'k8s kind under a Calico apiVersion', input: { apiVersion: calico, kind: 'Pod', metadata: { name: 'x' } }, path: 'apiVersion', message: /kind Pod is not served under apiVersion "projectcalico\.org\/v3" \(expected v1\)/ },
  { name: 'missing metadata.name', input: { apiVersion: calico, kind: 'IPPool', metadata: {}, spec: { cidr: '10.0.0.0/16' } }, path: 'metadata.name', message: /IPPool: metadata\.name: required$/ },
  { name: 'missing metadata', input: { apiVersion: calico, kind: 'Tier' }, path: 'metadata', message: /required/ },
  { name: 'bad name characters', input: pool({ cidr: '10.0.0.0/16' }, 'My_Pool'), path: 'metadata.name', message: /name "My_Pool" is invalid/ },
  { name: 'namespace on a cluster-scoped kind', input: { apiVersion: calico, kind: 'IPPool', metadata: { name: 'p', namespace: 'default' }, spec: { cidr: '10.0.0.0/16' } }, path: 'metadata.namespace', message: /IPPool is cluster-scoped and takes no namespace/ },
  { name: 'bad namespace name', input: { ...np({}), metadata: { name: 'a', namespace: 'Bad_NS' } }, path: 'metadata.namespace', message: /namespace "Bad_NS" is invalid/ },
  { name: 'bad label key', input: { ...gnp({}), metadata: { name: 'a', labels: { 'a b': 'x' } } }, path: 'metadata.labels["a b"]', message: /label key "a b" is invalid/ },
  { name: 'bad label value', input: { ...gnp({}), metadata: { name: 'a', labels: { app: 'has space' } } }, path: 'metadata.labels["app"]', message: /label value "has space" is invalid/ },
  { name: 'bad CIDR', input: pool({ cidr: '10.0.0.0/33' }), path: 'spec.cidr', message: /"10\.0\.0\.0\/33" is not a valid CIDR/ },
  { name: 'pool CIDR without prefix', input: pool({ cidr: '10.0.0.0' }), path: 'spec.cidr', message: /add the prefix length/ },
  { name: 'pool not strictly masked', input: pool({ cidr: '10.0.0.1/16' }), path: 'spec.cidr', message: /"10\.0\.0\.1\/16" has host bits set \(did you mean "10\.0\.0\.0\/16"\?\)/ },
  { name: 'link-local pool', input: pool({ cidr: '169.254.0.0/16' }), path: 'spec.cidr', message: /overlaps the link-local range 169\.254\.0\.0\/16/ },
  { name: 'IPv6 link-local pool', input: pool({ cidr: 'fe80::/64' }), path: 'spec.cidr', message: /link-local range fe80::\/10/ },
  { name: 'blockSize out of range (v4)', input: pool({ cidr: '10.0.0.0/16', blockSize: 19 }), path: 'spec.blockSize', message: /19 is out of range for an IPv4 pool \(20–32\)/ },
  { name: 'blockSize out of range (v6)', input: pool({ cidr: 'fd00::/64', blockSize: 26 }), path: 'spec.blockSize', message: /26 is out of range for an IPv6 pool \(116–128\)/ },
  { name: 'pool smaller than its block', input: pool({ cidr: '10.0.0.0/24', blockSize: 22 }), path: 'spec.blockSize', message: /block size \/22 is larger than the pool/ },
  { name: 'pool smaller than the default block', input: pool({ cidr: '10.0.0.0/28' }), path: 'spec.cidr', message: /smaller than the default block size \/26/ },
  { name: 'IPIP and VXLAN together', input: pool({ cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'CrossSubnet' }), path: 'spec.vxlanMode', message: /IPIP and VXLAN cannot both be enabled/ },
  { name: 'IPIP on an IPv6 pool', input: pool({ cidr: 'fd00::/64', ipipMode: 'Always' }), path: 'spec.ipipMode', message: /IPIP is IPv4-only/ },
  { name: 'bad vxlanMode value', input: pool({ cidr: '10.0.0.0/16', vxlanMode: 'always' }), path: 'spec.vxlanMode', message: /unknown vxlanMode "always" \(expected Never, Always or CrossSubnet\)/ },
  { name: 'global() in a pool nodeSelector', input: pool({ cidr: '10.0.0.0/16', nodeSelector: 'global()' }), path: 'spec.nodeSelector', message: /global\(\) is only allowed in a rule's namespaceSelector/ },
  { name: 'LoadBalancer mixed with Workload', input: pool({ cidr: '10.0.0.0/16', allowedUses: ['Workload', 'LoadBalancer'] }), path: 'spec.allowedUses', message: /LoadBalancer cannot be combined/ },
  { name: 'bad selector reports the column', input: gnp({ selector: "role == 'db' &&" }), path: 'spec.selector', message: /invalid selector "role == 'db' &&": .* at column 16$/, column: 16 },
  { name: 'global() in a policy selector', input: gnp({ selector: 'global()' }), path: 'spec.selector', message: /global\(\) is only allowed in a rule's namespaceSelector/ },
  { name: 'global() in a rule selector', input: ingress({ action: 'Allow', source: { selector: 'global()' } }), path: 'spec.ingress[0].source.selector', message: /global\(\) is only allowed/ },
  { name: 'unknown action', input: ingress({ action: 'Alow' }), path: 'spec.ingress[0].action', message: /unknown action "Alow" \(expected Allow, Deny, Log or Pass\)/ },
  { name: 'missing action', input: ingress({ protocol: 'TCP' }), path: 'spec.ingress[0].action', message: /required/ },
  { name: 'port range reversed', input: ingress({ action: 'Allow', protocol: 'TCP', destination: { ports: ['90:80'] } }), path: 'spec.ingress[0].destination.ports[0]', message: /port range "90:80" is reversed/ },
  { name: 'port 0', input: ingress({ action: 'Allow', protocol: 'TCP', destination: { ports: [0] } }), path: 'spec.ingress[0].destination.ports[0]', message: /0 is out of range \(a port 1–65535\)/ },
  { name: 'port 70000', input: ingress({ action: 'Allow', protocol: 'UDP', destination: { ports: [70000] } }), path: 'spec.ingress[0].destination.ports[0]', message: /70000 is out of range/ },
  { name: 'port range beyond 65535', input: ingress({ action: 'Allow', protocol: 'UDP', source: { notPorts: ['1000:70000'] } }), path: 'spec.ingress[0].source.notPorts[0]', message: /port range "1000:70000" is out of range/ },
  { name: 'ports without protocol', input: ingress({ action: 'Allow', destination: { ports: [80] } }), path: 'spec.ingress[0].destination.ports', message: /ports need protocol TCP, UDP or SCTP \(protocol is not set\)/ },
  { name: 'ports with ICMP', input: ingress({ action: 'Allow', protocol: 'ICMP', destination: { ports: [80] } }), path: 'spec.ingress[0].destination.ports', message: /\(protocol is "ICMP"\)/ },
  { name: 'too many ports', input: ingress({ action: 'Allow', protocol: 'TCP', destination: { ports: Array.from({ length: 51 }, (_, i) => i + 1) } }), path: 'spec.ingress[0].destination.ports', message: /too many ports: 51 \(at most 50\)/ },
  { name: 'unknown protocol', input: ingress({ action: 'Allow', protocol: 'TPC' }), path: 'spec.ingress[0].protocol', message: /unknown protocol "TPC"/ },
  { name: 'protocol number 0', input: ingress({ action: 'Allow', protocol: 0 }), path: 'spec.ingress[0].protocol', message: /out of range \(a protocol number 1–255\)/ },
  { name: 'icmp code without type', input: ingress({ action: 'Allow', protocol: 'ICMP', icmp: { code: 3 } }), path: 'spec.ingress[0].icmp.code', message: /an ICMP code needs an ICMP type/ },
  { name: 'icmp type 255', input: ingress({ action: 'Allow', protocol: 'ICMP', icmp: { type: 255 } }), path: 'spec.ingress[0].icmp.type', message: /255 is out of range \(an ICMP type 0–254\)/ },
  { name: 'icmp with TCP', input: ingress({ action: 'Allow', protocol: 'TCP', icmp: { type: 8 } }), path: 'spec.ingress[0].icmp', message: /icmp needs protocol ICMP or ICMPv6 \(protocol is "TCP"\)/ },
  { name: 'ICMP with ipVersion 6', input: ingress({ action: 'Allow', protocol: 'ICMP', ipVersion: 6 }), path: 'spec.ingress[0].protocol', message: /IPv4-only but ipVersion is 6/ },
  { name: 'ICMPv6 with ipVersion 4', input: ingress({ action: 'Allow', protocol: 'ICMPv6', ipVersion: 4 }), path: 'spec.ingress[0].protocol', message: /IPv6-only but ipVersion is 4/ },
  { name: 'net family differs from ipVersion', input: ingress({ action: 'Allow', ipVersion: 4, source: { nets: ['10.0.0.0/8', 'fd00::/64'] } }), path: 'spec.ingress[0].source.nets[1]', message: /"fd00::\/64" is an IPv6 network but the rule has ipVersion 4/ },
  { name: 'bad net', input: ingress({ action: 'Deny', source: { nets: ['10.0.0.0/8', 'ten'] } }), path: 'spec.ingress[0].source.nets[1]', message: /"ten" is not a valid IP address or CIDR/ },
  { name: 'too many nets', input: ingress({ action: 'Deny', source: { nets: Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) } }), path: 'spec.ingress[0].source.nets', message: /too many nets: 257 \(at most 256\)/ },
  { name: 'unknown field typo', input: gnp({ selectr: 'all()' }), path: 'spec.selectr', message: /unknown field "selectr" \(did you mean "selector"\?\)/ },
  { name: 'unknown top-level field', input: { ...gnp({}), specs: {} }, path: 'specs', message: /unknown field "specs" \(did you mean "spec"\?\)/ },
  { name: 'GNP-only field on a NetworkPolicy', input: np({ namespaceSelector: 'all()' }), path: 'spec.namespaceSelector', message: /only GlobalNetworkPolicy has this field/ },
  { name: 'NetworkPolicy selector with global()', input: np({ selector: 'global()' }), path: 'spec.selector', message: /global\(\) is only allowed/ },
  { name: 'preDNAT without applyOnForward', input: gnp({ preDNAT: true }), path: 'spec.applyOnForward', message: /must be true when preDNAT is true/ },
  { name: 'preDNAT and doNotTrack', input: gnp({ preDNAT: true, doNotTrack: true, applyOnForward: true }), path: 'spec.preDNAT', message: /cannot both be true/ },
  { name: 'preDNAT with egress rules', input: gnp({ preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }), path: 'spec.egress', message: /preDNAT policy cannot have egress rules/ },
  { name: 'duplicate policy type', input: gnp({ types: ['Ingress', 'Ingress'] }), path: 'spec.types[1]', message: /duplicate of spec\.types\[0\]/ },
  { name: 'order not a number', input: gnp({ order: 'first' }), path: 'spec.order', message: /expected a finite number, got string "first"/ },
  { name: 'too many rules', input: gnp({ ingress: Array.from({ length: 1025 }, () => ({ action: 'Allow' })) }), path: 'spec.ingress', message: /too many rules: 1025 \(at most 1024\)/ },
  { name: 'bad tier name', input: gnp({ tier: 'Net.Sec' }), path: 'spec.tier', message: /tier name "Net\.Sec" is invalid/ },
  { name: 'stagedAction on an enforced policy', input: gnp({ stagedAction: 'Set' }), path: 'spec.stagedAction', message: /only staged policy kinds/ },
  { name: 'bad stagedAction', input: { apiVersion: calico, kind: 'StagedNetworkPolicy', metadata: { name: 's', namespace: 'a' }, spec: { stagedAction: 'Remove' } }, path: 'spec.stagedAction', message: /unknown staged action "Remove"/ },
  { name: 'http on a Deny rule', input: ingress({ action: 'Deny', http: { methods: ['GET'] } }), path: 'spec.ingress[0].http', message: /only allowed on Allow rules/ },
  { name: 'services mixed with selector', input: gnp({ egress: [{ action: 'Allow', destination: { services: { name: 'kube-dns', namespace: 'kube-system' }, selector: 'all()' } }] }), path: 'spec.egress[0].destination.services', message: /cannot be combined with selector/ },
  { name: 'bad tier defaultAction', input: { apiVersion: calico, kind: 'Tier', metadata: { name: 'security' }, spec: { defaultAction: 'Allow' } }, path: 'spec.defaultAction', message: /unknown default action "Allow" \(expected Deny or Pass\)/ },
  { name: 'built-in tier order is fixed', input: { apiVersion: calico, kind: 'Tier', metadata: { name: 'default' }, spec: { order: 5 } }, path: 'spec.order', message: /fixed order 1000000/ },
  { name: 'bad NetworkSet net', input: { apiVersion: calico, kind: 'GlobalNetworkSet', metadata: { name: 'g' }, spec: { nets: ['1.2.3.4/40'] } }, path: 'spec.nets[0]', message: /not a valid IP address or CIDR/ },
  { name: 'HEP without interfaceName or expectedIPs', input: { apiVersion: calico, kind: 'HostEndpoint', metadata: { name: 'h' }, spec: { node: 'n1' } }, path: 'spec', message: /give interfaceName or expectedIPs/ },
  { name: 'HEP bad expected IP', input: { apiVersion: calico, kind: 'HostEndpoint', metadata: { name: 'h' }, spec: { node: 'n1', expectedIPs: ['10.0.0.1/32'] } }, path: 'spec.expectedIPs[0]', message: /"10\.0\.0\.1\/32" is not a valid IP address/ },
  { name: 'WEP ipNAT outside ipNetworks', input: { apiVersion: calico, kind: 'WorkloadEndpoint', metadata: { name: 'w', namespace: 'a' }, spec: { node: 'n1', ipNetworks: ['10.0.0.1/32'], ipNATs: [{ internalIP: '10.0.0.2', externalIP: '1.2.3.4' }] } }, path: 'spec.ipNATs[0].internalIP', message: /not one of the endpoint's ipNetworks/ },
  { name: 'WEP bad MAC', input: { apiVersion: calico, kind: 'WorkloadEndpoint', metadata: { name: 'w', namespace: 'a' }, spec: { node: 'n1', mac: 'ca:fe:1d:52:bb' } }, path: 'spec.mac', message: /not a valid MAC address/ },
  { name: 'BGPPeer bad peerIP', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '10.0.0.300', asNumber: 64512 } }, path: 'spec.peerIP', message: /"10\.0\.0\.300" is not a valid peer address/ },
  { name: 'BGPPeer bad peer port', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '[fd00::1]:70000', asNumber: 64512 } }, path: 'spec.peerIP', message: /invalid port "70000"/ },
  { name: 'BGPPeer peerIP and peerSelector', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '10.0.0.1', peerSelector: 'rr == "true"', asNumber: 1 } }, path: 'spec.peerSelector', message: /peerIP and peerSelector cannot both be set/ },
  { name: 'BGPPeer without peer', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { node: 'n1' } }, path: 'spec', message: /give peerIP or peerSelector/ },
  { name: 'bad AS number 0', input: { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { asNumber: 0 } }, path: 'spec.asNumber', message: /0 is out of range \(an AS number 1–4294967295\)/ },
  { name: 'bad AS number too large', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '10.0.0.1', asNumber: 4294967296 } }, path: 'spec.asNumber', message: /out of range/ },
  { name: 'bad asdot AS number', input: { apiVersion: calico, kind: 'Node', metadata: { name: 'n1' }, spec: { bgp: { asNumber: '70000.1' } } }, path: 'spec.bgp.asNumber', message: /"70000\.1" is not a valid AS number/ },
  { name: 'per-node BGPConfiguration with a global field', input: { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'node.n1' }, spec: { asNumber: 65000 } }, path: 'spec.asNumber', message: /only the "default" BGPConfiguration may set asNumber/ },
  { name: 'BGPConfiguration bad name', input: { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'main' }, spec: {} }, path: 'metadata.name', message: /name must be "default" or "node.<node name>", got "main"/ },
  { name: 'AgentConfiguration bad name', input: { apiVersion: calico, kind: 'FelixConfiguration', metadata: { name: 'global' }, spec: {} }, path: 'metadata.name', message: /FelixConfiguration "global": metadata\.name: name must be "default" or "node.<node name>", got "global"/ },
  { name: 'AgentConfiguration unsupported knob', input: { apiVersion: calico, kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: { bpfEnabled: true } }, path: 'spec.bpfEnabled', message: /unknown field "bpfEnabled"/ },
  { name: 'ClusterInformation not default', input: { apiVersion: calico, kind: 'ClusterInformation', metadata: { name: 'x' } }, path: 'metadata.name', message: /name must be "default"/ },
  { name: 'k8s NetworkPolicy without podSelector', input: knp({ policyTypes: ['Ingress'] }), path: 'spec.podSelector', message: /required/ },
  { name: 'k8s bad policyTypes value', input: knp({ podSelector: {}, policyTypes: ['ingress'] }), path: 'spec.policyTypes[0]', message: /unknown policy type "ingress" \(expected Ingress or Egress\)/ },
  { name: 'k8s endPort < port', input: knp({ podSelector: {}, egress: [{ ports: [{ port: 32000, endPort: 31000 }] }] }), path: 'spec.egress[0].ports[0].endPort', message: /31000 is less than port 32000/ },
  { name: 'k8s endPort with a named port', input: knp({ podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }), path: 'spec.ingress[0].ports[0].endPort', message: /named port \("http"\)/ },
  { name: 'k8s port protocol ICMP', input: knp({ podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP' }] }] }), path: 'spec.ingress[0].ports[0].protocol', message: /unknown protocol "ICMP" \(expected TCP, UDP or SCTP\)/ },
  { name: 'k8s ipBlock except outside cidr', input: knp({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.18.1.0/24'] } }] }] }), path: 'spec.ingress[0].from[0].ipBlock.except[0]', message: /"172\.18\.1\.0\/24" is not a strict subset of cidr "172\.17\.0\.0\/16"/ },
  { name: 'k8s ipBlock except equal to cidr', input: knp({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.0.0/16'] } }] }] }), path: 'spec.ingress[0].from[0].ipBlock.except[0]', message: /not a strict subset/ },
  { name: 'k8s ipBlock with podSelector', input: knp({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }), path: 'spec.ingress[0].from[0]', message: /ipBlock cannot be combined/ },
  { name: 'k8s bad matchExpressions operator', input: knp({ podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['a'] }] } }), path: 'spec.podSelector.matchExpressions[0].operator', message: /unknown operator "Equals" \(expected In, NotIn, Exists or DoesNotExist\)/ },
  { name: 'k8s In without values', input: knp({ podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }), path: 'spec.podSelector.matchExpressions[0].values', message: /must not be empty for operator In/ },
  { name: 'k8s Exists with values', input: knp({ podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } }), path: 'spec.podSelector.matchExpressions[0].values', message: /must be empty for operator Exists/ },
  { name: 'Pod containerPort 0', input: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 0 }] }] } }, path: 'spec.containers[0].ports[0].containerPort', message: /out of range/ },
  { name: 'Pod bad podIP', input: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {}, status: { podIP: '10.0.0' } }, path: 'status.podIP', message: /not a valid IP address/ },
  { name: 'status on a kind without one', input: { apiVersion: calico, kind: 'GlobalNetworkSet', metadata: { name: 'g' }, status: {} }, path: 'status', message: /GlobalNetworkSet has no status field/ },
  { name: 'rule net with host bits', input: ingress({ action: 'Deny', source: { nets: ['10.0.0.1/8'] } }), path: 'spec.ingress[0].source.nets[0]', message: /"10\.0\.0\.1\/8" has host bits set \(did you mean "10\.0\.0\.0\/8"\?\)/ },
  { name: 'rule mixing IPv4 and IPv6 nets', input: ingress({ action: 'Deny', source: { nets: ['10.0.0.0/8'] }, destination: { notNets: ['fd00::/64'] } }), path: 'spec.ingress[0].destination.notNets[0]', message: /cannot mix IPv4 and IPv6 networks/ },
  { name: 'global() combined in a rule namespaceSelector', input: ingress({ action: 'Allow', source: { namespaceSelector: 'global() || all()' } }), path: 'spec.ingress[0].source.namespaceSelector', message: /global\(\) cannot be combined with other selectors/ },
  { name: 'notProtocol ICMP with ipVersion 6', input: ingress({ action: 'Allow', notProtocol: 'ICMP', ipVersion: 6 }), path: 'spec.ingress[0].notProtocol', message: /IPv4-only but ipVersion is 6/ },
  { name: 'http in an egress rule', input: gnp({ egress: [{ action: 'Allow', http: { methods: ['GET'] } }] }), path: 'spec.egress[0].http', message: /not allowed in egress rules/ },
  { name: 'http path without leading slash', input: ingress({ action: 'Allow', http: { paths: [{ prefix: 'api' }] } }), path: 'spec.ingress[0].http.paths[0].prefix', message: /"api" is not a valid path/ },
  { name: 'service without namespace in a global policy', input: gnp({ egress: [{ action: 'Allow', destination: { services: { name: 'web' } } }] }), path: 'spec.egress[0].destination.services.namespace', message: /required in a global policy/ },
  { name: 'staged Delete with rules', input: { apiVersion: calico, kind: 'StagedGlobalNetworkPolicy', metadata: { name: 's' }, spec: { stagedAction: 'Delete', ingress: [{ action: 'Allow' }] } }, path: 'spec.ingress', message: /only tier may be set/ },
  { name: 'policy name with two dots', input: gnp({}, 'a.b.c'), path: 'metadata.name', message: /policy name "a\.b\.c" is invalid/ },
  { name: 'WEP network of several addresses', input: { apiVersion: calico, kind: 'WorkloadEndpoint', metadata: { name: 'w', namespace: 'a' }, spec: { node: 'n1', ipNetworks: ['10.0.0.0/24'] } }, path: 'spec.ipNetworks[0]', message: /holds several addresses/ },
  { name: 'WEP ipNAT family mismatch', input: { apiVersion: calico, kind: 'WorkloadEndpoint', metadata: { name: 'w', namespace: 'a' }, spec: { node: 'n1', ipNetworks: ['10.0.0.1/32'], ipNATs: [{ internalIP: '10.0.0.1', externalIP: 'fd00::1' }] } }, path: 'spec.ipNATs[0].externalIP', message: /not of the same IP family/ },
  { name: 'reserved label on a NetworkSet', input: { apiVersion: calico, kind: 'NetworkSet', metadata: { name: 'n', labels: { 'projectcalico.org/namespace': 'x' } } }, path: 'metadata.labels["projectcalico.org/namespace"]', message: /is reserved/ },
  { name: 'BGP communities without prefixAdvertisements', input: { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { communities: [{ name: 'c', value: '1:2' }] } }, path: 'spec.communities', message: /no prefixAdvertisements use them/ },
  { name: 'BGP bad community value', input: { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { communities: [{ name: 'c', value: '70000:2' }], prefixAdvertisements: [{ cidr: '10.0.0.0/8', communities: ['c'] }] } }, path: 'spec.communities[0].value', message: /not a valid BGP community/ },
  { name: 'BGPPeer reachableBy without peerIP', input: { apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerSelector: 'all()', reachableBy: '10.0.0.1' } }, path: 'spec.reachableBy', message: /only be set together with peerIP/ },
  { name: 'Node with empty bgp', input: { apiVersion: calico, kind: 'Node', metadata: { name: 'n1' }, spec: { bgp: {} } }, path: 'spec.bgp', message: /must not be empty/ },
  { name: 'document that is not a mapping', input: '- a\n- b\n', path: '', message: /test\.yaml: document 1: expected a mapping .*got a list$/ },
  { name: 'scalar document', input: 'hello\n', path: '', message: /got string "hello"/ },
];

function run(input: BadCase['input']): unknown {
  const text = typeof input === 'string' ? input : stringify(input);
  try {
    parseManifests(text, 'test.yaml');
  } catch (err) {
    return err;
  }
  return undefined;
}

for (const c of BAD) {
  test(`rejects: ${c.name}`, () => {
    const err = run(c.input);
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID');
    assert.equal(err.path, c.path, err.message);
    assert.match(err.message, c.message);
    assert.match(err.message, /^test\.yaml: document 1: /);
    assert.ok(!err.message.includes('\n'), `message must be one line: ${err.message}`);
    if (c.column !== undefined) assert.equal(err.column, c.column);
    if (process.env.SHOW_MESSAGES) console.log(err.message);
  });
}

test('at least 30 distinct bad inputs are covered', () => {
  assert.ok(new Set(BAD.map((c) => c.name)).size >= 30);
});

test('the error message names source, document, kind, name and field', () => {
  const text = [stringify(gnp({}, 'ok')), stringify(gnp({ ingress: [{ action: 'Alow' }] }, 'deny-db'))].join('---\n');
  assert.throws(
    () => parseManifests(text, 'policy.yaml'),
    (e: unknown) =>
      e instanceof ManifestError &&
      e.message === 'policy.yaml: document 2: GlobalNetworkPolicy "deny-db": spec.ingress[0].action: unknown action "Alow" (expected Allow, Deny, Log or Pass)' &&
      e.source === 'policy.yaml' &&
      e.index === 2 &&
      e.kind === 'GlobalNetworkPolicy' &&
      e.resourceName === 'deny-db' &&
      e.detail === 'unknown action "Alow" (expected Allow, Deny, Log or Pass)',
  );
});

test('validateResource reports the List item it was given', () => {
  assert.throws(
    () => validateResource(pool({ cidr: 'nope' }), { source: 's.json', index: 1, item: 3 }),
    (e: unknown) => e instanceof ManifestError && e.item === 3 && e.message === 's.json: document 1 item 3: IPPool "p1": spec.cidr: "nope" is not a valid CIDR',
  );
});

test('validateResource stores the internal kind and the printing apiVersion', () => {
  const r = validateResource(knp({ podSelector: {} }), { source: 'x', index: 1 });
  assert.equal(r.kind, 'KubernetesNetworkPolicy');
  assert.equal(r.apiVersion, 'networking.k8s.io/v1');
  const g = validateResource(gnp({}), { source: 'x', index: 1 });
  assert.equal(g.apiVersion, 'brindle.io/v1');
  const f = validateResource({ apiVersion: calico, kind: 'FelixConfiguration', metadata: { name: 'node.n1' }, spec: { vxlanEnabled: true } }, { source: 'x', index: 1 });
  assert.equal(f.kind, 'AgentConfiguration');
});

test('validation normalises numeric strings and protocol spellings as Calico does', () => {
  const r = validateResource(ingress({ action: 'Allow', protocol: 'tcp', destination: { ports: ['80', '8000:9000', 'http'] } }), { source: 'x', index: 1 });
  const rule = (r.spec as { ingress: Array<{ protocol: unknown; destination: { ports: unknown[] } }> }).ingress[0];
  assert.equal(rule.protocol, 'TCP');
  assert.deepEqual(rule.destination.ports, [80, '8000:9000', 'http']);
  const b = validateResource({ apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '10.0.0.1:1179', asNumber: '1.10' } }, { source: 'x', index: 1 });
  assert.equal((b.spec as { asNumber: number }).asNumber, 65546);
});

test('namespaced kinds keep an absent namespace unset for the caller to default', () => {
  const r = validateResource({ apiVersion: calico, kind: 'NetworkSet', metadata: { name: 'n' }, spec: { nets: ['10.0.0.1'] } }, { source: 'x', index: 1 });
  assert.equal(r.metadata.namespace, undefined);
});

test('accepts the edge cases Calico accepts', () => {
  const ok = (raw: Record<string, unknown>): void => {
    validateResource(raw, { source: 'x', index: 1 });
  };
  ok(pool({ cidr: '10.0.0.0/30', disabled: true }));
  ok(pool({ cidr: '10.0.0.0/30', blockSize: 31 }));
  ok(np({}, 'knp.default.from-k8s'));
  ok(gnp({}, 'security.allow-dns'));
  ok({ apiVersion: calico, kind: 'StagedGlobalNetworkPolicy', metadata: { name: 's' }, spec: { stagedAction: 'Delete', tier: 'security' } });
  ok({ apiVersion: calico, kind: 'WorkloadEndpoint', metadata: { name: 'w', namespace: 'a' }, spec: { node: 'n1', ipNetworks: ['10.0.0.1', 'fd00::1/128'], ports: [{ protocol: 'TCP', port: 80, hostPort: 8080 }] } });
  ok(ingress({ action: 'Allow', source: { nets: ['10.0.0.1', '192.168.0.0/16'], namespaceSelector: 'global()' } }));
  ok(np({ ingress: [{ action: 'Allow', source: { services: { name: 'web' } } }] }));
  ok({ apiVersion: calico, kind: 'BGPPeer', metadata: { name: 'b' }, spec: { peerIP: '[fd00::1]:1179', asNumber: 65001, reachableBy: 'fd00::fe' } });
});

test('inherited property names are unknown fields, not silently dropped', () => {
  assert.throws(() => validateResource(gnp({ constructor: 'x' }), { source: 'x', index: 1 }), (e: unknown) => e instanceof ManifestError && e.path === 'spec.constructor');
});
