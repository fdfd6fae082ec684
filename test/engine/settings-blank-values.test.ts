import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILT_IN_REPLIES } from '../../src/core/replies.js';
import type { WorkspaceSettings } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

let engine: Engine;
let ws: WorkspaceEngine;

beforeEach(async () => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
  ws = engine.workspace((await engine.createWorkspace({ name: 'Acme' })).id);
});

afterEach(async () => {
  await engine.store.close();
});

const BLANK = 'is blank: a reply needs something besides white space and invisible characters';
const EMPTY = 'is empty once punctuation, symbols and white space are removed';

async function storeReplies(replies: WorkspaceSettings['replies']): Promise<void> {
  const workspace = await ws.get();
  await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: { ...workspace.settings, replies }, updatedAt: workspace.updatedAt }));
}

async function altoReplies(messageId: string): Promise<string[]> {
  const answer = await ws.handleInbound({ channel: 'sms', messageId, from: { id: '+34600000001' }, text: 'ALTO' });
  return answer.replies.map((reply) => reply.text);
}

describe('blank values in settings written through the engine', () => {
  it('a settings change refuses a blank reply text and says a null gives the built-in one', async () => {
    const issues = [{ path: 'replies.es.opt_out_confirmation', message: `${BLANK}; send null for the built-in text` }];
    await expect(ws.updateSettings({ replies: { es: { opt_out_confirmation: '\u200b' } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: `Invalid settings: replies.es.opt_out_confirmation: ${BLANK}; send null for the built-in text`,
      issues,
    });
    await expect(ws.previewSettings({ replies: { es: { opt_out_confirmation: '   ' } } })).rejects.toMatchObject({ issues });
    expect((await ws.get()).settings.replies).toEqual({});
  });

  it('a new workspace refuses one too, saying to leave it out, since its settings are no patch', async () => {
    await expect(engine.createWorkspace({ name: 'Globex', settings: { replies: { fr: { help: '' } } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'replies.fr.help', message: `${BLANK}; leave it out for the built-in text` }],
    });
  });

  it('names every keyword that reads as nothing in one refusal, from a change and in a new workspace', async () => {
    const keywords = { en: { opt_out: ['!!!'], help: ['   '], opt_in: ['\u200b'] } };
    const issues = [
      { path: 'keywords.en.opt_out.0', message: `"!!!" ${EMPTY}` },
      { path: 'keywords.en.opt_in.0', message: `"\u200b" ${EMPTY}` },
      { path: 'keywords.en.help.0', message: `"   " ${EMPTY}` },
    ];
    await expect(ws.updateSettings({ keywords })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues });
    await expect(engine.createWorkspace({ name: 'Globex', settings: { keywords } })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues });
  });

  it('a blank text stored before it was refused does not block a change to another setting, and is passed over for the built-in text', async () => {
    await storeReplies({ es: { opt_out_confirmation: '\u200b', help: '   ' } });
    const changed = await ws.updateSettings({ defaultCountry: 'ES' });
    expect(changed.settings.replies).toEqual({ es: { opt_out_confirmation: '\u200b', help: '   ' } });
    expect(await altoReplies('sms-alto')).toEqual([BUILT_IN_REPLIES.es.opt_out_confirmation]);
  });

  it('settings read and sent back whole keep a blank text stored before, while another blank text in the same patch is refused', async () => {
    await storeReplies({ es: { help: '   ' } });
    const read = await ws.get();
    const sentBack = await ws.updateSettings({ ...read.settings, defaultCountry: 'PT' });
    expect(sentBack.settings).toMatchObject({ defaultCountry: 'PT', replies: { es: { help: '   ' } } });
    await expect(ws.updateSettings({ replies: { es: { help: '   ', opt_in_confirmation: '\u200b' } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'replies.es.opt_in_confirmation' }],
    });
  });
});
