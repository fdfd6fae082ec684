import { describe, expect, it } from 'vitest';
import type { ConsentState } from '../../../src/core/consent.js';
import { ConsentryError } from '../../../src/core/errors.js';
import {
  consentChangeToProperties,
  contactToHubSpotProperties,
  currentValuesOf,
  emailSubscriptionFromStates,
  emailSubscriptionRequest,
  emailSubscriptionV4Input,
  fromPropertyChange,
  isConsentryProperty,
  tagsPropertyValue,
} from '../../../connectors/hubspot/mapping.js';
import { CONSENTRY_PROPERTY_NAMES, CONTACT_ID_PROPERTY } from '../../../connectors/hubspot/properties.js';

let seq = 0;
function state(overrides: Partial<ConsentState>): ConsentState {
  seq += 1;
  return {
    workspaceId: 'ws_1',
    contactId: 'ct_1',
    purpose: 'marketing',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Sent START on WhatsApp',
    source: 'keyword',
    occurredAt: '2026-02-01T10:00:00.000Z',
    recordId: `rec_${seq}`,
    seq,
    ...overrides,
  };
}

const ANA = { email: 'ana.test@example.com', phone: '+34600000001', tags: ['VIP', 'Consent: Privacy'] };
const TARGET = { emailAddress: 'ana.test@example.com', subscriptionId: '1001' };

