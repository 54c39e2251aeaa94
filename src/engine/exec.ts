/** Runs a command in a running container (the exec API): its output demultiplexed into stdout and stderr. */
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { toEngineError } from './engine-errors.js';
import type { ExecOptions } from './types.js';

export async function execInContainer(docker: Dockerode, containerId: string, options: ExecOptions): Promise<{ exitCode: number }> {
  try {
    const exec = await docker.getContainer(containerId).exec({
      Cmd: options.cmd,
      AttachStdin: options.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      ...(options.user !== undefined ? { User: options.user } : {}),
      ...(options.env ? { Env: options.env } : {}),
      ...(options.workingDir !== undefined ? { WorkingDir: options.workingDir } : {}),
    });
    const stream = await exec.start({ hijack: true, stdin: options.stdin !== undefined });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (chunk: Buffer) => options.onOutput?.('stdout', chunk));
    stderr.on('data', (chunk: Buffer) => options.onOutput?.('stderr', chunk));
    docker.modem.demuxStream(stream, stdout, stderr);
    const onAbort = (): void => {
      stream.destroy();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.stdin !== undefined) stream.end(options.stdin);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => {
        resolve();
      });
    });
    options.signal?.removeEventListener('abort', onAbort);
    const result = await exec.inspect();
    return { exitCode: result.ExitCode ?? -1 };
  } catch (err) {
    throw toEngineError('exec', err);
  }
}
