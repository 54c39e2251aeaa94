/** The engine's inspect replies mapped onto ./types.ts. Pure: docker.ts makes the calls. */
import type Dockerode from 'dockerode';
import type { ContainerDetails, DeviceMapping, ImageDetails, VolumeDetails } from './types.js';

function toArray(v: string | string[] | null | undefined): string[] | null {
  if (v === null || v === undefined) return null;
  return Array.isArray(v) ? v : [v];
}

/** The image's layer directories from `GraphDriver` (overlay2 names the top one UpperDir, the rest LowerDir). */
function overlayLayerDirs(driver: { Name: string; Data: unknown } | undefined): { layerDirs?: string[] } {
  if (driver?.Name !== 'overlay2' || typeof driver.Data !== 'object' || driver.Data === null) return {};
  const data = driver.Data as Record<string, unknown>;
  if (typeof data['UpperDir'] !== 'string') return {};
  const lower = typeof data['LowerDir'] === 'string' && data['LowerDir'] !== '' ? data['LowerDir'].split(':') : [];
  return { layerDirs: [data['UpperDir'], ...lower] };
}

export function imageDetailsOf(img: Dockerode.ImageInspectInfo): ImageDetails {
  return {
    id: img.Id,
    repoDigests: img.RepoDigests,
    sizeBytes: img.Size,
    config: {
      entrypoint: toArray(img.Config.Entrypoint),
      cmd: toArray(img.Config.Cmd),
      env: img.Config.Env,
      stopSignal: (img.Config as { StopSignal?: string }).StopSignal ?? null,
    },
    ...overlayLayerDirs(img.GraphDriver),
  };
}

export function containerDetailsOf(c: Dockerode.ContainerInspectInfo): ContainerDetails {
  const hc = c.HostConfig as Dockerode.HostConfig & { Init?: boolean | null };
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Image,
    labels: c.Config.Labels,
    state: {
      status: c.State.Status,
      running: c.State.Running,
      exitCode: c.State.ExitCode,
      oomKilled: c.State.OOMKilled,
      pid: c.State.Pid,
      startedAt: c.State.StartedAt,
      finishedAt: c.State.FinishedAt,
    },
    config: {
      entrypoint: toArray(c.Config.Entrypoint),
      cmd: toArray(c.Config.Cmd),
      stopSignal: (c.Config as { StopSignal?: string }).StopSignal ?? null,
      hostname: c.Config.Hostname,
      env: c.Config.Env,
      workingDir: c.Config.WorkingDir,
    },
    hostConfig: {
      runtime: hc.Runtime ?? 'runc',
      privileged: hc.Privileged ?? false,
      networkMode: hc.NetworkMode ?? '',
      pidMode: hc.PidMode ?? '',
      ipcMode: hc.IpcMode ?? '',
      utsMode: hc.UTSMode ?? '',
      usernsMode: hc.UsernsMode ?? '',
      init: hc.Init ?? null,
      binds: hc.Binds ?? [],
      devices: ((hc.Devices ?? []) as DeviceMapping[]).map((d) => ({
        PathOnHost: d.PathOnHost,
        PathInContainer: d.PathInContainer,
        CgroupPermissions: d.CgroupPermissions,
      })),
    },
    mounts: c.Mounts.map((m) => ({
      type: m.Type,
      source: m.Source,
      destination: m.Destination,
      name: m.Name ?? null,
      rw: m.RW,
    })),
  };
}

/** The engine answers `"Options": null` (and sometimes `"Labels": null`) when there are none. */
export function volumeDetailsOf(v: Dockerode.VolumeInspectInfo): VolumeDetails {
  const labels = v.Labels as VolumeDetails['labels'] | null;
  return { name: v.Name, labels: labels ?? {}, mountpoint: v.Mountpoint, driver: v.Driver, options: v.Options ?? {} };
}
