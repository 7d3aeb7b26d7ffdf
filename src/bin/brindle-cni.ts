// brindle-cni executable (development launcher, through tsx): the CNI plugin, or `install` /
// `build`. Runtimes run the bundled copy that `brindle-cni install` puts into the CNI bin dir.
import { cniMain } from '../cni/index.ts';

process.exitCode = await cniMain(process.argv);
