import { Rng } from './prng';
import type { BundleEntry, FhirResource, Reference } from './fhir-bundle';

export const SYNTHEA_IDENTIFIER_SYSTEM = 'https://github.com/synthetichealth/synthea';
export const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';

export type ProviderKind = 'hospital' | 'primary' | 'urgent';

export interface Organization {
  id: string;
  name: string;
  phone?: string;
  line: string;
  city: string;
  postalCode: string;
  region: string;
  kind: ProviderKind;
}

export interface Practitioner {
  id: string;
  npi: string;
  given: string;
  family: string;
  gender: 'male' | 'female';
}

/** One organization with its site and the clinician patients see there. */
export interface Provider {
  organization: Organization;
  location: { id: string; latitude: number; longitude: number };
  practitioner: Practitioner;
}

type Row = [string, string | undefined, string, string, string, string, ProviderKind];
type PractitionerRow = [string, string, 'male' | 'female'];

// The organizations and practitioners of the Synthea sample bundles (names and addresses), with
// identifiers of our own: the samples create their providers with plain POSTs, so a server that
// loaded them twice holds duplicates, and a conditional reference to a shared identifier would
// then match several resources (412) instead of one.
// prettier-ignore
const ORGANIZATIONS: Row[] = [
  ['HOLYOKE MEDICAL CENTER', '4135342500', '575 BEECH STREET', 'HOLYOKE', '01040', 'west', 'hospital'],
  ['PCP265675', undefined, '179 NORTHAMPTON ST', 'EASTHAMPTON', '01027-1057', 'west', 'primary'],
  ['ON CALL URGENT CARE CENTER', '413-584-7425', '51 LOCUST STREET', 'NORTHAMPTON', '01060', 'west', 'urgent'],
  ['PCP659', '617-547-7537', '328 BROADWAY', 'CAMBRIDGE', '02139-1840', 'cambridge', 'primary'],
  ['CAMBRIDGE HEALTH ALLIANCE', '6176652300', '1493 CAMBRIDGE STREET', 'CAMBRIDGE', '02138', 'cambridge', 'hospital'],
  ['MOUNT AUBURN HOSPITAL', '6174923500', '330 MOUNT AUBURN STREET', 'CAMBRIDGE', '02138', 'cambridge', 'hospital'],
  ['HALLMARK HEALTH SYSTEM', '7819793000', '585 LEBANON STREET', 'MELROSE', '02176', 'north', 'hospital'],
  ['READING FAMILY MEDICINE PC', '781-942-0380', '30 NEW CROSSING RD', 'READING', '01867-3270', 'north', 'primary'],
  ['CONCENTRA URGENT CARE - WILMINGTON', '978-657-3826', '66B CONCORD STREET', 'WILMINGTON', '01887', 'north', 'urgent'],
  ['STURDY MEMORIAL ASSOCIATES, INC.', '508-695-1444', '7 WILKINS DR', 'PLAINVILLE', '02762-2257', 'south', 'primary'],
  ['STURDY MEMORIAL HOSPITAL', '5082225200', '211 PARK STREET', 'ATTLEBORO', '02703', 'south', 'hospital'],
  ['PCP30919', '508-261-2928', '800 S MAIN ST', 'MANSFIELD', '02048-3144', 'south', 'primary'],
  ['PCP226751', '978-365-7418', '136 HIGH ST EXT', 'LANCASTER', '01523-2056', 'central', 'primary'],
  ['CLINTON HOSPITAL ASSOCIATION', '9783683000', '201 HIGHLAND STREET', 'CLINTON', '01510', 'central', 'hospital'],
  ['PCP198209', undefined, '1 NAUSSAU ST', 'BOSTON', '02111-1542', 'boston', 'primary'],
  ["ST ELIZABETH'S MEDICAL CENTER", '6177893000', '736 CAMBRIDGE STREET', 'BRIGHTON', '02135', 'boston', 'hospital'],
  ['CARNEY HOSPITAL', '6175062000', '2100 DORCHESTER AVENUE', 'BOSTON', '02124', 'boston', 'hospital'],
  ["BOSTON CHILDREN'S HOSPITAL", '6177356000', '300 LONGWOOD AVENUE', 'BOSTON', '02115', 'boston', 'hospital'],
  ['BOSTON MEDICAL CENTER CORPORATION-', '6176388000', '1 BOSTON MEDICAL CENTER PLACE', 'BOSTON', '02118', 'boston', 'hospital'],
  ['PCP97925', undefined, '280 WASHINGTON ST', 'BRIGHTON', '02135-3511', 'boston', 'primary'],
  ['URGENT CARE MEDICAL CLINIC', '617-247-1400', '581 BOYLSTON STREET', 'BOSTON', '02116', 'boston', 'urgent'],
  ['PCP33587', '617-970-3275', '1330 BEACON ST', 'BROOKLINE', '02446-3202', 'boston', 'primary'],
  ['CODMAN SQUARE HEALTH CENTER', '617-825-9660', '637 WASHINGTON STREET', 'DORCHESTER', '02124', 'boston', 'primary'],
  ['BETH ISRAEL DEACONESS HOSPITAL-MILTON INC', '6176964600', '199 REEDSDALE ROAD', 'MILTON', '02186', 'southShore', 'hospital'],
  ['SOUTH SHORE INTERNAL MEDICINE ASSOCIATES INC.', '617-698-8855', '100 HIGHLAND ST', 'MILTON', '02186-3881', 'southShore', 'primary'],
  ['SOUTH SHORE HOSPITAL', '7813408000', '55 FOGG ROAD', 'SOUTH WEYMOUTH', '02190', 'southShore', 'hospital'],
];

