import { TestGlobals } from './test-globals';

/** Stops what global-setup started. */
export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as TestGlobals;
  await globals.__embeddedAzurite?.stop();
  delete globals.__embeddedAzurite;
}
