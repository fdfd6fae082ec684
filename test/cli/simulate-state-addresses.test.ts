import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runTranscript, type TranscriptLine } from '../../src/cli/simulate.js';
import { createEngine } from '../../src/engine.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { cli } from './helpers.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-simulate-state-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

type State = Extract<TranscriptLine, { kind: 'state' }>;

function finalState(lines: readonly TranscriptLine[]): State {
  const last = lines.at(-1);
  if (last?.kind !== 'state') throw new Error('a transcript ends with the state');
  return last;
}

/** The contact the API shows after the same answer: `email` and `phone` of its own, `fields` for custom fields only. */
async function apiContactAfterPhoneAnswer(): Promise<{ email: string | null; phone: string | null; fields: Record<string, string> }> {
  const engine = createEngine({ store: createMemoryStore() });
  const { id } = await engine.createWorkspace({
    name: 'Shop',
    settings: { defaultCountry: 'ES', triggers: [{ trigger: 'conversation_opened', template: 'welcome-request-phone', enabled: true }] },
  });
  const workspace = engine.workspace(id);
  const contact = await workspace.createContact({ identities: [{ channel: 'webchat', externalId: 'visitor-1' }] });
  await workspace.handleInbound({ channel: 'webchat', messageId: 'm1', from: { id: 'visitor-1' }, text: 'hi' });
  await workspace.handleInbound({ channel: 'webchat', messageId: 'm2', from: { id: 'visitor-1' }, text: '600 000 001' });
  const { email, phone, fields } = await workspace.getContact(contact.id);
  return { email, phone, fields };
}

describe("simulate's state line: the contact's e-mail and phone of their own, and among the fields a question saves to", () => {
  it('a phone the welcome saves is the state\'s phone, as on the API\'s contact, and in its fields', async () => {
    const lines = await runTranscript({
      template: 'welcome-request-phone',
      channel: 'webchat',
      settings: { defaultCountry: 'ES' },
      steps: [{ text: 'hi' }, { after: '10s', text: '600 000 001' }],
    });
    const { email, phone, fields } = finalState(lines);
    expect({ email, phone, fields }).toEqual({ email: null, phone: '+34600000001', fields: { phone: '+34600000001' } });
    const api = await apiContactAfterPhoneAnswer();
    expect({ email, phone }).toEqual({ email: api.email, phone: api.phone });
    expect(api.fields).toEqual({});
  });

  it("the transcript contact's e-mail and phone are the state's, null when unknown", async () => {
    const known = finalState(
      await runTranscript({
        template: 'request-consent-privacy',
        contact: { email: 'ana@example.com', phone: '+34 600 000 002' },
        steps: [],
      }),
    );
    expect(known).toMatchObject({ email: 'ana@example.com', phone: '+34600000002', fields: { email: 'ana@example.com', phone: '+34600000002' } });
    const unknown = finalState(await runTranscript({ template: 'request-consent-privacy', steps: [] }));
    expect(unknown).toMatchObject({ email: null, phone: null, fields: {}, conversation: 'closed' });
  });

  it('--script prints the state line with email and phone keys, in this order', async () => {
    const script = join(dir, 'email.json');
    writeFileSync(script, JSON.stringify({ template: 'welcome-request-email', steps: [{ text: 'hi' }, { after: '10s', text: 'Ana@Example.com' }] }));
    const run = await cli(['simulate', '--script', script]);
    expect(run.code, run.stderr).toBe(0);
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    const state: unknown = JSON.parse(last);
    expect(Object.keys(state as object)).toEqual(['kind', 'tags', 'email', 'phone', 'fields', 'consents', 'conversation']);
    expect(state).toMatchObject({ kind: 'state', email: 'ana@example.com', phone: null, fields: { email: 'ana@example.com' } });
  });

  it('/state in a chat prints the same line', async () => {
    const run = await cli(['simulate', '--template', 'welcome-request-phone'], { stdin: 'hi\n+34 600 000 003\n/state\n' });
    expect(run.code, run.stderr).toBe(0);
    const state = run.stdout.split('\n').filter((line) => line.startsWith('{')).at(-1) ?? '';
    expect(JSON.parse(state)).toMatchObject({ kind: 'state', email: null, phone: '+34600000003', fields: { phone: '+34600000003' } });
  });
});