// Same order as ORGANIZATIONS: each organization's clinician.
// prettier-ignore
const PRACTITIONERS: PractitionerRow[] = [
  ['Otis', 'Ortiz', 'male'],
  ['Virgil', 'Bins', 'male'],
  ['Aleisha', 'Rice', 'female'],
  ['Curtis', 'West', 'male'],
  ['Hong', 'Kuhlman', 'female'],
  ['Jacinto', 'Abshire', 'male'],
  ['Jani', 'Swift', 'female'],
  ['Stephen', 'Labadie', 'male'],
  ['Penelope', 'Fahey', 'female'],
  ['Dimple', 'Franecki', 'female'],
  ['Andre', 'Mueller', 'male'],
  ['Linsey', 'McClure', 'female'],
  ['Marco', 'Homenick', 'male'],
  ['Tomas', 'Medhurst', 'male'],
  ['Kristina', 'Lynch', 'female'],
  ['Maximina', 'Hane', 'female'],
  ['Keren', 'Rowe', 'female'],
  ['Renato', 'Bergstrom', 'male'],
  ['Lawerence', 'Ratke', 'male'],
  ['Era', 'Nolan', 'female'],
  ['Tomas', 'Medhurst', 'male'],
  ['Delicia', 'Grant', 'female'],
  ['Elvis', 'Dach', 'male'],
  ['Errol', 'Jaskolski', 'male'],
  ['Jake', 'Streich', 'male'],
  ['Lucille', 'Predovic', 'female'],
];

/** The fixed provider directory: the same for every seed, so populations share it. */
export const PROVIDERS: readonly Provider[] = ORGANIZATIONS.map((row, i) => {
  const [name, phone, line, city, postalCode, region, kind] = row;
  const [given, family, gender] = PRACTITIONERS[i];
  const site = new Rng(0x5eed10c, i);
  const id = site.uuid();
  const pid = site.uuid();
  // Synthea's NPIs start 9999; no sample bundle uses the 999980 block.
  const npi = `999980${String(i).padStart(4, '0')}`;
  return {
    organization: { id, name, phone, line, city, postalCode, region, kind },
    location: {
      id: site.uuid(),
      latitude: Number((42.0 + site.next() * 0.6).toFixed(6)),
      longitude: Number((-72.6 + site.next() * 1.6).toFixed(6)),
    },
    practitioner: { id: pid, npi, given, family, gender },
  };
});

