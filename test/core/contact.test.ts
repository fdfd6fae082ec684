import { describe, expect, it } from 'vitest';
import {
  addIdentity,
  addTag,
  canonicalContactId,
  eraseContactData,
  fieldKey,
  firstName,
  foldTypedValue,
  hasTag,
  normalizeEmail,
  normalizePhone,
  removeTag,
  setField,
  tryNormalizeEmail,
  tryNormalizePhone,
  tryReadTypedEmail,
  type Contact,
} from '../../src/core/contact.js';
import { ConsentryError } from '../../src/core/errors.js';

function contact(overrides: Partial<Contact> = {}): Contact {
  return {
    id: 'ct_1',
    workspaceId: 'ws_1',
    name: 'Ana Test',
    email: 'ana.test@example.com',
    phone: '+34600000001',
    identities: [{ channel: 'whatsapp', externalId: '34600000001' }],
    fields: { company: 'Example Ltd' },
    tags: ['VIP'],
    hubspotId: '101',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-02T00:00:00.000Z',
    erasedAt: null,
    ...overrides,
  };
}

function caught(action: () => unknown): ConsentryError {
  try {
    action();
  } catch (error) {
    if (error instanceof ConsentryError) return error;
    throw error;
  }
  throw new Error('expected a ConsentryError');
}

