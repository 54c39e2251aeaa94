/**
 * Where the daemon runs: in a Kubernetes pod, or on a machine of its own (bare metal, a VM, a plain container).
 * Advice about hostPath volumes and pods fits only the first; elsewhere the messages speak of "this machine".
 */
import type { HostFs } from '../host/host-fs.js';

export type Place = 'pod' | 'machine';

/** Every pod's containers get KUBERNETES_SERVICE_HOST; most also get the service account's directory. */
export function placeFrom(env: NodeJS.ProcessEnv, serviceAccountDir: boolean): Place {
  return (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '' || serviceAccountDir ? 'pod' : 'machine';
}

export async function placeOf(env: NodeJS.ProcessEnv, daemonFiles: HostFs): Promise<Place> {
  return placeFrom(env, (await daemonFiles.stat('/var/run/secrets/kubernetes.io/serviceaccount'))?.type === 'directory');
}

/** "this node" in a cluster, "this machine" elsewhere. */
export function placeName(place: Place): string {
  return place === 'pod' ? 'this node' : 'this machine';
}
