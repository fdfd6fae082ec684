import { describe, expect, it, vi } from 'vitest';
import { boltLogger } from '../../../connectors/slack/logger.js';

describe('boltLogger', () => {
  it("writes Bolt's messages to the pino-style logger, errors as `err`", () => {
    const target = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const logger = boltLogger(target);
    const failure = new Error('database is locked');
    logger.error('Slack action failed for alert', 'al_1', failure);
    logger.warn({ reason: 'stale' });
    expect(target.error).toHaveBeenCalledWith({ err: failure, component: 'slack' }, 'Slack action failed for alert al_1');
    expect(target.warn).toHaveBeenCalledWith({ component: 'slack' }, '{"reason":"stale"}');
    logger.error(failure);
    expect(target.error).toHaveBeenLastCalledWith({ err: failure, component: 'slack' }, 'database is locked');
  });
});
