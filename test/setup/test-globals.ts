import type { EmbeddedAzurite } from '../../src/bulk-export/storage/embedded-azurite';

/** What global-setup hands to global-teardown (Jest runs both in the same process). */
export type TestGlobals = typeof globalThis & { __embeddedAzurite?: EmbeddedAzurite };
