import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

/** Keyword lists stored before a keyword listed twice was refused. */
const STORED_KEYWORDS: WorkspaceSettings['keywords'] = {
  es: { opt_in: [], opt_out: ['baja', 'BAJA', 'Baja'], help: [], removed: ['ALTO', 'alto'] },
};

async function storeKeywords(keywords: WorkspaceSettings['keywords']): Promise<void> {
  const workspace = await ws.get();
  await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: { ...workspace.settings, keywords }, updatedAt: workspace.updatedAt }));
}

const READS_AS = 'does, as keywords are compared (letter case, accents and the punctuation around them aside)';

describe('a keyword listed twice in one list', () => {
  it('is refused by a settings change, each repeat named, in the message too, and nothing is stored', async () => {
    const issues = [
      { path: 'keywords.es.opt_out.1', message: `"BAJA" is listed twice: it reads as keywords.es.opt_out.0 ("baja") ${READS_AS}` },
      { path: 'keywords.es.opt_out.2', message: `"Baja" is listed twice: it reads as keywords.es.opt_out.0 ("baja") ${READS_AS}` },
    ];
    await expect(ws.updateSettings({ keywords: { es: { opt_out: ['baja', 'BAJA', ' Baja '] } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: `Invalid settings: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
      issues,
    });
    expect((await ws.get()).settings.keywords).toEqual({});
  });

  it('is refused in a new workspace, whose every list is set', async () => {
    await expect(engine.createWorkspace({ name: 'Globex', settings: { keywords: { fr: { help: ['MENU', 'menu!'] } } } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'keywords.fr.help.1', message: `"menu!" is listed twice: it reads as keywords.fr.help.0 ("MENU") ${READS_AS}` }],
    });
  });

  it('is no repeat in another list or another language', async () => {
    const changed = await ws.updateSettings({ keywords: { es: { opt_out: ['BAJA'], help: ['MENU'] }, pt: { opt_out: ['baja'], help: ['menu'] } } });
    expect(changed.settings.keywords.es?.opt_out).toEqual(['BAJA']);
    expect(changed.settings.keywords.pt?.opt_out).toEqual(['baja']);
  });

  it('stored before it was refused, still loads and does not block a change to another setting or another list', async () => {
    await storeKeywords(STORED_KEYWORDS);
    expect((await ws.get()).settings.keywords).toEqual(STORED_KEYWORDS);
    expect((await ws.updateSettings({ defaultCountry: 'ES' })).settings.keywords).toEqual(STORED_KEYWORDS);
    const otherList = await ws.updateSettings({ keywords: { es: { help: ['MENU'] } } });
    expect(otherList.settings.keywords.es).toEqual({ ...STORED_KEYWORDS.es, help: ['MENU'] });
    // Sending the list again is a change of it, and refused.
    await expect(ws.updateSettings({ keywords: { es: { opt_out: ['baja', 'BAJA', 'Baja'] } } })).rejects.toMatchObject({
      issues: [{ path: 'keywords.es.opt_out.1' }, { path: 'keywords.es.opt_out.2' }],
    });
    await expect(ws.updateSettings({ keywords: { es: { removed: ['ALTO', 'alto'] } } })).rejects.toMatchObject({
      issues: [{ path: 'keywords.es.removed.1', message: `"alto" is listed twice: it reads as keywords.es.removed.0 ("ALTO") ${READS_AS}` }],
    });
  });
});
