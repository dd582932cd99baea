import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FhirDefinitions } from './fhir-definitions.service';
import {
  compilePatientReferencePaths,
  FhirResourceLike,
  PatientCompartment,
} from './patient-compartment.service';

const SYNTHEA_DIR = resolve(__dirname, '../../test/fixtures/synthea');

describe('PatientCompartment', () => {
  const compartment = new PatientCompartment(new FhirDefinitions());

  describe('compartmentTypes', () => {
    it('lists types with a Patient compartment parameter, Patient included, sorted', () => {
      const types = compartment.compartmentTypes;
      expect(types).toEqual(
        expect.arrayContaining([
          'Patient',
          'Observation',
          'Encounter',
          'MedicationRequest',
          'Group',
        ]),
      );
      expect(types).not.toContain('Organization');
      expect(types).not.toContain('Practitioner');
      expect([...types].sort()).toEqual(types);
      expect(compartment.isCompartmentType('Condition')).toBe(true);
      expect(compartment.isCompartmentType('Medication')).toBe(false);
    });

    it('keeps Task out, as HL7 R4 does (only later versions add it)', () => {
      expect(compartment.isCompartmentType('Task')).toBe(false);
      expect(compartment.patientIdsOf({ resourceType: 'Task', for: ref('Patient/1') })).toEqual([]);
    });
  });

  describe('patientIdsOf', () => {
    it('puts an Observation in the compartments of its subject and of patient performers', () => {
      const observation = {
        resourceType: 'Observation',
        subject: ref('Patient/p1'),
        performer: [ref('Practitioner/dr'), ref('Patient/p2'), ref('RelatedPerson/mum')],
      };
      expect(compartment.patientIdsOf(observation)).toEqual(['p1', 'p2']);
    });

    it('does not count a subject that is a Group', () => {
      const observation = { resourceType: 'Observation', subject: ref('Group/g1') };
      expect(compartment.patientIdsOf(observation)).toEqual([]);
    });

    it('places an Encounter by its subject when it is a Patient', () => {
      expect(
        compartment.patientIdsOf({ resourceType: 'Encounter', subject: ref('Patient/e1') }),
      ).toEqual(['e1']);
      expect(
        compartment.patientIdsOf({ resourceType: 'Encounter', subject: ref('Group/g1') }),
      ).toEqual([]);
    });

    it('places a MedicationRequest by its subject but not by its requester', () => {
      const request = {
        resourceType: 'MedicationRequest',
        subject: ref('Patient/m1'),
        requester: ref('Patient/m2'),
      };
      expect(compartment.patientIdsOf(request)).toEqual(['m1']);
    });

    it('places a Condition by its subject and by a patient asserter', () => {
      const condition = {
        resourceType: 'Condition',
        subject: ref('Patient/c1'),
        asserter: ref('Patient/c2'),
        recorder: ref('Patient/c3'),
      };
      expect(compartment.patientIdsOf(condition)).toEqual(['c1', 'c2']);
    });

    it('puts a Patient in its own compartment and in those of its linked patients', () => {
      const patient = {
        resourceType: 'Patient',
        id: 'self',
        link: [
          { other: ref('Patient/older'), type: 'replaces' },
          { other: ref('RelatedPerson/rp'), type: 'seealso' },
        ],
        generalPractitioner: [ref('Patient/not-a-link')],
      };
      expect(compartment.patientIdsOf(patient)).toEqual(['older', 'self']);
      expect(compartment.patientIdsOf({ resourceType: 'Patient' })).toEqual([]);
    });

    it('reads absolute and versioned references as the plain patient id', () => {
      const observation = {
        resourceType: 'Observation',
        subject: ref('https://fhir.example.org/r4/Patient/abs'),
        performer: [
          ref('Patient/ver/_history/2'),
          ref('http://localhost:3000/Patient/both/_history/7'),
        ],
      };
      expect(compartment.patientIdsOf(observation)).toEqual(['abs', 'both', 'ver']);
    });

    it('ignores contained, urn:uuid, conditional, identifier-only and malformed references', () => {
      const observation = {
        resourceType: 'Observation',
        contained: [{ resourceType: 'Patient', id: 'inner' }],
        subject: ref('#inner'),
        performer: [
          ref('urn:uuid:6c5d9ca9-54d7-42f5-bfae-a7c19cd217f2'),
          ref('Patient?identifier=http://x|1'),
          { identifier: { system: 'http://x', value: '1' } },
          ref('Patient/'),
          ref('Patient/has space'),
          ref('xPatient/1'),
          { reference: 42 },
        ],
      };
      expect(compartment.patientIdsOf(observation)).toEqual([]);
    });

    it('returns each patient once, sorted', () => {
      const communication = {
        resourceType: 'Communication',
        subject: ref('Patient/b'),
        sender: ref('Patient/b/_history/1'),
        recipient: [ref('Patient/a'), ref('https://elsewhere/Patient/b')],
      };
      expect(compartment.patientIdsOf(communication)).toEqual(['a', 'b']);
    });

    it('walks into repeating backbone elements', () => {
      const careTeam = {
        resourceType: 'CareTeam',
        participant: [{ member: ref('Practitioner/x') }, { member: ref('Patient/cp') }],
      };
      expect(compartment.patientIdsOf(careTeam)).toEqual(['cp']);
    });

    it('returns nothing for types outside the compartment', () => {
      const organization = { resourceType: 'Organization', partOf: ref('Patient/1') };
      expect(compartment.patientIdsOf(organization)).toEqual([]);
    });
  });

  describe('on the Synthea bundles', () => {
    it('puts every resource with a reference to its patient into exactly that compartment', () => {
      let members = 0;
      const files = readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json'));
      expect(files.length).toBe(3);
      for (const file of files) {
        const { patientId, resources } = loadWithRelativeReferences(join(SYNTHEA_DIR, file));
        for (const resource of resources) {
          const expected =
            resource.resourceType === 'Patient' || refersTo(resource, `Patient/${patientId}`)
              ? [patientId]
              : [];
          expect({
            resource: `${resource.resourceType}/${resource.id}`,
            ids: compartment.patientIdsOf(resource),
          }).toEqual({
            resource: `${resource.resourceType}/${resource.id}`,
            ids: expected,
          });
          members += expected.length;
        }
      }
      // Guards against a loop that checked nothing: the fixtures hold 517 patient-linked resources.
      expect(members).toBe(517);
    });
  });
});

