/**
 * A loopback HTTP proxy in front of the test registry that slows blob downloads to a trickle, so a test can act
 * in the middle of a pull, and records whether each blob response was delivered in full or cut off by the client.
 */
import { createServer, request, type Server } from 'node:http';

export interface BlobTransfer {
  path: string;
  /** `aborted`: the client (the engine) closed the connection before the last byte. */
  state: 'running' | 'completed' | 'aborted';
  bytes: number;
}

export class SlowProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** Every blob download so far, in order. */
    readonly transfers: readonly BlobTransfer[],
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Forwards to 127.0.0.1:`upstreamPort`; blob bodies go out in `chunkBytes` pieces every `intervalMs`. */
  static async start(upstreamPort: number, chunkBytes = 64 * 1024, intervalMs = 100): Promise<SlowProxy> {
    const transfers: BlobTransfer[] = [];
    const server = createServer((req, res) => {
      const upstream = request(
        { host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (!/\/blobs\/sha256:/.test(req.url ?? '') || req.method !== 'GET') {
            answer.pipe(res);
            return;
          }
          const transfer: BlobTransfer = { path: req.url ?? '', state: 'running', bytes: 0 };
          transfers.push(transfer);
          const pending: Buffer[] = [];
          let ended = false;
          answer.on('data', (chunk: Buffer) => pending.push(chunk));
          answer.on('end', () => (ended = true));
          const timer = setInterval(() => {
            let budget = chunkBytes;
            while (budget > 0 && pending.length > 0) {
              const head = pending[0] as Buffer;
              const piece = head.subarray(0, budget);
              if (piece.length === head.length) pending.shift();
              else pending[0] = head.subarray(budget);
              res.write(piece);
              transfer.bytes += piece.length;
              budget -= piece.length;
            }
            if (ended && pending.length === 0) {
              clearInterval(timer);
              transfer.state = 'completed';
              res.end();
            }
          }, intervalMs);
          res.on('close', () => {
            if (transfer.state === 'running') transfer.state = 'aborted';
            clearInterval(timer);
            answer.destroy();
          });
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return new SlowProxy(server, address.port, transfers);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }
}
