import http from 'node:http';

/** What the target does with one request. */
export type TargetAnswer =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Answers `status`, then writes a body of `bytes` (or without end) as fast as it is read. */
  | { kind: 'stream'; status: number; bytes: number | 'endless' }
  /** Answers `status` after `delayMs` (beyond the dispatcher's timeout in tests). */
  | { kind: 'slow'; delayMs: number; status: number }
  /** Reads the request and never answers. */
  | { kind: 'hang' }
  /** Closes the connection without answering. */
  | { kind: 'destroy' };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Wall-clock time the body was fully read (ms since the epoch). */
  receivedAt: number;
}

export interface Target {
  url: string;
  received: ReceivedRequest[];
  /** Decides the answer per request; `index` counts requests from 0. */
  answer: (request: ReceivedRequest, index: number) => TargetAnswer;
  /** For each `stream` answer, in order: the body bytes written when the answer ended or its connection closed. */
  streamed: number[];
  /** Resolves once `count` requests have been received (or rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1 (port 0): the dispatcher's real HTTP path, no internet. */
export async function startTarget(answer: Target['answer'] = () => ({ kind: 'status', status: 200 })): Promise<Target> {
  const received: ReceivedRequest[] = [];
  const streamed: number[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
      };
      const index = received.length;
      received.push(request);
      for (const waiter of [...waiters]) {
        if (received.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      const decision = target.answer(request, index);
      switch (decision.kind) {
        case 'status':
          res.writeHead(decision.status, decision.headers ?? {});
          res.end(decision.body);
          return;
        case 'stream': {
          const slot = streamed.push(0) - 1;
          const chunk = Buffer.alloc(64 * 1024, 'a');
          const limit = decision.bytes;
          res.writeHead(decision.status, { 'content-type': 'text/plain' });
          const pump = (): void => {
            while (!res.destroyed) {
              const written = streamed[slot] ?? 0;
              if (limit !== 'endless' && written >= limit) {
                res.end();
                return;
              }
              const part = limit === 'endless' ? chunk : chunk.subarray(0, Math.min(chunk.length, limit - written));
              streamed[slot] = written + part.length;
              if (!res.write(part)) {
                res.once('drain', pump);
                return;
              }
            }
          };
          pump();
          return;
        }
        case 'slow': {
          const timer = setTimeout(() => {
            pendingTimers.delete(timer);
            if (!res.destroyed) {
              res.writeHead(decision.status);
              res.end();
            }
          }, decision.delayMs);
          pendingTimers.add(timer);
          return;
        }
        case 'hang':
          return;
        case 'destroy':
          req.socket.destroy();
          return;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the target server has no TCP address');
  const { port } = address;
  const target: Target = {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    streamed,
    answer,
    waitForRequests(count, timeoutMs = 5000) {
      if (received.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${count} requests, got ${received.length}`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    async close() {
      for (const timer of pendingTimers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return target;
}