export const REGIONS = [...new Set(ORGANIZATIONS.map((row) => row[5]))];

export function providersIn(region: string, kind: ProviderKind): Provider[] {
  return PROVIDERS.filter((p) => p.organization.region === region && p.organization.kind === kind);
}

export function practitionerName(p: Practitioner): string {
  return `Dr. ${p.given} ${p.family}`;
}

/** `identifier=system|value`: the search of the shared resource's conditional create. */
export function identifierSearch(system: string, value: string): string {
  return `identifier=${system}|${value}`;
}

/** Conditional references, as Synthea writes them in transaction Bundles. */
export function organizationReference(p: Provider): Reference {
  return {
    reference: `Organization?${identifierSearch(SYNTHEA_IDENTIFIER_SYSTEM, p.organization.id)}`,
    display: p.organization.name,
  };
}

export function locationReference(p: Provider): Reference {
  return {
    reference: `Location?${identifierSearch(SYNTHEA_IDENTIFIER_SYSTEM, p.location.id)}`,
    display: p.organization.name,
  };
}

export function practitionerReference(p: Provider): Reference {
  return {
    reference: `Practitioner?${identifierSearch(NPI_SYSTEM, p.practitioner.npi)}`,
    display: practitionerName(p.practitioner),
  };
}

function address(o: Organization) {
  return { line: [o.line], city: o.city, state: 'MA', postalCode: o.postalCode, country: 'US' };
}

function sharedEntry(resource: FhirResource, system: string, value: string): BundleEntry {
  return {
    fullUrl: `urn:uuid:${resource.id}`,
    resource,
    request: {
      method: 'POST',
      url: resource.resourceType,
      ifNoneExist: identifierSearch(system, value),
    },
  };
}

/**
 * The Organization, Location and Practitioner of a provider as conditional creates
 * (`ifNoneExist: identifier=system|value`): the first Bundle that names them creates them,
 * every later one matches the existing resource (FHIR R4 http.html#ccreate).
 */
export function providerEntries(p: Provider): BundleEntry[] {
  const o = p.organization;
  const organization: FhirResource = {
    resourceType: 'Organization',
    id: o.id,
    identifier: [{ system: SYNTHEA_IDENTIFIER_SYSTEM, value: o.id }],
    active: true,
    type: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/organization-type',
            code: 'prov',
            display: 'Healthcare Provider',
          },
        ],
        text: 'Healthcare Provider',
      },
    ],
    name: o.name,
    ...(o.phone ? { telecom: [{ system: 'phone', value: o.phone }] } : {}),
    address: [address(o)],
  };
  const location: FhirResource = {
    resourceType: 'Location',
    id: p.location.id,
    identifier: [{ system: SYNTHEA_IDENTIFIER_SYSTEM, value: p.location.id }],
    status: 'active',
    name: o.name,
    ...(o.phone ? { telecom: [{ system: 'phone', value: o.phone }] } : {}),
    address: address(o),
    position: { longitude: p.location.longitude, latitude: p.location.latitude },
    managingOrganization: organizationReference(p),
  };
  const pr = p.practitioner;
  const practitioner: FhirResource = {
    resourceType: 'Practitioner',
    id: pr.id,
    identifier: [{ system: NPI_SYSTEM, value: pr.npi }],
    active: true,
    name: [{ family: pr.family, given: [pr.given], prefix: ['Dr.'] }],
    telecom: [{ system: 'email', value: `${pr.given}.${pr.family}@example.com`, use: 'work' }],
    address: [address(o)],
    gender: pr.gender,
  };
  return [
    sharedEntry(organization, SYNTHEA_IDENTIFIER_SYSTEM, o.id),
    sharedEntry(location, SYNTHEA_IDENTIFIER_SYSTEM, p.location.id),
    sharedEntry(practitioner, NPI_SYSTEM, pr.npi),
  ];
}
