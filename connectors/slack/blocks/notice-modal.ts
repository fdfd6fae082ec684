import type { types } from '@slack/bolt';
import { textSection } from './common.js';

/**
 * A modal that only shows a message, for someone no ephemeral message reaches: chat.postEphemeral
 * needs them in the channel, and a modal submission has no response_url. `text` must already be
 * inert mrkdwn (escape.ts). A modal title is at most 24 characters
 * (https://docs.slack.dev/reference/views).
 */
export function noticeModal(text: string): types.ModalView {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'Consentry' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [textSection(text)],
  };
}
