// Public face of src/cni: the brindle-cni / brindle-ipam plugin logic (runPlugin for one
// invocation, cniMain for the process), request parsing, result shapes per spec version, the
// endpoint naming rules and the installer (loaded lazily by cniMain; imported here for the CLI).

export { cniMain, pluginKindFor } from './cni-main.ts';
export { runPlugin, CRASH_POINTS } from './cni-plugin.ts';
export type { PluginKind, PluginDeps, PluginOutput, CrashPoint } from './cni-plugin.ts';
export { CNI_ERROR, CniError, toCniError, errorJson } from './cni-errors.ts';
export type { CniErrorJson } from './cni-errors.ts';
export {
  SUPPORTED_VERSIONS,
  LATEST_VERSION,
  INSTALL_VERSION,
  compareVersions,
  formatResult,
  parseResult,
} from './cni-result.ts';
export type { CniResult, CniInterface, CniIpConfig, CniRoute, CniDns } from './cni-result.ts';
export { parseEnvironment, parseNetConf, parseCniArgs, decodeConfig, CNI_COMMANDS } from './cni-request.ts';
export type { CniCommand, CniEnvironment, NetConf, IpamConf, CniArgs, Attachment } from './cni-request.ts';
export {
  identify,
  handleIdFor,
  hostInterfaceFor,
  workloadEndpointName,
  buildWorkloadEndpoint,
  ORCHESTRATOR_K8S,
  ORCHESTRATOR_CNI,
} from './workload-endpoint.ts';
export type { WorkloadIdentity } from './workload-endpoint.ts';
export { installCni, buildPluginBundle, renderConflist, installCommand, DEFAULT_CONFLIST_NAME, DEFAULT_NETWORK_NAME } from './install.ts';
export type { InstallOptions, InstallResult } from './install.ts';
export { execPlugin } from './plugin-exec.ts';
export type { ExecPluginOptions, ExecPluginResult } from './plugin-exec.ts';
export { startCniServer, serveCommand, DEFAULT_CNI_SOCKET } from './cni-server.ts';
export type { CniServer, CniServerOptions } from './cni-server.ts';