describe('normalizeEmail', () => {
  it('trims and lower-cases the whole address', () => {
    expect(normalizeEmail('  Ana.Test@Example.COM ')).toBe('ana.test@example.com');
    expect(normalizeEmail('ANA+news@mail.example.co.uk')).toBe('ana+news@mail.example.co.uk');
  });

  it.each([
    ['', 'empty'],
    ['ana.test', 'exactly one "@"'],
    ['ana@test@example.com', 'exactly one "@"'],
    ['ana test@example.com', 'not a valid email'],
    ['ana@example', 'not a valid email'],
    ['ana@-example.com', 'not a valid email'],
    ['ana@example..com', 'not a valid email'],
    ['.ana@example.com', 'cannot start or end with "."'],
    ['ana..test@example.com', 'contain ".."'],
    ['@example.com', 'not a valid email'],
  ])('rejects %j with INVALID_EMAIL on path "email"', (raw, fragment) => {
    const error = caught(() => normalizeEmail(raw));
    expect(error.code).toBe('INVALID_EMAIL');
    expect(error.message).toContain(fragment);
    // The issue names the field only by its path.
    expect(error.issues).toEqual([{ path: 'email', message: error.message.replace(/^email /, '') }]);
  });

  it('enforces the 64-character local part and the 254-character total', () => {
    expect(normalizeEmail(`${'a'.repeat(64)}@example.com`)).toHaveLength(76);
    expect(caught(() => normalizeEmail(`${'a'.repeat(65)}@example.com`)).message).toContain('64');
    const domain = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example.com`;
    const atLimit = `${'a'.repeat(254 - domain.length - 1)}@${domain}`;
    expect(atLimit).toHaveLength(254);
    expect(normalizeEmail(atLimit)).toBe(atLimit);
    expect(caught(() => normalizeEmail(`a${atLimit}`)).message).toContain('254');
  });

  it('tryNormalizeEmail returns null instead of throwing', () => {
    expect(tryNormalizeEmail(' Ana.Test@example.com')).toBe('ana.test@example.com');
    expect(tryNormalizeEmail('my email is ana')).toBeNull();
  });
});

describe('normalizeEmail and internationalised domains', () => {
  it.each([
    ['ana@xn--e1afmkfd.xn--p1ai', 'ana@xn--e1afmkfd.xn--p1ai'],
    ['Ana@Example.XN--P1AI', 'ana@example.xn--p1ai'],
    ['ana@xn--r8jz45g.xn--zckzah', 'ana@xn--r8jz45g.xn--zckzah'],
  ])('takes %j, whose top-level domain is the ASCII form of a Unicode one, as %j', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected);
  });

  it.each([
    'ana@example.123',
    'a@b',
    'ana@example.c',
    'ana@1.2.3.4',
    'ana@example.xn--',
    'ana@example.xn-p1ai',
    'ana@example.xn--p1ai-',
    // "xn--" followed by what is no Punycode, at the end or anywhere in the domain.
    'ana@example.xn--1',
    'ana@example.xn--zz',
    'ana@xn--1.com',
    `ana@example.xn--${'a'.repeat(60)}`,
  ])('still refuses %j', (raw) => {
    const error = caught(() => normalizeEmail(raw));
    expect(error.code).toBe('INVALID_EMAIL');
    expect(error.message).toBe(`"${raw}" is not a valid email address`);
  });
});

describe('tryReadTypedEmail', () => {
  it.each([
    ['Ana Test <Ana@Example.com>', 'ana@example.com'],
    ['Ana Test <ana@example.com>.', 'ana@example.com'],
    ['<ana@example.com>!', 'ana@example.com'],
    ['<ana@example.com.>', 'ana@example.com'],
    ['mailto:ana@example.com.', 'ana@example.com'],
    ['ana@example.com.', 'ana@example.com'],
    ['ana@münchen.de', 'ana@xn--mnchen-3ya.de'],
    ['ana@пример.рф', 'ana@xn--e1afmkfd.xn--p1ai'],
    ['Ana Test <ana@пример.рф>.', 'ana@xn--e1afmkfd.xn--p1ai'],
    ['ana@例え.テスト', 'ana@xn--r8jz45g.xn--zckzah'],
  ])('reads %j as %j', (typed, expected) => {
    expect(tryReadTypedEmail(typed)).toBe(expected);
  });

  it.each(['it is ana@example.com', 'Ana Test <ana@example.com>, thanks', 'ana@example', 'ana@пример', 'ana@example.1', 'ana@exa mple.com'])('reads no address in %j', (typed) => {
    expect(tryReadTypedEmail(typed)).toBeNull();
  });
});

describe('normalizePhone', () => {
  it.each([
    ['+34 600-000-001', null, '+34600000001'],
    ['+34600000001', 'GB', '+34600000001'],
    ['600 000 001', 'ES', '+34600000001'],
    ['600.000.001', 'es', '+34600000001'],
    ['0034 600 000 001', 'ES', '+34600000001'],
    ['+44 (0)20 7946 0000', null, '+442079460000'],
    ['07400 123456', 'GB', '+447400123456'],
    ['(201) 555-0123', 'US', '+12015550123'],
    ['+1 201 555 0123', 'ES', '+12015550123'],
    ['06 12 34 56 78', 'FR', '+33612345678'],
    ['+49 1512 3456789', null, '+4915123456789'],
    ['+55 11 91234-5678', null, '+5511912345678'],
    ['+81 90-1234-5678', null, '+819012345678'],
    ['  +61 412 345 678\t', null, '+61412345678'],
  ])('%j with default country %j is %s', (raw, country, expected) => {
    expect(normalizePhone(raw, country)).toBe(expected);
  });

  it('asks for a country code when a national number has no default country', () => {
    const error = caught(() => normalizePhone('600 000 001', null));
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.message).toContain('no country code');
    expect(error.message).toContain('default country');
    expect(error.issues).toEqual([{ path: 'phone', message: error.message }]);
  });

  it.each([
    ['+34 123', null, 'not a valid phone number'],
    ['12345', 'ES', 'read with default country ES'],
    ['+44 7700 900123', null, 'not a valid phone number'],
    ['+34 500 000 001', null, 'not a valid phone number'],
    ['+34 (0) 600 000 001', null, 'not a valid phone number'],
    ['call me', 'ES', 'only digits'],
    ['+34 600 000 001 ext. 5', null, 'only digits'],
    ['', 'ES', 'empty'],
    ['600 000 001', 'XX', 'not a supported'],
  ])('rejects %j (default %j) with INVALID_PHONE', (raw, country, fragment) => {
    const error = caught(() => normalizePhone(raw, country));
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.message).toContain(fragment);
    expect(error.issues[0]?.path).toBe('phone');
  });

  it('reads a national number in the default country, so the same digits differ per country', () => {
    expect(normalizePhone('612 345 678', 'ES')).toBe('+34612345678');
    expect(normalizePhone('612 345 678', 'FR')).toBe('+33612345678');
  });

  it('tryNormalizePhone returns null instead of throwing', () => {
    expect(tryNormalizePhone('+34 600 000 001', null)).toBe('+34600000001');
    expect(tryNormalizePhone('not a number', 'ES')).toBeNull();
    expect(tryNormalizePhone('600 000 001', null)).toBeNull();
  });
});

describe('normalizePhone: the international prefix 00', () => {
  it.each([
    ['0034 600 000 001', null, '+34600000001'],
    ['0034600000001', null, '+34600000001'],
    ['00 44 20 7946 0000', null, '+442079460000'],
    ['００３４ ６００ ０００ ００１', null, '+34600000001'],
    ['\u200e0034-600-000-001\u200f', null, '+34600000001'],
    ['0034 600 000 001', 'ES', '+34600000001'],
    ['0033 6 12 34 56 78', 'DE', '+33612345678'],
  ])('reads %j (default %j) as %s', (raw, country, expected) => {
    expect(normalizePhone(raw, country)).toBe(expected);
    expect(tryNormalizePhone(raw, country)).toBe(expected);
  });

  it('says it read the 00 as + when what follows is no valid number', () => {
    for (const raw of ['00346000000001', '00 34 123', '00']) {
      const error = caught(() => normalizePhone(raw, null));
      expect(error.code).toBe('INVALID_PHONE');
      expect(error.message).toBe(`"${raw}" is not a valid phone number (its 00 read as the international prefix +)`);
      expect(error.issues).toEqual([{ path: 'phone', message: error.message }]);
    }
  });

  it("leaves a default country's own dialling to it: from the US (international prefix 011), 0034… is no number", () => {
    expect(caught(() => normalizePhone('0034 600 000 001', 'US')).message).toBe('"0034 600 000 001" is not a valid phone number (read with default country US)');
  });

  it('still asks for a country code for a national number starting with a single 0', () => {
    expect(caught(() => normalizePhone('06 12 34 56 78', null)).message).toContain('has no country code');
    expect(caught(() => normalizePhone('0 034 600 000 001', null)).message).toContain('has no country code');
  });
});

describe('normalizePhone: a number a spreadsheet mangled', () => {
  it('says a number in scientific notation, as a spreadsheet shows a long one, has lost its digits', () => {
    for (const raw of ['3.46111E+10', '3,46111E+10', '3.46111e10', '+3.46111E+10']) {
      const error = caught(() => normalizePhone(raw, 'ES'));
      expect(error.code).toBe('INVALID_PHONE');
      expect(error.issues).toEqual([
        { path: 'phone', message: `"${raw}" is a number in scientific notation, as a spreadsheet shows a long number: its digits are lost; export the phone column as text` },
      ]);
    }
  });

  it('names the number with + in front of one written without it that reads as no number, when that one is valid', () => {
    const hint = '; if it is an international number whose + was dropped, write +4915112345678';
    expect(caught(() => normalizePhone('4915112345678', 'ES')).message).toBe(`"4915112345678" is not a valid phone number (read with default country ES)${hint}`);
    expect(caught(() => normalizePhone('4915112345678', null)).message).toBe(
      `"4915112345678" has no country code: write it in international format (e.g. +34 600 000 001) or set the workspace default country${hint}`,
    );
    expect(caught(() => normalizePhone('49 151 12345678', 'ES')).message).toContain('write +49 151 12345678');
    // "+" in front makes no valid number: no hint.
    expect(caught(() => normalizePhone('600 000 00', 'ES')).message).toBe('"600 000 00" is not a valid phone number (read with default country ES)');
    expect(caught(() => normalizePhone('+4915112345', 'ES')).message).toBe('"+4915112345" is not a valid phone number');
  });
});

describe('phone and e-mail as chat apps and input methods write them', () => {
  // What a copy from a chat app or address book, or a Japanese or Chinese input method, makes of
  // a number or an address the person typed correctly.
  it.each([
    ['\u202a+34 600 00 00 01\u202c', 'ES', '+34600000001'],
    ['\u200e+34600000001', 'ES', '+34600000001'],
    ['\u2066+34 600 000 001\u2069', null, '+34600000001'],
    ['\u200b+34 600 000 001\ufeff', null, '+34600000001'],
    ['０９０－１２３４－５６７８', 'JP', '+819012345678'],
    ['０９０ー１２３４ー５６７８', 'JP', '+819012345678'],
    ['＋３４　６００　０００　００１', null, '+34600000001'],
    ['＋３４６０００００００１', 'ES', '+34600000001'],
    ['（＋３４）６００ ０００ ００１', null, '+34600000001'],
    ['(+34) 600 000 001', 'ES', '+34600000001'],
    ['(+34) 600 000 001', null, '+34600000001'],
    ['( +81 ) 90-1234-5678', null, '+819012345678'],
    ['+34\u00a0600\u202f000\u2011001', null, '+34600000001'],
    ['+34 600\u2013000\u2013001', null, '+34600000001'],
  ])('reads phone %j (default %j) as %s', (raw, country, expected) => {
    expect(normalizePhone(raw, country)).toBe(expected);
    expect(tryNormalizePhone(raw, country)).toBe(expected);
  });

  it.each([
    ['ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'ana@example.com'],
    ['ana＠example.com', 'ana@example.com'],
    ['\u200eana@example.com\u200e', 'ana@example.com'],
    ['\u200bana@example.com', 'ana@example.com'],
    ['\u202aAna.Test@Example.COM\u202c', 'ana.test@example.com'],
    ['\ufeffana@exam\u00adple.com', 'ana@example.com'],
  ])('reads e-mail %j as %s', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected);
    expect(tryNormalizeEmail(raw)).toBe(expected);
  });

  it('still refuses what is no number, naming it once folded, with the usual messages', () => {
    // The digits of "＋３４６００００００００１" are one too many for a Spanish number, as in ASCII.
    expect(caught(() => normalizePhone('＋３４６００００００００１', 'ES')).message).toBe('"+346000000001" is not a valid phone number');
    expect(caught(() => normalizePhone('+346000000001', 'ES')).message).toBe('"+346000000001" is not a valid phone number');
    expect(caught(() => normalizePhone('\u202a+34 600 000 001 ext. 5\u202c', null)).message).toContain('may contain only digits');
    expect(caught(() => normalizePhone('ｃａｌｌ ｍｅ', 'ES')).message).toBe('"call me" may contain only digits, "+", spaces and the characters - . / ( )');
    expect(caught(() => normalizePhone('\u200b\u200e', 'ES')).message).toBe('phone is empty');
    expect(caught(() => normalizePhone('０９０－１２３４－５６７８', null)).message).toContain('"090-1234-5678" has no country code');
    expect(caught(() => normalizePhone('(+34)(0) 600 000 001', null)).message).toContain('not a valid phone number');
    expect(caught(() => normalizePhone('600 (+34) 000 001', 'ES')).message).toContain('not a valid phone number');
    expect(caught(() => normalizePhone('(+34 600 000 001', null)).message).toContain('no country code');
  });

  it('still refuses what is no address, with the usual messages', () => {
    expect(caught(() => normalizeEmail('ａｎａ＠ｅｘａｍｐｌｅ')).message).toBe('"ana@example" is not a valid email address');
    expect(caught(() => normalizeEmail('\u200b')).message).toBe('email is empty');
    // The issue names the field only by its path.
    expect(caught(() => normalizeEmail('\u200b')).issues).toEqual([{ path: 'email', message: 'is empty' }]);
    expect(caught(() => normalizePhone(' ', 'ES')).issues).toEqual([{ path: 'phone', message: 'is empty' }]);
    expect(caught(() => normalizeEmail('ana＠＠example.com')).message).toContain('exactly one "@"');
    expect(caught(() => normalizeEmail('ana test@example.com')).code).toBe('INVALID_EMAIL');
    expect(tryNormalizeEmail('ana@例え.jp')).toBeNull();
  });

  it('foldTypedValue folds compatibility forms and drops every default-ignorable code point, and only those', () => {
    expect(foldTypedValue(' \u200e\u202a＋３４ ６００\u202c\u2069 ')).toBe('+34 600');
    expect(foldTypedValue('a\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u061c\ufe0fb')).toBe('ab');
    expect(foldTypedValue('ana@example。com')).toBe('ana@example。com');
    expect(foldTypedValue('ｶﾅ')).toBe('カナ');
  });
});

describe('tags', () => {
  it('adds a cleaned tag to a new contact and leaves the original alone', () => {
    const original = contact();
    const { contact: updated, changed } = addTag(original, '  Spring   sale ');
    expect(changed).toBe(true);
    expect(updated.tags).toEqual(['VIP', 'Spring sale']);
    expect(original.tags).toEqual(['VIP']);
    expect(updated).not.toBe(original);
  });

  it('treats tags equal ignoring case and spacing, keeping the spelling written first', () => {
    const original = contact();
    const result = addTag(original, ' vip ');
    expect(result.changed).toBe(false);
    expect(result.contact).toBe(original);
    expect(hasTag(original, 'Vip')).toBe(true);
    expect(hasTag(original, 'V I P')).toBe(false);
    const withSale = addTag(original, 'Spring sale').contact;
    expect(hasTag(withSale, 'SPRING\tSALE')).toBe(true);
  });

  it('removes a tag case-insensitively without touching the original', () => {
    const original = contact({ tags: ['VIP', 'Spring sale'] });
    const { contact: updated, changed } = removeTag(original, 'spring  SALE');
    expect(changed).toBe(true);
    expect(updated.tags).toEqual(['VIP']);
    expect(original.tags).toEqual(['VIP', 'Spring sale']);
    const again = removeTag(updated, 'spring sale');
    expect(again.changed).toBe(false);
    expect(again.contact).toBe(updated);
  });

  it('removes by a spelling with a control or bidirectional character only a tag stored with that very spelling, else refuses it', () => {
    const privacy = contact({ tags: ['Consent: Privacy', 'old\u0001tag'] });
    expect(caught(() => removeTag(privacy, 'Consent:\tPrivacy')).issues).toEqual([{ path: 'tag', message: 'tag contains U+0009, a control character' }]);
    expect(caught(() => removeTag(privacy, 'consent:\u200fprivacy')).issues).toEqual([
      { path: 'tag', message: 'tag contains U+200F, a bidirectional formatting character' },
    ]);
    const { contact: updated, changed } = removeTag(privacy, ' OLD\u0001TAG ');
    expect(changed).toBe(true);
    expect(updated.tags).toEqual(['Consent: Privacy']);
    expect(caught(() => removeTag(updated, 'old\u0001tag')).code).toBe('VALIDATION_FAILED');
  });

  it('validates tags: not empty, at most 100 characters', () => {
    expect(caught(() => addTag(contact(), '   ')).issues).toEqual([{ path: 'tag', message: 'tag is empty' }]);
    expect(addTag(contact(), 'x'.repeat(100)).changed).toBe(true);
    const tooLong = caught(() => addTag(contact(), 'x'.repeat(101)));
    expect(tooLong.code).toBe('VALIDATION_FAILED');
    expect(tooLong.issues[0]?.path).toBe('tag');
    expect(hasTag(contact(), '')).toBe(false);
  });

  it('refuses to tag an erased contact', () => {
    const erased = eraseContactData(contact(), '2025-02-01T00:00:00.000Z');
    expect(caught(() => addTag(erased, 'VIP')).code).toBe('CONTACT_ERASED');
  });
});

describe('setField', () => {
  it('sets, changes and removes a field on new contacts', () => {
    const original = contact();
    const set = setField(original, ' plan ', 'pro');
    expect(set.changed).toBe(true);
    expect(set.contact.fields).toEqual({ company: 'Example Ltd', plan: 'pro' });
    expect(original.fields).toEqual({ company: 'Example Ltd' });

    const same = setField(set.contact, 'plan', 'pro');
    expect(same.changed).toBe(false);
    expect(same.contact).toBe(set.contact);

    const changed = setField(set.contact, 'plan', 'free');
    expect(changed.contact.fields.plan).toBe('free');
    expect(set.contact.fields.plan).toBe('pro');

    const removed = setField(changed.contact, 'company', null);
    expect(removed.changed).toBe(true);
    expect(removed.contact.fields).toEqual({ plan: 'free' });
    expect(setField(removed.contact, 'company', null).changed).toBe(false);
  });

  it('validates the name and the value length', () => {
    expect(caught(() => setField(contact(), ' ', 'x')).issues[0]?.path).toBe('name');
    expect(caught(() => setField(contact(), 'n'.repeat(101), 'x')).issues[0]?.path).toBe('name');
    expect(caught(() => setField(contact(), '__proto__', 'x')).issues[0]?.path).toBe('name');
    expect(caught(() => setField(contact(), 'bio', 'x'.repeat(5001))).issues[0]?.path).toBe('fields.bio');
    expect(setField(contact(), 'bio', 'x'.repeat(5000)).changed).toBe(true);
  });
});

describe('addIdentity', () => {
  it('adds a new identity once', () => {
    const original = contact();
    const added = addIdentity(original, { channel: 'telegram', externalId: ' tg-42 ' });
    expect(added.changed).toBe(true);
    expect(added.contact.identities).toEqual([
      { channel: 'whatsapp', externalId: '34600000001' },
      { channel: 'telegram', externalId: 'tg-42' },
    ]);
    expect(original.identities).toHaveLength(1);
    const again = addIdentity(added.contact, { channel: 'telegram', externalId: 'tg-42' });
    expect(again.changed).toBe(false);
    expect(again.contact).toBe(added.contact);
    expect(addIdentity(added.contact, { channel: 'sms', externalId: 'tg-42' }).changed).toBe(true);
  });

  it('rejects the "any" channel and empty ids', () => {
    expect(caught(() => addIdentity(contact(), { channel: 'any', externalId: 'x' })).issues[0]?.path).toBe('channel');
    expect(caught(() => addIdentity(contact(), { channel: 'sms', externalId: '  ' })).issues[0]?.path).toBe('externalId');
  });
});

describe('firstName', () => {
  it('is the first word of the name, or null', () => {
    expect(firstName(contact({ name: '  Ana   María Test ' }))).toBe('Ana');
    expect(firstName(contact({ name: 'Ana' }))).toBe('Ana');
    expect(firstName(contact({ name: '   ' }))).toBeNull();
    expect(firstName(contact({ name: null }))).toBeNull();
  });
});

describe('eraseContactData', () => {
  const erasedAt = '2025-02-01T00:00:00.000Z';

  it('removes personal data, keeps the id and marks the time', () => {
    const original = contact({
      identities: [
        { channel: 'whatsapp', externalId: '34600000001' },
        { channel: 'email', externalId: 'ana.test@example.com' },
      ],
      tags: ['VIP-Ana'],
    });
    const erased = eraseContactData(original, erasedAt);
    expect(erased).toEqual({
      ...original,
      name: null,
      email: null,
      phone: null,
      identities: [
        { channel: 'whatsapp', externalId: 'erased:ct_1:1' },
        { channel: 'email', externalId: 'erased:ct_1:2' },
      ],
      fields: {},
      tags: [],
      updatedAt: erasedAt,
      erasedAt,
    });
    expect(JSON.stringify(erased)).not.toMatch(/Ana|600000001|example\.com/);
    expect(original.name).toBe('Ana Test');
    expect(original.identities[0]?.externalId).toBe('34600000001');
  });

  it('is idempotent and keeps the first erasure time', () => {
    const once = eraseContactData(contact(), erasedAt);
    const twice = eraseContactData(once, '2025-03-01T00:00:00.000Z');
    expect(twice).toEqual(once);
  });
});

describe('canonicalContactId', () => {
  it('writes a ULID in any letter case in upper case, the form ids are stored in', () => {
    expect(canonicalContactId('01arz3ndektsv4rrffq69g5fav')).toBe('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(canonicalContactId('01ARZ3ndektsv4RRFFQ69G5FAV')).toBe('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(canonicalContactId('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(canonicalContactId('7zzzzzzzzzzzzzzzzzzzzzzzzz')).toBe('7ZZZZZZZZZZZZZZZZZZZZZZZZZ');
  });

  it('leaves anything that is not a ULID as it is', () => {
    for (const id of ['ct_1', '01arz3ndektsv4rrffq69g5fa', '01arz3ndektsv4rrffq69g5favx', '01arz3ndektsv4rrffq69g5fau', '81arz3ndektsv4rrffq69g5fav', '01arz3ndekts-4rrffq69g5fav']) {
      expect(canonicalContactId(id)).toBe(id);
    }
  });
});

describe('fieldKey', () => {
  it('is the trimmed name, and refuses what setField refuses', () => {
    expect(fieldKey('  plan ')).toBe('plan');
    for (const name of ['   ', 'x'.repeat(101), '__proto__']) {
      expect(() => fieldKey(name)).toThrow(ConsentryError);
      expect(() => setField(contact(), name, 'x')).toThrow(ConsentryError);
    }
  });
});
