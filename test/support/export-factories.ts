import { randomUUID } from 'node:crypto';
import type { ExportRequest } from '../../src/bulk-export/export-request';
import type { KickOff } from '../../src/bulk-export/job/export-job.service';
import type { FhirResource } from '../../src/resources/resource.repository';
import { newId, observation, patient, readBundle, syntheaBundleFiles } from './factories';

/** A Patient with a client-chosen id, so tests can reference it before it is stored. */
export function patientWithId(
  id = newId('pat'),
  overrides: Partial<FhirResource> = {},
): FhirResource {
  return { ...patient(), id, ...overrides };
}

/** A body-weight Observation about `Patient/{patientId}`. */
export function observationOf(
  patientId: string,
  overrides: Partial<FhirResource> = {},
): FhirResource {
  return { ...observation(`Patient/${patientId}`), id: newId('obs'), ...overrides };
}

/** An Organization: outside the Patient compartment. */
export function organization(overrides: Partial<FhirResource> = {}): FhirResource {
  return {
    resourceType: 'Organization',
    id: newId('org'),
    name: `Org ${randomUUID()}`,
    ...overrides,
  };
}

export interface GroupMemberSpec {
  /** `Patient/{id}` or `Group/{id}`. */
  reference: string;
  inactive?: boolean;
}

/** A person Group whose members are the given references. */
export function group(members: GroupMemberSpec[], id = newId('grp')): FhirResource {
  return {
    resourceType: 'Group',
    id,
    type: 'person',
    actual: true,
    member: members.map((m) => ({
      entity: { reference: m.reference },
      ...(m.inactive === undefined ? {} : { inactive: m.inactive }),
    })),
  };
}

/**
 * Patients of about 600 bytes each, so that a small EXPORT_CHECKPOINT_MB (0.001) checkpoints
 * every page.
 */
export function paddedPatients(count: number): FhirResource[] {
  return Array.from({ length: count }, () =>
    patientWithId(undefined, {
      text: {
        status: 'generated',
        div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(400)}</div>`,
      },
    }),
  );
}

/**
 * `count` Patients, each with `observationsEach` Observations, in store order (each Patient
 * followed by its Observations).
 */
export function patientsWithObservations(count: number, observationsEach: number): FhirResource[] {
  const resources: FhirResource[] = [];
  for (let i = 0; i < count; i++) {
    const p = patientWithId();
    resources.push(p);
    for (let j = 0; j < observationsEach; j++) resources.push(observationOf(p.id as string));
  }
  return resources;
}

/**
 * The resources of one Synthea transaction Bundle as the store would hold them after the
 * transaction: each gets the id of its `urn:uuid:` fullUrl, and every `urn:uuid:` reference
 * becomes `Type/id`. Organizations and Practitioners repeat across bundles with the same ids.
 */
export function syntheaResources(index: number): FhirResource[] {
  const file = syntheaBundleFiles()[index];
  if (!file) throw new Error(`No Synthea bundle number ${index}`);
  const bundle = readBundle(file);
  const references = new Map<string, string>();
  for (const entry of bundle.entry) {
    if (!entry.fullUrl?.startsWith('urn:uuid:') || !entry.resource) continue;
    references.set(
      entry.fullUrl,
      `${entry.resource.resourceType}/${entry.fullUrl.slice('urn:uuid:'.length)}`,
    );
  }
  return bundle.entry
    .filter((entry) => entry.resource && entry.fullUrl)
    .map((entry) => {
      const resource = rewriteReferences(entry.resource, references) as FhirResource;
      return { ...resource, id: (entry.fullUrl as string).slice('urn:uuid:'.length) };
    });
}

function rewriteReferences(value: unknown, references: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, references));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      key === 'reference' && typeof v === 'string'
        ? (references.get(v) ?? v)
        : rewriteReferences(v, references);
  }
  return out;
}

/** A validated system-level kick-off request, as the kick-off pipes would hand it over. */
export function exportRequest(overrides: Partial<ExportRequest> = {}): ExportRequest {
  return {
    level: 'system',
    outputFormat: 'application/fhir+ndjson',
    typeFilters: [],
    lenient: false,
    warnings: [],
    ...overrides,
  };
}

/**
 * What `ExportJobService.kickOff` takes, for a client of its own: a kick-off never joins the
 * active job of another test's client.
 */
export function exportKickOff(request: Partial<ExportRequest> = {}): KickOff {
  return {
    request: exportRequest(request),
    requestUrl: 'http://127.0.0.1/$export',
    owner: newId('client'),
    maxConcurrent: null,
  };
}
