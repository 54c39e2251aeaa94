/** The node cannot pass GPUs as asked (API reason code GpuUnsupported; HTTP 422 at PUT). */
export class GpuUnsupportedError extends Error {
  readonly code = 'GpuUnsupported';
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnsupportedError';
  }
}
