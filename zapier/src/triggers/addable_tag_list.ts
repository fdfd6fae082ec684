import { controlCharacterIn, isPrivacyTag } from '../tags.js';
import { dropdownTrigger } from './dropdown.js';
import { workspaceTags } from './tag_list.js';

/**
 * Powers the Tag dropdowns of the steps that add a tag (`dynamic: 'addable_tag_list.id.name'`):
 * the workspace's tags without `Consent: Privacy`, which the server refuses from those steps for a
 * contact without a privacy opt-in and always for a new contact (TAG_NEEDS_CONSENT; Record Consent
 * adds it), and without a tag stored before the server refused control and bidirectional
 * formatting characters, which it would refuse to add now. A dynamic dropdown names the trigger that fills it by its key
 * (https://docs.zapier.com/platform/build-cli/dynamic-dropdowns), so these fields get a trigger of
 * their own beside tag_list, which still offers every tag where one is removed or filtered on.
 */
export default dropdownTrigger({
  key: 'addable_tag_list',
  noun: 'Addable Tag',
  description: 'Lists the tags a step can add to a contact, for dropdowns.',
  choiceLabel: 'Tag',
  list: async (z, bundle) =>
    (await workspaceTags(z, bundle)).filter((tag) => !isPrivacyTag(tag) && controlCharacterIn(tag.trim()) === undefined).map((tag) => ({ id: tag, name: tag })),
  sample: { id: 'VIP', name: 'VIP' },
});
