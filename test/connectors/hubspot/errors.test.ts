import { describe, expect, it } from 'vitest';
import { existingRecordId, HubSpotApiError, refusedProperties } from '../../../connectors/hubspot/errors.js';

const refused = (status: number, body: unknown): HubSpotApiError => new HubSpotApiError(status, {}, typeof body === 'string' ? body : JSON.stringify(body));

describe('refusedProperties', () => {
  it("reads the list in HubSpot's message, `Property values were not valid: [...]`", () => {
    const error = refused(400, {
      status: 'error',
      message:
        'Property values were not valid: [{"isValid":false,"message":"VIP was not one of the allowed options: [Gold]","error":"INVALID_OPTION","name":"consentry_tags","localizedErrorMessage":"VIP was not one of the allowed options"}]',
      correlationId: 'c0ffee00-0000-0000-0000-000000000000',
      category: 'VALIDATION_ERROR',
    });
    expect(refusedProperties(error)).toEqual([{ name: 'consentry_tags', code: 'INVALID_OPTION' }]);
  });

  it('reads `errors[].context.propertyName` with its code, and older `validationResults`', () => {
    expect(
      refusedProperties(
        refused(400, {
          status: 'error',
          message: 'Property values were not valid',
          category: 'VALIDATION_ERROR',
          errors: [{ message: 'bad', code: 'INVALID_DATETIME', context: { propertyName: ['consentry_sms_updated_at'] } }],
        }),
      ),
    ).toEqual([{ name: 'consentry_sms_updated_at', code: 'INVALID_DATETIME' }]);
    expect(refusedProperties(refused(400, { validationResults: [{ isValid: false, name: 'consentry_tags', error: 'INVALID_OPTION' }], message: 'Property values were not valid' }))).toEqual([
      { name: 'consentry_tags', code: 'INVALID_OPTION' },
    ]);
  });

  it('names nothing for an answer that names no property, or is not JSON', () => {
    expect(refusedProperties(refused(409, { status: 'error', message: 'Contact already exists. Existing ID: 1001', category: 'CONFLICT' }))).toEqual([]);
    expect(refusedProperties(refused(400, { message: 'Property values were not valid: [{"isValid":false,"name":"consentry_t' }))).toEqual([]);
    expect(refusedProperties(refused(502, '<html>Bad gateway</html>'))).toEqual([]);
  });
});

describe('existingRecordId', () => {
  it('reads the id a 409 names, and nothing else', () => {
    expect(existingRecordId(refused(409, { status: 'error', message: 'Contact already exists. Existing ID: 12345', category: 'CONFLICT' }))).toBe('12345');
    expect(existingRecordId(refused(409, { status: 'error', message: 'A contact with the email bea.test@example.com already exists', category: 'CONFLICT' }))).toBeNull();
    expect(existingRecordId(refused(400, { status: 'error', message: 'Existing ID: 12345' }))).toBeNull();
  });
});
