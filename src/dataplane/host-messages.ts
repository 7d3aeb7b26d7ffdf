// Inputs the dataplane needs beyond the calc graph's dataplane-api messages: IP pools (NAT outgoing and
// "inside the cluster" for nftables) and the IPAM blocks affine to this host (blackhole routes). The
// agent derives them from the datastore; they share the message shape so one batch carries everything.
//
//   agent ──DataplaneMessage | HostDataplaneMessage──► NftablesDriver.apply / RoutesDriver.apply

import type { DataplaneMessage } from '../dataplane-api/index.ts';

export interface IpPoolInfo {
  cidr: string;
  natOutgoing: boolean;
  vxlanMode: 'Never' | 'Always' | 'CrossSubnet';
  disabled?: boolean;
}

export type HostDataplaneMessage =
  | { type: 'IpPoolUpdate'; id: string; pool: IpPoolInfo }
  | { type: 'IpPoolRemove'; id: string }
  /** An IPAM block affine to this host: unused addresses in it are blackholed, not routed elsewhere. */
  | { type: 'LocalBlockUpdate'; cidr: string }
  | { type: 'LocalBlockRemove'; cidr: string };

export type DriverMessage = DataplaneMessage | HostDataplaneMessage;
