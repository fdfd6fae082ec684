import { describe, expect, it } from 'vitest';
import { fieldMessage } from '../src/middleware.js';
import { controlCharacterIn, isPrivacyTag, tagKey } from '../src/tags.js';

describe('isPrivacyTag, as the server reads a tag', () => {
  it('is Consent: Privacy whatever its letter case, spacing and Unicode form', () => {
    for (const tag of ['Consent: Privacy', ' consent:  PRIVACY ', 'CONSENT: PRIVACY', 'Consent:\u00a0Privacy']) expect(isPrivacyTag(tag), tag).toBe(true);
  });

  it('is not a tag holding a control or bidirectional formatting character, which the server refuses for that character', () => {
    // A tab or a line break inside collapses to a space in tagKey: only the character check tells these apart.
    expect(tagKey('Consent:\tPrivacy')).toBe(tagKey('Consent: Privacy'));
    for (const tag of ['Consent:\tPrivacy', 'Consent:\nPrivacy', 'Consent:\r\nPrivacy', 'Consent:\u0085Privacy', 'Consent: Privacy\u202e', '\u200eConsent: Privacy']) {
      expect(isPrivacyTag(tag), JSON.stringify(tag)).toBe(false);
    }
  });

  it('is not another tag', () => {
    for (const tag of ['Consent: Privacy Policy', 'Consent:Privacy', 'Privacy']) expect(isPrivacyTag(tag), tag).toBe(false);
  });

  it('ignores a control character the server trims away around the tag', () => {
    expect(isPrivacyTag('\tConsent: Privacy\n')).toBe(true);
  });
});

describe('controlCharacterIn', () => {
  it('names the character as U+XXXX and its kind, in the server’s words', () => {
    expect(controlCharacterIn('a\tb')).toBe('contains U+0009, a control character');
    expect(controlCharacterIn('a\u009fb')).toBe('contains U+009F, a control character');
    expect(controlCharacterIn('a\u061cb')).toBe('contains U+061C, a bidirectional formatting character');
    expect(controlCharacterIn('a\u2066b')).toBe('contains U+2066, a bidirectional formatting character');
    expect(controlCharacterIn('Consent: Privacy')).toBeUndefined();
  });
});

describe('fieldMessage', () => {
  it('names the field once when the message already opens with it', () => {
    expect(fieldMessage('tag', 'tag contains U+0009, a control character')).toBe('tag contains U+0009, a control character');
    expect(fieldMessage('tags.0', 'tag contains U+0009, a control character')).toBe('tags.0: tag contains U+0009, a control character');
    expect(fieldMessage('tag', 'tagged twice')).toBe('tag: tagged twice');
    expect(fieldMessage('email', 'is required')).toBe('email: is required');
    expect(fieldMessage('', 'no contact')).toBe('no contact');
  });
});
