/** A FHIR resource as parsed JSON. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** One stored version of a resource. `content` is the JSON exactly as served (null when deleted). */
export interface StoredResource {
  seq: string;
  type: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  content: string | null;
  patientIds: string[];
}

export interface WriteResult {
  stored: StoredResource;
  /** true when this write created the resource (or re-created it after a delete). */
  created: boolean;
}

export interface VersionCondition {
  /** Expected current version (from If-Match); a mismatch fails with 412. */
  ifMatch?: number;
}

/**
 * Writes inside one database transaction. All writes of a session share its clock
 * (FHIR transaction Bundles get one lastUpdated) and commit or roll back together.
 */
export interface ResourceSession {
  /** Creates a resource with a new server-assigned id (`id`: one the caller generated, e.g. for urn:uuid rewriting). */
  create(resource: FhirResource, options?: { id?: string }): Promise<StoredResource>;
  /**
   * Creates several resources as {@link create} does, in one round trip per large chunk rather
   * than one per resource. Results line up with `resources`.
   */
  createMany(resources: readonly NewResource[]): Promise<StoredResource[]>;
  /** Update, or create with the client's id when it does not exist (FHIR update-as-create). */
  update(
    type: string,
    id: string,
    resource: FhirResource,
    condition?: VersionCondition,
  ): Promise<WriteResult>;
  /** Versioned soft delete; null when there was nothing current to delete. */
  delete(type: string, id: string, condition?: VersionCondition): Promise<StoredResource | null>;
  read(type: string, id: string): Promise<StoredResource | null>;
  /**
   * Current, not deleted resources of `type` with a matching `identifier` element: what
   * conditional create (`ifNoneExist`) and conditional references need until the search index
   * exists. With `lock`, holds a transaction lock on the condition first, so concurrent
   * conditional creates of the same identifier take turns and the second finds the first.
   */
  findByIdentifier(
    type: string,
    identifier: IdentifierCondition,
    options?: { lock?: boolean },
  ): Promise<StoredResource[]>;
}

/** A resource to create, with the id the caller generated (else the store assigns one). */
export interface NewResource {
  resource: FhirResource;
  id?: string;
}

/** A token search on `identifier`: `system|value`, `|value` (system: '') or `value` (any system). */
export interface IdentifierCondition {
  system?: string;
  value: string;
}

/**
 * The resource store port: FHIR read, vread, history and writes in transactions (RESTful API,
 * https://hl7.org/fhir/R4/http.html). Search and the export read through their own ports.
 */
export abstract class ResourceRepository {
  abstract read(type: string, id: string): Promise<StoredResource | null>;
  abstract vread(type: string, id: string, versionId: number): Promise<StoredResource | null>;
  /** Versions of one resource, newest first. */
  abstract history(
    type: string,
    id: string,
    options: { count: number; beforeVersion?: number },
  ): Promise<StoredResource[]>;
  /** Runs `work` in one database transaction; rolls everything back when it throws. */
  abstract inTransaction<T>(work: (session: ResourceSession) => Promise<T>): Promise<T>;
}
