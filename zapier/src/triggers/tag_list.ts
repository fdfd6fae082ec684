import type { Bundle, ZObject } from 'zapier-platform-core';
import { callApi, TagListSchema } from '../api.js';
import { dropdownTrigger } from './dropdown.js';

/** The tags used in the workspace (`GET /v1/tags`), read for a dropdown, which Zapier does not replay. */
export async function workspaceTags(z: ZObject, bundle: Bundle): Promise<string[]> {
  return (await callApi(z, bundle, { path: '/v1/tags', schema: TagListSchema, neverReplayed: true })).data;
}

/** Powers the Tag dropdowns that offer every tag (`dynamic: 'tag_list.id.name'`): removing one, and the Contact Tagged filter. */
export default dropdownTrigger({
  key: 'tag_list',
  noun: 'Tag',
  description: 'Lists the tags used in the workspace, for dropdowns.',
  choiceLabel: 'Tag',
  list: async (z, bundle) => (await workspaceTags(z, bundle)).map((tag) => ({ id: tag, name: tag })),
  sample: { id: 'VIP', name: 'VIP' },
});
