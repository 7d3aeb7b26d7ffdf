// Who a CNI attachment is and what the store says about it: the workload identity derived from the
// CNI args (a Kubernetes pod when both K8S_POD_NAMESPACE and K8S_POD_NAME are given, else a plain
// "cni" workload), the IPAM handle, the host-side interface name, the Calico-style endpoint name,
// and the WorkloadEndpoint written after ADD (labels, service account and named ports from the
// stored Pod when there is one, else the labels the runtime passed).
//
//   CNI_ARGS + config ──identify──► WorkloadIdentity ──buildWorkloadEndpoint──► ResourceStore.apply

import { WORKLOAD_GATEWAY_IPV4, WORKLOAD_GATEWAY_IPV6, workloadInterfaceName } from '../lib/index.ts';
import type { EndpointPort, Pod, WorkloadEndpoint } from '../model/index.ts';
import { CALICO_API_VERSION } from '../model/index.ts';
import type { CniArgs } from './cni-request.ts';

export const ORCHESTRATOR_K8S = 'k8s';
export const ORCHESTRATOR_CNI = 'cni';

export interface WorkloadIdentity {
  orchestrator: typeof ORCHESTRATOR_K8S | typeof ORCHESTRATOR_CNI;
  /** Namespace of the WorkloadEndpoint (the pod's, else "default"). */
  namespace: string;
  /** The pod name (k8s), the name the runtime gave (K8S_POD_NAME alone, as podman sends), else the container ID. */
  workload: string;
  /** Set for Kubernetes pods. */
  pod?: string;
  node: string;
  containerId: string;
  /** The container-side interface name (CNI_IFNAME): the endpoint. */
  endpoint: string;
  network: string;
}

export function identify(network: string, node: string, containerId: string, ifname: string, args: CniArgs): WorkloadIdentity {
  if (args.podNamespace && args.podName) {
    return { orchestrator: ORCHESTRATOR_K8S, namespace: args.podNamespace, workload: args.podName, pod: args.podName, node, containerId, endpoint: ifname, network };
  }
  return { orchestrator: ORCHESTRATOR_CNI, namespace: 'default', workload: args.podName ?? containerId, node, containerId, endpoint: ifname, network };
}

/** IPAM handle of an attachment: `<network>.<containerID>` as Calico, plus the interface when not eth0. */
export function handleIdFor(network: string, containerId: string, ifname: string): string {
  return ifname === 'eth0' ? `${network}.${containerId}` : `${network}.${containerId}.${ifname}`;
}

export function hostInterfaceFor(id: WorkloadIdentity): string {
  return workloadInterfaceName(id.namespace, id.workload, id.endpoint);
}

/** One part of an endpoint name: lower case, only [a-z0-9.-], dashes doubled so parts stay apart. */
function namePart(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/-/g, '--');
}

/** `<node>-<orchestrator>-<workload>-<endpoint>` with dashes inside each part doubled (Calico's scheme). */
export function workloadEndpointName(id: WorkloadIdentity): string {
  return [id.node, id.orchestrator, id.workload, id.endpoint].map(namePart).join('-');
}

/** Owner attributes recorded with the IPAM allocation (what `ipam check` and GC read). */
export function allocationAttrs(id: WorkloadIdentity, hostInterface: string): Record<string, string> {
  return {
    type: 'workload',
    node: id.node,
    namespace: id.namespace,
    ...(id.pod ? { pod: id.pod } : { workload: id.workload }),
    containerID: id.containerId,
    network: id.network,
    ifname: id.endpoint,
    hostInterface,
  };
}

/** Named container ports of a pod, as endpoint ports. */
export function podPorts(pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.name) continue;
      out.push({
        name: p.name,
        protocol: p.protocol ?? 'TCP',
        port: p.containerPort,
        ...(p.hostPort !== undefined ? { hostPort: p.hostPort } : {}),
        ...(p.hostIP !== undefined ? { hostIP: p.hostIP } : {}),
      });
    }
  }
  return out;
}

export interface EndpointInputs {
  id: WorkloadIdentity;
  hostInterface: string;
  containerMac: string;
  /** Addresses as /32 and /128 networks. */
  ipNetworks: string[];
  /** The stored Pod, when the args name one that exists. */
  pod?: Pod;
  /** Labels from the config when there is no Pod. */
  labels: Record<string, string>;
}

export function buildWorkloadEndpoint(inp: EndpointInputs): WorkloadEndpoint {
  const { id, pod } = inp;
  const labels = pod ? { ...(pod.metadata.labels ?? {}) } : { ...inp.labels };
  const ports = pod ? podPorts(pod) : [];
  const v4 = inp.ipNetworks.find((n) => !n.includes(':'));
  const v6 = inp.ipNetworks.find((n) => n.includes(':'));
  return {
    apiVersion: CALICO_API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: workloadEndpointName(id),
      namespace: id.namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
    },
    spec: {
      orchestrator: id.orchestrator,
      workload: id.workload,
      node: id.node,
      containerID: id.containerId,
      ...(id.pod ? { pod: id.pod } : {}),
      endpoint: id.endpoint,
      ...(pod?.spec?.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
      ipNetworks: inp.ipNetworks,
      ...(v4 ? { ipv4Gateway: WORKLOAD_GATEWAY_IPV4 } : {}),
      ...(v6 ? { ipv6Gateway: WORKLOAD_GATEWAY_IPV6 } : {}),
      interfaceName: inp.hostInterface,
      mac: inp.containerMac,
      ...(ports.length > 0 ? { ports } : {}),
    },
  };
}
