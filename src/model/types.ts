// TypeScript shapes of every resource kind brindle stores: Calico's projectcalico.org/v3 kinds
// (also accepted under brindle's own apiVersion) and the Kubernetes kinds kept as the
// orchestrator's source of truth. Validation and defaulting live in validate.ts / defaults.ts;
// this file only names the fields, so calc, datastore, CLI and CNI share one vocabulary.

export const BRINDLE_API_VERSION = 'brindle.io/v1';
export const CALICO_API_VERSION = 'projectcalico.org/v3';

export type Labels = Record<string, string>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Labels;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
}

export interface Resource<K extends string = string, S = unknown, St = unknown> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: St;
}

// ---------- policy ----------

export type Action = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyType = 'Ingress' | 'Egress';
/** Name ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite") or number 1–255. */
export type Protocol = string | number;
/** Port number, "start:end" range, or a named port. */
export type Port = number | string;

export interface IcmpFields {
  type?: number;
  code?: number;
}

export interface ServiceAccountMatch {
  names?: string[];
  selector?: string;
}

export interface ServiceMatch {
  name: string;
  namespace?: string;
}

export interface EntityRule {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: Port[];
  notPorts?: Port[];
  serviceAccounts?: ServiceAccountMatch;
  services?: ServiceMatch;
}

export interface HttpMatch {
  methods?: string[];
  paths?: Array<{ exact?: string; prefix?: string }>;
}

export interface Rule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: Protocol;
  notProtocol?: Protocol;
  icmp?: IcmpFields;
  notICMP?: IcmpFields;
  source?: EntityRule;
  destination?: EntityRule;
  http?: HttpMatch;
  metadata?: { annotations?: Record<string, string> };
}

export interface PolicySpec {
  tier?: string;
  /** Lower first; absent = last (+infinity). */
  order?: number;
  selector?: string;
  types?: PolicyType[];
  ingress?: Rule[];
  egress?: Rule[];
  serviceAccountSelector?: string;
  /** GlobalNetworkPolicy only. */
  namespaceSelector?: string;
  /** GlobalNetworkPolicy only (host endpoint modes). */
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
  performanceHints?: string[];
}

export type StagedAction = 'Set' | 'Delete' | 'Learn' | 'Ignore';
export interface StagedPolicySpec extends PolicySpec {
  stagedAction?: StagedAction;
}

export type NetworkPolicy = Resource<'NetworkPolicy', PolicySpec>;
export type GlobalNetworkPolicy = Resource<'GlobalNetworkPolicy', PolicySpec>;
export type StagedNetworkPolicy = Resource<'StagedNetworkPolicy', StagedPolicySpec>;
export type StagedGlobalNetworkPolicy = Resource<'StagedGlobalNetworkPolicy', StagedPolicySpec>;

export interface TierSpec {
  order?: number;
  defaultAction?: 'Deny' | 'Pass';
}
export type Tier = Resource<'Tier', TierSpec>;

export interface ProfileSpec {
  ingress?: Rule[];
  egress?: Rule[];
  labelsToApply?: Labels;
}
export type Profile = Resource<'Profile', ProfileSpec>;

export interface NetworkSetSpec {
  nets?: string[];
}
export type NetworkSet = Resource<'NetworkSet', NetworkSetSpec>;
export type GlobalNetworkSet = Resource<'GlobalNetworkSet', NetworkSetSpec>;

// ---------- endpoints ----------

export interface EndpointPort {
  name: string;
  protocol: string;
  port: number;
  hostPort?: number;
  hostIP?: string;
}

export interface WorkloadEndpointSpec {
  orchestrator?: string;
  workload?: string;
  node: string;
  containerID?: string;
  pod?: string;
  endpoint?: string;
  serviceAccountName?: string;
  ipNetworks?: string[];
  ipNATs?: Array<{ internalIP: string; externalIP: string }>;
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles?: string[];
  interfaceName?: string;
  mac?: string;
  ports?: EndpointPort[];
  allowSpoofedSourcePrefixes?: string[];
}
export type WorkloadEndpoint = Resource<'WorkloadEndpoint', WorkloadEndpointSpec>;

export interface HostEndpointSpec {
  node: string;
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: Array<{ name: string; protocol: string; port: number }>;
}
export type HostEndpoint = Resource<'HostEndpoint', HostEndpointSpec>;

// ---------- IPAM and routing ----------

export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';
export type AllowedUse = 'Workload' | 'Tunnel' | 'LoadBalancer';

export interface IPPoolSpec {
  cidr: string;
  blockSize?: number;
  ipipMode?: EncapMode;
  vxlanMode?: EncapMode;
  natOutgoing?: boolean;
  disabled?: boolean;
  disableBGPExport?: boolean;
  nodeSelector?: string;
  namespaceSelector?: string;
  allowedUses?: AllowedUse[];
  assignmentMode?: 'Automatic' | 'Manual';
}
export type IPPool = Resource<'IPPool', IPPoolSpec>;

export interface IPReservationSpec {
  reservedCIDRs: string[];
}
export type IPReservation = Resource<'IPReservation', IPReservationSpec>;

export interface NodeSpec {
  bgp?: {
    asNumber?: number;
    ipv4Address?: string;
    ipv6Address?: string;
    ipv4IPIPTunnelAddr?: string;
    routeReflectorClusterID?: string;
  };
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
  addresses?: Array<{ address: string; type?: string }>;
  interfaces?: Array<{ name: string; addresses?: string[] }>;
  orchRefs?: Array<{ orchestrator: string; nodeName?: string }>;
}
export type Node = Resource<'Node', NodeSpec>;

