/**
 * NVIDIA_DRIVER_CAPABILITIES and the driver files each one brings, after libnvidia-container's own lists
 * (nvc_info.c). Libraries are matched by exact base name (`libcuda` matches `libcuda.so.<driver version>` only),
 * so an unrelated library such as libglib can never be picked.
 */
import { InvalidSpecError } from '../errors.js';

export const CAPABILITIES = ['utility', 'compute', 'video', 'graphics', 'display'] as const;
export type Capability = (typeof CAPABILITIES)[number];

const DEFAULT_CAPABILITIES: readonly Capability[] = ['compute', 'utility'];

export const DRIVER_FILES: Readonly<Record<Capability, { libraries: readonly string[]; binaries: readonly string[] }>> = {
  utility: { libraries: ['libnvidia-ml', 'libnvidia-cfg'], binaries: ['nvidia-smi', 'nvidia-debugdump', 'nvidia-persistenced'] },
  compute: {
    libraries: [
      'libcuda',
      'libcudadebugger',
      'libnvidia-ptxjitcompiler',
      'libnvidia-nvvm',
      'libnvidia-opencl',
      'libnvidia-gpucomp',
      'libnvidia-allocator',
      'libnvidia-compiler',
      'libnvidia-fatbinaryloader',
      'libnvidia-pkcs11',
      'libnvidia-pkcs11-openssl3',
    ],
    binaries: ['nvidia-cuda-mps-control', 'nvidia-cuda-mps-server'],
  },
  video: { libraries: ['libvdpau_nvidia', 'libnvidia-encode', 'libnvidia-opticalflow', 'libnvcuvid'], binaries: [] },
  graphics: {
    libraries: [
      'libnvidia-eglcore',
      'libnvidia-glcore',
      'libnvidia-tls',
      'libnvidia-glsi',
      'libnvidia-fbc',
      'libnvidia-ifr',
      'libnvidia-rtcore',
      'libnvoptix',
      'libGLX_nvidia',
      'libEGL_nvidia',
      'libGLESv2_nvidia',
      'libGLESv1_CM_nvidia',
      'libnvidia-glvkspirv',
      'libnvidia-cbl',
    ],
    binaries: [],
  },
  display: { libraries: ['libnvidia-wayland-client'], binaries: [] },
};

/** `compute,utility`, `all`; empty means the default (as the NVIDIA toolkit reads it). */
export function parseCapabilities(raw: string | undefined, where: string): Capability[] {
  const words = (raw ?? '').split(',').map((w) => w.trim()).filter((w) => w !== '');
  if (words.length === 0) return CAPABILITIES.filter((c) => DEFAULT_CAPABILITIES.includes(c));
  if (words.includes('all')) return [...CAPABILITIES];
  const unknown = words.filter((w) => !(CAPABILITIES as readonly string[]).includes(w));
  if (unknown.length > 0) {
    throw new InvalidSpecError(where, `unknown capability ${unknown.join(', ')} (allowed: ${CAPABILITIES.join(', ')}, all)`);
  }
  return CAPABILITIES.filter((c) => words.includes(c));
}
