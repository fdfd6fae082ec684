import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

// `npm test` builds dist/ first, so these check what a consumer of the package gets.
describe('the built package', () => {
  it('has been built', () => {
    expect(existsSync(`${root}dist/src/index.js`)).toBe(true);
  });

  it("exports the engine from the package root ('consentry')", () => {
    const script = `
      const m = await import('consentry');
      const engine = m.createEngine({ store: m.createMemoryStore() });
      const ws = await engine.ensureDefaultWorkspace();
      const r = await engine.workspace(ws.id).handleInbound({ channel: 'sms', messageId: '1', from: { id: '+34600000001' }, text: 'STOP' });
      console.log(JSON.stringify({ intent: r.keyword.intent, events: r.events.map((e) => e.type), templates: [...m.TEMPLATES.keys()] }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({
      intent: 'opt_out',
      events: ['consent.withdrawn'],
      templates: ['request-consent-privacy', 'welcome-request-email', 'welcome-request-phone'],
    });
  });

  it("exports the embeddable server ('consentry/server') and the delivery helpers ('consentry/worker')", () => {
    const script = `
      const server = await import('consentry/server');
      const worker = await import('consentry/worker');
      const { createMemoryStore } = await import('consentry');
      const app = await server.buildApp({ store: createMemoryStore(), defaultMetrics: false });
      const health = await app.inject({ method: 'GET', url: '/health' });
      await app.close();
      const body = '{"id":"evt_1"}';
      const at = new Date('2026-03-01T09:00:00Z');
      const signed = worker.signDelivery('whsec_test', body, at);
      console.log(JSON.stringify({
        startServer: typeof server.startServer,
        health: health.statusCode,
        secretReader: typeof worker.getOutboundWebhookSecret,
        verified: worker.verifyDeliverySignature({ secret: 'whsec_test', body, timestamp: String(signed.timestamp), signature: signed.signature, now: at }),
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ startServer: 'function', health: 200, secretReader: 'function', verified: true });
  });

  it('runs the consentry binary from dist/', () => {
    const out = execFileSync(process.execPath, [`${root}bin/consentry.js`, 'classify', 'ＳＴＯＰ'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
  });
});
