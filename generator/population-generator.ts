import { Bundle, isSharedEntry } from './fhir-bundle';
import { simulatePatient } from './patient-history';
import { Rng } from './prng';

export type { Bundle, BundleEntry, FhirResource } from './fhir-bundle';

/**
 * One synthetic patient's record as a FHIR R4 transaction Bundle in the shape Synthea exports
 * (https://hl7.org/fhir/R4/http.html#transaction): entries POSTed with `urn:uuid:` fullUrls and
 * references between them by those fullUrls; the shared Organization, Location and
 * Practitioner entries are conditional creates (`ifNoneExist: identifier=system|value`) and
 * are referenced conditionally (`Practitioner?identifier=system|value`).
 *
 * A pure function of (index, seed): the same pair always gives the same bytes, and each
 * patient is independent of every other, so a population can be generated in any order, in
 * parallel, or one patient at a time.
 */
export function generatePatientBundle(index: number, seed: number): Bundle {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`patient index must be a non-negative integer, got ${index}`);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  }
  const rng = new Rng(seed, index);
  return { resourceType: 'Bundle', type: 'transaction', entry: simulatePatient(rng, seed, index) };
}

/**
 * The population of `patients` patients for `seed`, one Bundle at a time, so a caller that
 * writes or loads each before asking for the next holds a single patient in memory.
 */
export async function* generatePopulation(
  patients: number,
  seed: number,
): AsyncGenerator<Bundle, void, undefined> {
  for (let index = 0; index < patients; index++) {
    yield generatePatientBundle(index, seed);
    // Let I/O callbacks run between patients when the consumer does not await anything.
    if (index % 16 === 15) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Resource counts and NDJSON bytes of one Bundle, as a bulk export would write its resources. */
export interface BundleStats {
  /** Resources in the patient's own record (shared providers excluded: they are created once). */
  resources: number;
  byType: Record<string, number>;
  /** Bytes of the record's resources as NDJSON lines (compact JSON plus newline). */
  ndjsonBytes: number;
  /** Shared Organization, Location and Practitioner entries (conditional creates). */
  sharedEntries: number;
}

export function bundleStats(bundle: Bundle): BundleStats {
  const byType: Record<string, number> = {};
  let resources = 0;
  let ndjsonBytes = 0;
  let sharedEntries = 0;
  for (const entry of bundle.entry) {
    if (isSharedEntry(entry)) {
      sharedEntries++;
      continue;
    }
    resources++;
    byType[entry.resource.resourceType] = (byType[entry.resource.resourceType] ?? 0) + 1;
    ndjsonBytes += Buffer.byteLength(JSON.stringify(entry.resource)) + 1;
  }
  return { resources, byType, ndjsonBytes, sharedEntries };
}
