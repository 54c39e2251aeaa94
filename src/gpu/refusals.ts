/**
 * Nodes where GPUs in CVMs are refused, whatever the request: cloud VMs and GKE nodes (bare metal only), AMD
 * GPUs, and nodes without an NVIDIA driver. Each reason carries the evidence it was read from.
 */
import type { HostFs } from '../host/host-fs.js';

const GKE_DRIVER_DIR = '/home/kubernetes/bin/nvidia';
const DMI_DIR = '/sys/class/dmi/id';

/** DMI sys_vendor (or product_name) patterns of hypervisors and cloud VMs. */
const VM_VENDORS: readonly (readonly [RegExp, string])[] = [
  [/^Google/i, 'Google Compute Engine'],
  [/^Microsoft Corporation/i, 'Microsoft Azure or Hyper-V'],
  [/^QEMU/i, 'QEMU/KVM'],
  [/^VMware/i, 'VMware'],
  [/^Xen/i, 'Xen'],
  [/^innotek/i, 'VirtualBox'],
  [/^OpenStack/i, 'OpenStack'],
  [/^Alibaba Cloud/i, 'Alibaba Cloud ECS'],
  [/^DigitalOcean/i, 'DigitalOcean'],
  [/^Parallels/i, 'Parallels'],
];
const VM_PRODUCTS: readonly (readonly [RegExp, string])[] = [
  [/^KVM\b/i, 'KVM'],
  [/^Standard PC \(/i, 'QEMU/KVM'],
  [/^Virtual Machine$/i, 'Hyper-V'],
  [/^HVM domU$/i, 'Xen'],
  [/^Google Compute Engine$/i, 'Google Compute Engine'],
];

const BARE_METAL_ONLY = 'GPUs in CVMs are supported on bare-metal nodes only';

async function dmi(fs: HostFs, field: string): Promise<string | null> {
  const text = await fs.readText(`${DMI_DIR}/${field}`);
  return text === null ? null : text.trim();
}

/** Why this node is a cloud VM or a GKE node, with the evidence; null when nothing says so. */
export async function cloudRefusal(fs: HostFs): Promise<string | null> {
  if ((await fs.lstat(GKE_DRIVER_DIR))?.type === 'directory') {
    return `${BARE_METAL_ONLY}: this is a GKE node (the GKE driver layout ${GKE_DRIVER_DIR} exists)`;
  }
  const vendor = await dmi(fs, 'sys_vendor');
  const product = await dmi(fs, 'product_name');
  const evidence = `DMI sys_vendor ${JSON.stringify(vendor ?? '')}, product_name ${JSON.stringify(product ?? '')}`;
  if (vendor !== null && /^Amazon EC2$/i.test(vendor)) {
    // EC2 bare-metal instance types are named <family>.metal (or .metal-<size>).
    return product !== null && /\.metal(-|$)/.test(product) ? null : `${BARE_METAL_ONLY}: this is an Amazon EC2 VM, not a .metal instance (${evidence})`;
  }
  const kind =
    VM_VENDORS.find(([pattern]) => vendor !== null && pattern.test(vendor))?.[1] ??
    VM_PRODUCTS.find(([pattern]) => product !== null && pattern.test(product))?.[1];
  return kind === undefined ? null : `${BARE_METAL_ONLY}: this is a ${kind} virtual machine (${evidence})`;
}

/** Evidence of AMD GPUs (only consulted when no NVIDIA driver is loaded). */
export async function amdEvidence(fs: HostFs): Promise<string | null> {
  if ((await fs.lstat('/dev/kfd'))?.type === 'char') return '/dev/kfd exists';
  if ((await fs.lstat('/sys/bus/pci/drivers/amdgpu')) !== null) return 'the amdgpu driver is in /sys/bus/pci/drivers';
  return null;
}

/** What the admin should mount when the daemon reads the host elsewhere than at `/`. */
export function mountHint(fs: HostFs, hostPath: string): string {
  return fs.root === '/' ? '' : `; if the node has it, mount the host's ${hostPath} at ${fs.root.replace(/\/$/, '')}${hostPath}`;
}
