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

  it('runs the consentry binary from dist/', () => {
    const out = execFileSync(process.execPath, [`${root}bin/consentry.js`, 'classify', 'ＳＴＯＰ'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
  });
});
