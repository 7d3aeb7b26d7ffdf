// brindle-ipam executable (development launcher, through tsx): the IPAM-only CNI plugin that other
// main plugins (bridge, ptp) delegate to. Runtimes run the bundled copy that `brindle-cni install` writes.
import { cniMain } from '../cni/index.ts';

process.exitCode = await cniMain(process.argv);
