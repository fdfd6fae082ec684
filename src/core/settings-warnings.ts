import { PRIVACY_URL_CREDENTIALS, urlHasCredentials, type WorkspaceSettings } from './settings.js';
import { asksForConsent, asksForConsentAtOpening, lacksOutboundWebhook, triggersMissingAdvisedSettings, waitingTriggers } from './workflow/templates.js';

/** A setting whose value, as it stands, leaves something a workspace would expect undone. */
export type WarnedSetting = 'triggers' | `triggers.${number}.enabled` | 'privacyPolicyUrl' | 'outboundWebhookUrl' | 'defaultCountry';

export interface SettingsWarning {
  path: WarnedSetting;
  message: string;
}

function bindingNames(bindings: readonly { template: string; trigger: string }[]): string {
  return [...new Set(bindings.map((binding) => `${binding.template} (on ${binding.trigger})`))].join(', ');
}

/** How a binding switched off is switched on: `triggers` is one list, which a JSON Merge Patch replaces whole (RFC 7396). */
const SWITCH_ON = 'send triggers again whole with it true (a PATCH replaces the list), or send "triggers": null to restore the default list';

/**
 * What a workspace's settings leave undone although they are valid, in the order a reader should
 * fix it: the answer to `PATCH /v1/settings` lists it, and `consentry serve` says it at every start,
 * from this one list. Consent is asked before data is taken in (GDPR Art. 7(1): the controller must
 * be able to show it was given), so a trigger list sent without the default binding, which turns
 * the privacy question off, is named even when no other workflow runs; a bound workflow that needs
 * a setting starts nothing until it is there (waitingTriggers); what workflows send outside an
 * answer goes out only through the outbound webhook (lacksOutboundWebhook); and
 * welcome-request-phone refuses national numbers without a default country
 * (triggersMissingAdvisedSettings).
 */
export function settingsWarnings(settings: WorkspaceSettings): SettingsWarning[] {
  const warnings: SettingsWarning[] = [];
  // Stored before such a URL was refused: still sent to every contact, and any other PATCH that
  // keeps it is refused, so it is named first.
  if (settings.privacyPolicyUrl !== null && urlHasCredentials(settings.privacyPolicyUrl)) {
    warnings.push({
      path: 'privacyPolicyUrl',
      message: `${PRIVACY_URL_CREDENTIALS}, yet it is sent with them until it is changed: set it to the URL without them (every other change to the settings is refused until then)`,
    });
  }
  if (!asksForConsentAtOpening(settings)) {
    const running = [...new Set(settings.triggers.filter((binding) => binding.enabled).map((binding) => binding.template))];
    const unasked =
      'no enabled conversation_opened binding asks for privacy consent, so no consent is asked when a contact opens a conversation' +
      (running.length > 0 ? ` before its workflows (${running.join(', ')}) take in their data` : '');
    // A binding switched off is switched on again rather than added a second time.
    const disabled = settings.triggers.findIndex((binding) => !binding.enabled && binding.trigger === 'conversation_opened' && asksForConsent(binding.template));
    warnings.push(
      disabled >= 0
        ? { path: `triggers.${disabled}.enabled`, message: `is false, and ${unasked}: ${SWITCH_ON}` }
        : {
            path: 'triggers',
            message: `${unasked}: add {"trigger":"conversation_opened","template":"request-consent-privacy"} to triggers, or send "triggers": null to restore the default list`,
          },
    );
  }
  const waiting = waitingTriggers(settings);
  for (const setting of [...new Set(waiting.flatMap((binding) => binding.missing))]) {
    const bindings = waiting.filter((binding) => binding.missing.includes(setting));
    const onOpening = bindings.some((binding) => binding.trigger === 'conversation_opened');
    warnings.push({
      path: setting,
      message:
        `is not set, so ${bindingNames(bindings)} starts nothing and no consent is asked until it is` +
        (onOpening ? " (conversations opened meanwhile are asked at the contact's next message once it is set)" : '') +
        ": set it to the URL of the workspace's privacy policy",
    });
  }
  if (lacksOutboundWebhook(settings)) {
    warnings.push({
      path: 'outboundWebhookUrl',
      message:
        "is not set, so the messages workflows send outside an answer to POST /v1/messages (a question's time-out text, the messages of a workflow " +
        'a tag added from outside starts) reach no one: set it to a receiver that sends them on',
    });
  }
  const lacking = triggersMissingAdvisedSettings(settings);
  if (lacking.length > 0) {
    warnings.push({
      path: 'defaultCountry',
      message:
        `is not set, so ${bindingNames(lacking)} asks for a phone number with its country code and refuses a national one (600 000 001): ` +
        'set it to the country (ISO 3166-1 alpha-2, e.g. ES) whose national numbers contacts write',
    });
  }
  return warnings;
}
