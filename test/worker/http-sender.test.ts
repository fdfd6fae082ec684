import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpSender, type DeliverySender } from '../../src/worker/http-sender.js';
import { startTarget } from './target-server.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function senderOf(options: Parameters<typeof createHttpSender>[0]): DeliverySender {
  const sender = createHttpSender(options);
  cleanup.push(() => sender.close());
  return sender;
}

const delivery = (url: string, timeoutMs: number) => ({ url, body: '{}', headers: { 'content-type': 'application/json' }, timeoutMs });

/**
 * A port on 127.0.0.1 whose TCP handshakes never complete, as a firewall that drops packets: a
 * child process listens with a backlog of one and then blocks its own event loop (Atomics.wait,
 * no CPU), so it never accepts; once two connections fill its queue, the kernel drops further
 * SYNs and a client's connect stays pending.
 */
async function unansweredPort(): Promise<number> {
  const script = [
    "const net = require('node:net');",
    "const fs = require('node:fs');",
    'const server = net.createServer();',
    "server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {",
    "  fs.writeSync(1, String(server.address().port) + '\\n');",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    '});',
  ].join('\n');
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString('utf8').trim())));
    child.once('error', reject);
  });
  // Fill the accept queue: these complete (the kernel answers them), any later one does not.
  for (let i = 0; i < 2; i += 1) {
    const filler = net.connect(port, '127.0.0.1');
    cleanup.push(() => void filler.destroy());
    await new Promise<void>((resolve, reject) => {
      filler.once('connect', resolve);
      filler.once('error', reject);
    });
  }
  return port;
}

describe('connect timeout', () => {
  it('gives up on a connection that does not open within the connect timeout, well before the request timeout', async () => {
    const port = await unansweredPort();
    const sender = senderOf({ allowPrivateTargets: true, connectTimeoutMs: 150 });
    const started = performance.now();
    const response = await sender.send(delivery(`http://127.0.0.1:${port}/hook`, 5000));
    const elapsed = performance.now() - started;
    expect(response).toMatchObject({ kind: 'network_error', code: 'ETIMEDOUT' });
    expect(response.kind === 'network_error' ? response.message : '').toContain("Timeout awaiting 'connect' for 150ms");
    expect(elapsed).toBeLessThan(2500);
  });

  it('leaves an opened connection the whole request timeout to answer', async () => {
    const target = await startTarget(() => ({ kind: 'slow', delayMs: 300, status: 200 }));
    cleanup.push(() => target.close());
    const sender = senderOf({ allowPrivateTargets: true, connectTimeoutMs: 100 });
    expect(await sender.send(delivery(target.url, 5000))).toMatchObject({ kind: 'response', statusCode: 200 });
  });
});

describe('targets with private targets allowed', () => {
  it('refuses a literal link-local address without connecting', async () => {
    const sender = senderOf({ allowPrivateTargets: true });
    const refused = [
      { url: 'http://169.254.169.254/latest/meta-data/', host: '169.254.169.254' },
      { url: 'http://[fe80::1]/hook', host: '[fe80::1]' },
      { url: 'http://[fd00:ec2::254]/latest/meta-data/', host: '[fd00:ec2::254]' },
    ];
    for (const { url, host } of refused) {
      expect(await sender.send(delivery(url, 1000))).toEqual({ kind: 'target_not_public', message: `${host} is a link-local or reserved address` });
    }
  });

  it('sends to a private or loopback address', async () => {
    const target = await startTarget();
    cleanup.push(() => target.close());
    const sender = senderOf({ allowPrivateTargets: true });
    expect(await sender.send(delivery(target.url, 5000))).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(target.received).toHaveLength(1);
  });
});
