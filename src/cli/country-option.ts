import { WorkspaceSettingsSchema, type WorkspaceSettings } from '../core/settings.js';
import { CliRefusal } from './io.js';

/** The workspace setting's own rule: an ISO 3166-1 alpha-2 code of a country with a telephone numbering plan. */
const COUNTRY = WorkspaceSettingsSchema.shape.defaultCountry;
export type Country = NonNullable<WorkspaceSettings['defaultCountry']>;

/**
 * `--country` of `import` and `history`, checked when the command line is read: the country whose
 * national phone numbers (written without "+") the command reads, in place of the workspace's
 * default country. Letter case does not matter ("es" is ES).
 */
export function parseCountryOption(value: string): Country {
  const code = value.trim().toUpperCase();
  const parsed = COUNTRY.safeParse(code);
  if (!parsed.success || parsed.data === null) {
    throw new CliRefusal(`--country must be the ISO 3166-1 alpha-2 code of a country with a telephone numbering plan, such as ES, not "${value}"`);
  }
  return parsed.data;
}

/** `--country`'s help; `numbers`: what the command reads phone numbers from. */
export function countryOptionHelp(numbers: string): string {
  return `country of ${numbers} written without + (ISO 3166-1 alpha-2, e.g. ES); default: the workspace's default country`;
}

/**
 * What the engine advises for a national number without a default country; these commands name its
 * country with `--country` instead. A hint may follow it (`; if it is an international number ...`).
 */
const SET_DEFAULT_COUNTRY = /or set the workspace default country(?=;|$)/;
const USE_COUNTRY_OPTION = 'or name its country with --country (e.g. --country ES)';

/** The engine's refusal of a national phone number without a country, pointing at `--country`. */
export function pointingAtCountryOption(message: string): string {
  return message.replace(SET_DEFAULT_COUNTRY, USE_COUNTRY_OPTION);
}
