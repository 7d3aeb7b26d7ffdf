// Public face of src/lab: the multi-host lab cluster (fabric, host namespaces running brindle-agent, a
// temp datastore, pods wired by the CNI plugin, probe servers and clients) that end-to-end tests and
// the demo build on. Other folders import lab only through this file.
//
//   createLabCluster() ──► LabCluster.addPod() / startServer() / probe() / cli() ──► down()

export { LabCluster, createLabCluster } from './lab-cluster.ts';
export type { LabClusterOptions, LabHost, LabPodOptions, LabClusterPod, CliRun } from './lab-cluster.ts';
export { DEFAULT_SERVER_PORTS } from './lab-probes.ts';
export type { ClusterProbe, ClusterProbeResult } from './lab-probes.ts';