export interface BGPConfigurationSpec {
  logSeverityScreen?: string;
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: number;
  serviceClusterIPs?: Array<{ cidr: string }>;
  serviceExternalIPs?: Array<{ cidr: string }>;
  serviceLoadBalancerIPs?: Array<{ cidr: string }>;
  communities?: Array<{ name: string; value: string }>;
  prefixAdvertisements?: Array<{ cidr: string; communities?: string[] }>;
  listenPort?: number;
  bindMode?: 'None' | 'NodeIP';
  ignoredInterfaces?: string[];
}
export type BGPConfiguration = Resource<'BGPConfiguration', BGPConfigurationSpec>;

export interface BGPPeerSpec {
  node?: string;
  nodeSelector?: string;
  peerIP?: string;
  peerSelector?: string;
  asNumber?: number;
  localASNumber?: number;
  nextHopMode?: 'Auto' | 'Self' | 'Keep';
  keepOriginalNextHop?: boolean;
  password?: { secretKeyRef?: { name: string; key: string }; value?: string };
  sourceAddress?: 'UseNodeIP' | 'None';
  maxRestartTime?: string;
  keepaliveTime?: string;
  holdTime?: string;
  ttlSecurity?: number;
  reachableBy?: string;
  filters?: string[];
  numAllowedLocalASNumbers?: number;
}
export type BGPPeer = Resource<'BGPPeer', BGPPeerSpec>;

/** brindle's agent configuration (Calico's FelixConfiguration role): `default` and `node.<name>`. */
export interface AgentConfigurationSpec {
  logSeverityScreen?: string;
  ipv6Support?: boolean;
  interfacePrefix?: string;
  defaultEndpointToHostAction?: 'Drop' | 'Return' | 'Accept';
  failsafeInboundHostPorts?: Array<{ protocol: string; port: number; net?: string }>;
  failsafeOutboundHostPorts?: Array<{ protocol: string; port: number; net?: string }>;
  logPrefix?: string;
  vxlanEnabled?: boolean;
  vxlanVNI?: number;
  vxlanPort?: number;
  vxlanMTU?: number;
  vxlanMTUV6?: number;
  routeRefreshInterval?: string;
  nftablesRefreshInterval?: string;
  healthEnabled?: boolean;
  healthPort?: number;
  prometheusMetricsEnabled?: boolean;
  prometheusMetricsPort?: number;
  natOutgoingAddress?: string;
  workloadSourceSpoofing?: 'Disabled' | 'Any';
}
export type AgentConfiguration = Resource<'AgentConfiguration', AgentConfigurationSpec>;

export interface ClusterInformationSpec {
  clusterGUID?: string;
  clusterType?: string;
  calicoVersion?: string;
  brindleVersion?: string;
  datastoreReady?: boolean;
  variant?: string;
}
export type ClusterInformation = Resource<'ClusterInformation', ClusterInformationSpec>;

// ---------- Kubernetes kinds (orchestrator source of truth) ----------

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
export interface K8sLabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface NamespaceSpec {
  finalizers?: string[];
}
export type Namespace = Resource<'Namespace', NamespaceSpec, { phase?: string }>;
export type ServiceAccount = Resource<'ServiceAccount', Record<string, never>>;

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  hostPort?: number;
  hostIP?: string;
}
export interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
}
export interface PodSpec {
  serviceAccountName?: string;
  nodeName?: string;
  /** Host-network pods share the node's addresses and get no workload endpoint. */
  hostNetwork?: boolean;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  containers?: Container[];
}
export interface PodStatus {
  hostIP?: string;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  phase?: string;
}
export type Pod = Resource<'Pod', PodSpec, PodStatus>;

export interface K8sNetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}
export interface K8sNetworkPolicyPeer {
  podSelector?: K8sLabelSelector;
  namespaceSelector?: K8sLabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface K8sNetworkPolicySpec {
  podSelector: K8sLabelSelector;
  policyTypes?: PolicyType[];
  ingress?: Array<{ from?: K8sNetworkPolicyPeer[]; ports?: K8sNetworkPolicyPort[] }>;
  egress?: Array<{ to?: K8sNetworkPolicyPeer[]; ports?: K8sNetworkPolicyPort[] }>;
}
/** Stored under the internal kind name KubernetesNetworkPolicy; printed as networking.k8s.io/v1 NetworkPolicy. */
export type KubernetesNetworkPolicy = Resource<'KubernetesNetworkPolicy', K8sNetworkPolicySpec>;

/** Every kind brindle stores, by internal kind name. */
export interface KindMap {
  IPPool: IPPool;
  IPReservation: IPReservation;
  Node: Node;
  WorkloadEndpoint: WorkloadEndpoint;
  HostEndpoint: HostEndpoint;
  NetworkPolicy: NetworkPolicy;
  GlobalNetworkPolicy: GlobalNetworkPolicy;
  StagedNetworkPolicy: StagedNetworkPolicy;
  StagedGlobalNetworkPolicy: StagedGlobalNetworkPolicy;
  Tier: Tier;
  Profile: Profile;
  NetworkSet: NetworkSet;
  GlobalNetworkSet: GlobalNetworkSet;
  BGPConfiguration: BGPConfiguration;
  BGPPeer: BGPPeer;
  AgentConfiguration: AgentConfiguration;
  ClusterInformation: ClusterInformation;
  Namespace: Namespace;
  Pod: Pod;
  ServiceAccount: ServiceAccount;
  KubernetesNetworkPolicy: KubernetesNetworkPolicy;
}
export type KindName = keyof KindMap;
export type AnyResource = KindMap[KindName];