describe('compilePatientReferencePaths', () => {
  it('evaluates branches with type casts through FHIRPath', () => {
    const [collect] = compilePatientReferencePaths('(Basic.extension.value as Reference)');
    const ids = new Set<string>();
    collect(
      {
        resourceType: 'Basic',
        extension: [{ url: 'http://example.org/owner', valueReference: ref('Patient/cast') }],
      },
      ids,
    );
    expect([...ids]).toEqual(['cast']);
  });

  it('drops branches filtered to a type other than Patient and keeps Patient-filtered ones', () => {
    const collectors = compilePatientReferencePaths(
      'Task.for.where(resolve() is Group) | Task.owner.where(resolve() is Patient)',
    );
    const ids = new Set<string>();
    for (const collect of collectors) {
      collect({ resourceType: 'Task', for: ref('Patient/f'), owner: ref('Patient/o') }, ids);
    }
    expect([...ids]).toEqual(['o']);
  });

  it('refuses a resolve() it cannot strip', () => {
    expect(() => compilePatientReferencePaths('Task.for.resolve().name')).toThrow(/resolve/);
  });
});

function ref(reference: string): { reference: string } {
  return { reference };
}

/** Synthea links entries by urn:uuid fullUrls; the store rewrites those to Type/id before indexing. */
function loadWithRelativeReferences(file: string): {
  patientId: string;
  resources: FhirResourceLike[];
} {
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as {
    entry: { fullUrl: string; resource: FhirResourceLike }[];
  };
  const local = new Map(
    bundle.entry.map((e) => [e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`]),
  );
  const json = JSON.stringify(
    bundle.entry.map((e) => e.resource),
    (key, value: unknown) =>
      key === 'reference' && typeof value === 'string' ? (local.get(value) ?? value) : value,
  );
  const resources = JSON.parse(json) as FhirResourceLike[];
  const patient = resources.find((r) => r.resourceType === 'Patient');
  if (!patient?.id) {
    throw new Error(`${file} has no Patient`);
  }
  return { patientId: patient.id, resources };
}

function refersTo(node: unknown, reference: string, key = ''): boolean {
  if (key === 'contained' || typeof node !== 'object' || node === null) {
    return false;
  }
  if ((node as { reference?: unknown }).reference === reference) {
    return true;
  }
  return Object.entries(node).some(([k, v]) => refersTo(v, reference, k));
}
