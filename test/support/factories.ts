import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A FHIR resource as test code builds it. */
export interface TestResource {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}

export interface TestBundleEntry {
  fullUrl?: string;
  resource?: TestResource;
  request: { method: string; url: string; ifMatch?: string; ifNoneExist?: string };
}

export interface TestBundle {
  resourceType: 'Bundle';
  type: string;
  entry: TestBundleEntry[];
}

let serial = 0;

/** A unique FHIR id, readable in failure messages. */
export function newId(prefix = 't'): string {
  serial += 1;
  return `${prefix}-${serial}-${randomUUID().slice(0, 8)}`;
}

export function urnUuid(): string {
  return `urn:uuid:${randomUUID()}`;
}

export function patient(overrides: Partial<TestResource> = {}): TestResource {
  const family = `Family${serial++}`;
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:test:mrn', value: randomUUID() }],
    name: [{ family, given: ['Test'] }],
    gender: 'female',
    birthDate: '1980-04-12',
    ...overrides,
  };
}

/** A body-weight Observation about `subject` (e.g. `Patient/123` or an urn:uuid). */
export function observation(subject: string, overrides: Partial<TestResource> = {}): TestResource {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
    subject: { reference: subject },
    valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    ...overrides,
  };
}

export function postEntry(resource: TestResource, fullUrl: string = urnUuid()): TestBundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType } };
}

export function putEntry(
  resource: TestResource & { id: string },
  ifMatch?: string,
): TestBundleEntry {
  return {
    resource,
    request: {
      method: 'PUT',
      url: `${resource.resourceType}/${resource.id}`,
      ...(ifMatch ? { ifMatch } : {}),
    },
  };
}

export function deleteEntry(type: string, id: string): TestBundleEntry {
  return { request: { method: 'DELETE', url: `${type}/${id}` } };
}

export function getEntry(url: string): TestBundleEntry {
  return { request: { method: 'GET', url } };
}

export function transaction(entries: TestBundleEntry[]): TestBundle {
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

export function batch(entries: TestBundleEntry[]): TestBundle {
  return { resourceType: 'Bundle', type: 'batch', entry: entries };
}

/** Where the Synthea sample transaction Bundles live (read-only, shared by the team). */
export const SYNTHEA_DIR = join(__dirname, '..', 'fixtures', 'synthea');

export function syntheaBundleFiles(): string[] {
  return readdirSync(SYNTHEA_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(SYNTHEA_DIR, name));
}

export function readBundle(file: string): TestBundle {
  return JSON.parse(readFileSync(file, 'utf8')) as TestBundle;
}
