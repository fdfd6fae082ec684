import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkspaceSettings } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundMessage } from '../../src/engine/inputs.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

const PHONE = '+34600000001';

let engine: Engine;
let ws: WorkspaceEngine;
let next = 0;

beforeEach(async () => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
  ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy' } })).id);
});

afterEach(async () => {
  await engine.store.close();
});

function message(text: string): InboundMessage {
  next += 1;
  return { channel: 'whatsapp', messageId: `wamid.${next}`, from: { id: PHONE, name: 'Ana Test' }, text };
}

const typesOf = (events: readonly { type: string }[]): string[] => events.map((event) => event.type);

/** Keyword settings stored before opt-in and help keywords holding an opt-out word were refused. */
const STORED_KEYWORDS: WorkspaceSettings['keywords'] = {
  en: { removed: ['END'], opt_in: ['END', 'STOP PLEASE'], opt_out: [], help: ['CANCEL ORDER'] },
  es: { removed: ['ALTO'], opt_in: [], opt_out: [], help: ['alto'] },
};

async function storeKeywords(keywords: WorkspaceSettings['keywords']): Promise<void> {
  const workspace = await ws.get();
  await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: { ...workspace.settings, keywords }, updatedAt: workspace.updatedAt }));
}

describe('an added opt-in or help keyword holding an opt-out word', () => {
  it('is refused by a settings change, naming the field and the word, and nothing is stored', async () => {
    await expect(ws.updateSettings({ keywords: { en: { removed: ['END'], opt_in: ['END'] } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'keywords.en.opt_in.0', message: expect.stringContaining('the opt-out word END (en)') }],
    });
    await expect(ws.updateSettings({ keywords: { en: { help: ['cancel order'] } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'keywords.en.help.0', message: expect.stringContaining('help text') }],
    });
    await expect(ws.updateSettings({ keywords: { en: { opt_out: ['NO MORE'], opt_in: ['yes no more'] } } })).rejects.toMatchObject({
      issues: [{ path: 'keywords.en.opt_in.0', message: expect.stringContaining("the workspace's opt-out keyword NO MORE (en)") }],
    });
    expect((await ws.get()).settings.keywords).toEqual({});
  });

  it('is refused in a new workspace', async () => {
    await expect(engine.createWorkspace({ name: 'Globex', settings: { keywords: { es: { removed: ['ALTO'], help: ['Alto'] } } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'keywords.es.help.0' }],
    });
    expect((await engine.listWorkspaces()).map((workspace) => workspace.name)).toEqual(['Acme']);
  });

  it('stored before it was refused, still loads and does not block a change to another setting or another language', async () => {
    await storeKeywords(STORED_KEYWORDS);
    expect((await ws.get()).settings.keywords).toEqual(STORED_KEYWORDS);
    const changed = await ws.updateSettings({ defaultCountry: 'ES' });
    expect(changed.settings.keywords).toEqual(STORED_KEYWORDS);
    const otherLanguage = await ws.updateSettings({ keywords: { de: { opt_out: ['ABMELDEN'] } } });
    expect(otherLanguage.settings.keywords.en).toEqual(STORED_KEYWORDS.en);
    expect(otherLanguage.settings.keywords.de?.opt_out).toEqual(['ABMELDEN']);
    // Sending the list again is a change of it, and refused.
    await expect(ws.updateSettings({ keywords: { en: { opt_in: ['END', 'STOP PLEASE'] } } })).rejects.toMatchObject({
      issues: [{ path: 'keywords.en.opt_in.0' }, { path: 'keywords.en.opt_in.1' }],
    });
  });

  it('stored, never records consent or answers with help: the message raises optout.review_needed', async () => {
    await storeKeywords(STORED_KEYWORDS);
    for (const [text, language, matchedWord] of [
      ['End', 'en', 'END'],
      ['stop please', 'en', 'STOP'],
      ['cancel order', 'en', 'CANCEL'],
      ['Alto', 'es', 'ALTO'],
    ] as const) {
      const result = await ws.handleInbound(message(text));
      expect(result.keyword, text).toMatchObject({ intent: 'none', review: true, language });
      expect(typesOf(result.events), text).toEqual(['optout.review_needed']);
      expect(result.events[0]?.data).toMatchObject({ text, language, matchedWord });
      expect(result.replies, text).toEqual([]);
    }
  });
});

describe('opt-out words the review scan now reads', () => {
  it.each([
    ['STOPして', 'en', 'STOP'],
    ['配信STOP', 'en', 'STOP'],
    ['ＳＴＯＰでお願いします', 'en', 'STOP'],
    ['stopします', 'en', 'STOP'],
    ['Stopp!', 'de', 'STOPP'],
    ['ｽﾄｯﾌﾟ', 'ja', 'ストップ'],
    ['Quiero darme de baja', 'es', 'DARME DE BAJA'],
    ['UN SUBSCRIBE', 'en', 'UN SUBSCRIBE'],
  ])('%j records nothing, opens no conversation and raises optout.review_needed (%s, %s)', async (text, language, matchedWord) => {
    const result = await ws.handleInbound(message(text));
    expect(typesOf(result.events)).toEqual(['optout.review_needed']);
    expect(result.events[0]?.data).toMatchObject({ language, matchedWord });
    expect(result.conversationId).toBeNull();
    expect(result.replies).toEqual([]);
  });

  it.each(['See example.com/stop', 'shop.example.co.uk/unsubscribe', 'nonstopです'])('%j is no revocation: the conversation opens as for any message', async (text) => {
    const result = await ws.handleInbound(message(text));
    expect(typesOf(result.events)).not.toContain('optout.review_needed');
    expect(result.conversationId).not.toBeNull();
  });
});
