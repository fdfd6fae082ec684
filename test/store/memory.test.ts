import { createMemoryStore } from '../../src/store/memory.js';
import { storeContract } from '../contracts/store.contract.js';

storeContract('memory', async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});