describe('contactToHubSpotProperties', () => {
  it('writes every connector property, identity and tags', () => {
    const properties = contactToHubSpotProperties({ ...ANA, consent: [state({})] });
    // The contact id is the key a record is created by, not a value the contact's changes write.
    for (const name of CONSENTRY_PROPERTY_NAMES.filter((n) => n !== CONTACT_ID_PROPERTY)) expect(properties).toHaveProperty(name);
    expect(properties).not.toHaveProperty(CONTACT_ID_PROPERTY);
    expect(properties).toMatchObject({
      email: 'ana.test@example.com',
      phone: '+34600000001',
      consentry_whatsapp_status: 'opted_in',
      consentry_whatsapp_legal_basis: 'CONSENT_WITH_NOTICE',
      consentry_whatsapp_explanation: 'Sent START on WhatsApp',
      consentry_whatsapp_updated_at: '2026-02-01T10:00:00.000Z',
      consentry_whatsapp_source: 'keyword',
      consentry_sms_status: 'not_specified',
      consentry_sms_legal_basis: '',
      consentry_sms_updated_at: '',
      consentry_privacy_status: 'not_specified',
      consentry_tags: 'Consent: Privacy;VIP',
    });
  });

  it('leaves out an email or phone Consentry does not have, so HubSpot keeps its own', () => {
    const properties = contactToHubSpotProperties({ email: null, phone: null, tags: [], consent: [] });
    expect(properties).not.toHaveProperty('email');
    expect(properties).not.toHaveProperty('phone');
    expect(properties.consentry_tags).toBe('');
  });

  it('applies a later STOPALL (channel any) to every channel', () => {
    const properties = contactToHubSpotProperties({
      ...ANA,
      consent: [
        state({ channel: 'whatsapp', occurredAt: '2026-02-01T10:00:00.000Z' }),
        state({ channel: 'any', status: 'opted_out', legalBasis: null, explanation: null, occurredAt: '2026-02-02T10:00:00.000Z' }),
      ],
    });
    for (const channel of ['whatsapp', 'sms', 'messenger', 'webchat', 'email']) {
      expect(properties[`consentry_${channel}_status`]).toBe('opted_out');
      expect(properties[`consentry_${channel}_updated_at`]).toBe('2026-02-02T10:00:00.000Z');
    }
  });

  it('keeps a channel decision made after a STOPALL', () => {
    const properties = contactToHubSpotProperties({
      ...ANA,
      consent: [
        state({ channel: 'any', status: 'opted_out', occurredAt: '2026-02-02T10:00:00.000Z' }),
        state({ channel: 'sms', status: 'opted_in', occurredAt: '2026-02-03T10:00:00+01:00' }),
      ],
    });
    expect(properties.consentry_sms_status).toBe('opted_in');
    expect(properties.consentry_sms_updated_at).toBe('2026-02-03T09:00:00.000Z');
    expect(properties.consentry_whatsapp_status).toBe('opted_out');
  });

  it('shows the latest privacy decision on any channel', () => {
    const properties = contactToHubSpotProperties({
      ...ANA,
      consent: [
        state({ purpose: 'privacy', channel: 'webchat', status: 'opted_in', occurredAt: '2026-02-01T10:00:00.000Z' }),
        state({ purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', occurredAt: '2026-02-05T10:00:00.000Z' }),
      ],
    });
    expect(properties.consentry_privacy_status).toBe('opted_out');
    expect(properties.consentry_privacy_date).toBe('2026-02-05T10:00:00.000Z');
    expect(properties.consentry_whatsapp_status).toBe('not_specified');
  });

  it('ignores workspace-defined purposes', () => {
    const properties = contactToHubSpotProperties({ ...ANA, consent: [state({ purpose: 'surveys', channel: 'sms' })] });
    expect(properties.consentry_sms_status).toBe('not_specified');
  });
});

describe('currentValuesOf', () => {
  it("gives the named properties' current values, each with the time of the decision it shows", () => {
    const { properties, times } = currentValuesOf(
      {
        ...ANA,
        consent: [
          state({ channel: 'sms', status: 'opted_out', legalBasis: null, explanation: null, occurredAt: '2026-02-01T09:00:00.000Z' }),
          state({ channel: 'any', status: 'opted_in', occurredAt: '2026-02-01T08:00:00.000Z' }),
          state({ purpose: 'privacy', channel: 'webchat', status: 'opted_in', occurredAt: '2026-02-01T07:00:00.000Z' }),
        ],
      },
      ['consentry_sms_status', 'consentry_sms_updated_at', 'consentry_whatsapp_status', 'consentry_privacy_status', 'consentry_tags', 'consentry_messenger_source', 'phone'],
      (name) => `otherwise:${name}`,
    );
    expect(properties).toEqual({
      consentry_sms_status: 'opted_out',
      consentry_sms_updated_at: '2026-02-01T09:00:00.000Z',
      consentry_whatsapp_status: 'opted_in',
      consentry_privacy_status: 'opted_in',
      consentry_tags: 'Consent: Privacy;VIP',
      consentry_messenger_source: 'keyword',
      phone: '+34600000001',
    });
    expect(times).toEqual({
      consentry_sms_status: '2026-02-01T09:00:00.000Z',
      consentry_sms_updated_at: '2026-02-01T09:00:00.000Z',
      consentry_whatsapp_status: '2026-02-01T08:00:00.000Z',
      consentry_privacy_status: '2026-02-01T07:00:00.000Z',
      consentry_tags: 'otherwise:consentry_tags',
      consentry_messenger_source: '2026-02-01T08:00:00.000Z',
      phone: 'otherwise:phone',
    });
  });

  it('leaves out a property the contact has no value for', () => {
    const { properties } = currentValuesOf({ email: null, phone: null, tags: [], consent: [] }, ['email', 'consentry_sms_status'], () => 'x');
    expect(properties).toEqual({ consentry_sms_status: 'not_specified' });
  });
});

describe('consentChangeToProperties', () => {
  it('maps one channel event to that channel only', () => {
    expect(Object.keys(consentChangeToProperties(state({ channel: 'email' })))).toEqual([
      'consentry_email_status',
      'consentry_email_legal_basis',
      'consentry_email_explanation',
      'consentry_email_updated_at',
      'consentry_email_source',
    ]);
  });

  it('maps a channel-any event to every synced channel', () => {
    const properties = consentChangeToProperties(state({ channel: 'any', status: 'opted_out' }));
    expect(Object.keys(properties)).toHaveLength(25);
    expect(properties.consentry_messenger_status).toBe('opted_out');
  });

  it('maps privacy and nothing else for privacy events; nothing for telegram or custom purposes', () => {
    expect(consentChangeToProperties(state({ purpose: 'privacy', channel: 'webchat' }))).toEqual({
      consentry_privacy_status: 'opted_in',
      consentry_privacy_date: '2026-02-01T10:00:00.000Z',
    });
    expect(consentChangeToProperties(state({ channel: 'telegram' }))).toEqual({});
    expect(consentChangeToProperties(state({ purpose: 'surveys' }))).toEqual({});
  });

  it('refuses an occurredAt that is not a date', () => {
    expect(() => consentChangeToProperties(state({ occurredAt: 'soon' }))).toThrow(ConsentryError);
  });
});

describe('tagsPropertyValue', () => {
  it('joins unique option values with ";" in a stable order', () => {
    expect(tagsPropertyValue(['VIP', 'Lead', 'VIP', ' ', 'a;b'])).toBe('Lead;VIP;a,b');
  });
});

describe('fromPropertyChange', () => {
  it('turns a status change on a channel into a decision with the contact’s legal basis and explanation', () => {
    const change = fromPropertyChange(
      { propertyName: 'consentry_whatsapp_status', propertyValue: 'opted_in' },
      { consentry_whatsapp_legal_basis: 'LEGITIMATE_INTEREST_CLIENT', consentry_whatsapp_explanation: '  Asked at the counter ' },
    );
    expect(change).toEqual({
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
      explanation: 'Asked at the counter',
    });
  });

  it('gives null legal basis and explanation when HubSpot holds none or an unknown one', () => {
    expect(fromPropertyChange({ propertyName: 'consentry_sms_status', propertyValue: 'opted_out' }, { consentry_sms_legal_basis: 'BECAUSE' })).toEqual({
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_out',
      legalBasis: null,
      explanation: null,
    });
  });

  it('maps the privacy status to the privacy purpose on every channel', () => {
    expect(fromPropertyChange({ propertyName: 'consentry_privacy_status', propertyValue: 'opted_out' })).toMatchObject({
      purpose: 'privacy',
      channel: 'any',
      status: 'opted_out',
    });
  });

  it('returns null for other properties, detail properties, not_specified and unknown values', () => {
    expect(fromPropertyChange({ propertyName: 'firstname', propertyValue: 'Ana' })).toBeNull();
    expect(fromPropertyChange({ propertyName: 'consentry_sms_legal_basis', propertyValue: 'NON_GDPR' })).toBeNull();
    expect(fromPropertyChange({ propertyName: 'consentry_sms_status', propertyValue: 'not_specified' })).toBeNull();
    expect(fromPropertyChange({ propertyName: 'consentry_sms_status', propertyValue: 'maybe' })).toBeNull();
    expect(fromPropertyChange({ propertyName: 'consentry_sms_status', propertyValue: null })).toBeNull();
  });

  it('knows its own properties', () => {
    expect(isConsentryProperty('consentry_tags')).toBe(true);
    expect(isConsentryProperty('email')).toBe(false);
  });
});

describe('email subscription mapping', () => {
  it('subscribes with the legal basis and its explanation', () => {
    expect(emailSubscriptionRequest(state({ channel: 'email', source: 'manual', explanation: 'Signed the paper form' }), TARGET)).toEqual({
      action: 'subscribe',
      body: {
        emailAddress: 'ana.test@example.com',
        subscriptionId: '1001',
        legalBasis: 'CONSENT_WITH_NOTICE',
        legalBasisExplanation: 'Signed the paper form',
      },
    });
  });

  it('unsubscribes on an email or STOPALL opt-out, without empty legal fields', () => {
    expect(emailSubscriptionRequest(state({ channel: 'any', status: 'opted_out', legalBasis: null, explanation: null }), TARGET)).toEqual({
      action: 'unsubscribe',
      body: { emailAddress: 'ana.test@example.com', subscriptionId: '1001' },
    });
  });

  it('writes nothing for other channels or purposes', () => {
    expect(emailSubscriptionRequest(state({ channel: 'sms' }), TARGET)).toBeNull();
    expect(emailSubscriptionRequest(state({ channel: 'email', purpose: 'privacy' }), TARGET)).toBeNull();
  });

  it('builds v4 batch-write inputs with channel EMAIL and a numeric subscription id', () => {
    expect(emailSubscriptionV4Input(state({ channel: 'email' }), TARGET)).toEqual({
      subscriberIdString: 'ana.test@example.com',
      subscriptionId: 1001,
      channel: 'EMAIL',
      statusState: 'SUBSCRIBED',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Sent START on WhatsApp',
    });
    expect(() => emailSubscriptionV4Input(state({ channel: 'email' }), { ...TARGET, subscriptionId: 'marketing' })).toThrow(ConsentryError);
  });

  it('derives the subscription from current states, the later of email and STOPALL winning', () => {
    const states = [
      state({ channel: 'any', status: 'opted_out', occurredAt: '2026-02-01T00:00:00.000Z' }),
      state({ channel: 'email', status: 'opted_in', occurredAt: '2026-02-02T00:00:00.000Z' }),
    ];
    expect(emailSubscriptionFromStates(states, TARGET)?.action).toBe('subscribe');
    expect(emailSubscriptionFromStates(states.slice(0, 1), TARGET)?.action).toBe('unsubscribe');
    expect(emailSubscriptionFromStates([state({ channel: 'sms' })], TARGET)).toBeNull();
  });
});
