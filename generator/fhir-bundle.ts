/** The slice of FHIR R4 Bundle and resource shapes the generator writes. */

/** A resource before it has an id. */
export interface ResourceContent {
  resourceType: string;
  [element: string]: unknown;
}

export interface FhirResource extends ResourceContent {
  id: string;
}

export interface Reference {
  reference: string;
  display?: string;
}

export interface BundleEntryRequest {
  method: 'POST';
  url: string;
  /** Conditional create search, e.g. `identifier=http://hl7.org/fhir/sid/us-npi|9999999859`. */
  ifNoneExist?: string;
}

export interface BundleEntry {
  fullUrl: string;
  resource: FhirResource;
  request: BundleEntryRequest;
}

/** A FHIR R4 `transaction` Bundle (https://hl7.org/fhir/R4/http.html#transaction). */
export interface Bundle {
  resourceType: 'Bundle';
  type: 'transaction';
  entry: BundleEntry[];
}

/** Whether an entry creates a resource shared between patients (conditional create). */
export function isSharedEntry(entry: BundleEntry): boolean {
  return entry.request.ifNoneExist !== undefined;
}
