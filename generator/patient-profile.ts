import {
  BIRTH_PLACES,
  FAMILY,
  FEMALE_GIVEN,
  MALE_GIVEN,
  PRIVATE_PAYERS,
  REGION_TOWNS,
  STREET_NAMES,
} from './demographics';
import type { FhirResource } from './fhir-bundle';
import { date, dateTime, SIMULATION_END, YEAR } from './fhir-time';
import type { CareProviders, PatientProfile } from './patient-record';
import { Rng } from './prng';
import { providersIn, REGIONS } from './shared-providers';

/** Electronic records in this simulated region start here; nothing older is written. */
const RECORDS_START = Date.UTC(1975, 0, 1);
/** One patient in this many is an elderly dialysis patient: the population's heavy tail. */
const HEAVY_EVERY = 90;

// Age bands of the population and their weights (roughly the US pyramid).
const AGE_BANDS: { lo: number; hi: number; weight: number }[] = [
  { lo: 0, hi: 5, weight: 6 },
  { lo: 5, hi: 18, weight: 16 },
  { lo: 18, hi: 35, weight: 23 },
  { lo: 35, hi: 50, weight: 19 },
  { lo: 50, hi: 65, weight: 19 },
  { lo: 65, hi: 80, weight: 12 },
  { lo: 80, hi: 98, weight: 5 },
];
const REGION_WEIGHTS: Record<string, number> = {
  boston: 30,
  cambridge: 12,
  north: 12,
  south: 12,
  southShore: 12,
  west: 12,
  central: 10,
};

/**
 * Who the patient is (age, sex, home, providers, physiology, habits) and their Patient
 * resource, in the shape of the Synthea sample bundles.
 */
export function createPatient(
  rng: Rng,
  seed: number,
  index: number,
): { profile: PatientProfile; providers: CareProviders; patient: FhirResource } {
  const id = rng.uuid();
  const gender = rng.chance(0.5) ? 'male' : 'female';
  // Exactly one patient in HEAVY_EVERY (by index, offset by the seed) is in the heavy tail, so
  // any population, however small, has its share rather than a random number of them.
  const heavy = (index + (seed % HEAVY_EVERY)) % HEAVY_EVERY === 0;
  const band = rng.weighted(AGE_BANDS, (b) => b.weight);
  const age = heavy ? rng.range(58, 92) : rng.range(band.lo, band.hi);
  const deceased = age >= 60 && rng.chance(0.12);
  const end = deceased
    ? SIMULATION_END - rng.range(0, Math.min(10, age - 55)) * YEAR
    : SIMULATION_END;
  // Synthea's people live on a clock of whole days from their birth time.
  const birth = end - age * YEAR;
  // Most children were born into the region's care; everyone else's record starts when they
  // joined it, years or decades ago (what they had before arrives as history).
  const history = heavy
    ? Math.min(age, rng.range(10, 30))
    : age < 18 && rng.chance(0.6)
      ? age
      : Math.min(age, 6 + rng.exponential(22));
  const recordsFrom = Math.max(RECORDS_START, end - history * YEAR);
  const given = rng.pick(gender === 'male' ? MALE_GIVEN : FEMALE_GIVEN);
  const family = rng.pick(FAMILY);
  const adult = age >= 18;
  const married = adult && rng.chance(0.55);
  const prefix = !adult ? undefined : gender === 'male' ? 'Mr.' : married ? 'Mrs.' : 'Ms.';
  const region = rng.weighted(REGIONS, (r) => REGION_WEIGHTS[r] ?? 1);
  const town = rng.pick(REGION_TOWNS[region]);
  const hospital = rng.pick(providersIn(region, 'hospital'));
  const primaries = providersIn(region, 'primary');
  const urgents = providersIn(region, 'urgent');
  const providers: CareProviders = {
    primary: primaries.length > 0 ? rng.pick(primaries) : hospital,
    hospital,
    urgent: urgents.length > 0 ? rng.pick(urgents) : hospital,
  };
  const smokes = rng.chance(0.3);
  const smokingFrom = smokes ? rng.range(14, 25) : undefined;
  const profile: PatientProfile = {
    gender,
    birth,
    end,
    recordsFrom,
    heavy,
    deceased,
    given,
    family,
    prefix,
    adultHeight: gender === 'male' ? rng.normal(176, 7) : rng.normal(163, 6.5),
    bmiBase: Math.min(45, Math.max(18, rng.normal(26, 4.5))),
    systolic: rng.normal(117, 8),
    diastolic: rng.normal(76, 6),
    heartRate: rng.normal(74, 8),
    smokingFrom,
    smokingUntil:
      smokingFrom !== undefined && rng.chance(0.6) ? smokingFrom + rng.range(5, 30) : undefined,
    privatePayer: rng.pick(PRIVATE_PAYERS),
    medicaid: rng.chance(0.18),
    race: rng.weighted(['white', 'black', 'asian', 'native', 'other'], (r) =>
      r === 'white' ? 75 : r === 'black' ? 10 : r === 'asian' ? 8 : r === 'native' ? 1 : 6,
    ),
    married,
  };
  const mother = `${rng.pick(FEMALE_GIVEN)} ${rng.pick(FAMILY)}`;
  const phone = `555-${rng.digits(3)}-${rng.digits(4)}`;
  const identifiers: unknown[] = [
    { system: 'https://github.com/synthetichealth/synthea', value: id },
    {
      type: identifierType('MR', 'Medical Record Number'),
      system: 'http://hospital.smarthealthit.org',
      value: id,
    },
    {
      type: identifierType('SS', 'Social Security Number'),
      system: 'http://hl7.org/fhir/sid/us-ssn',
      value: `999-${rng.digits(2)}-${rng.digits(4)}`,
    },
  ];
  if (age >= 16) {
    identifiers.push({
      type: identifierType('DL', "Driver's License"),
      system: 'urn:oid:2.16.840.1.113883.4.3.25',
      value: `S999${rng.digits(5)}`,
    });
  }
  if (age >= 18 && rng.chance(0.6)) {
    identifiers.push({
      type: identifierType('PPN', 'Passport Number'),
      system: 'http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber',
      value: `X${rng.digits(8)}X`,
    });
  }
  const daly = rng.range(0, age / 40);
  const marital = married
    ? { code: 'M', display: 'M' }
    : adult
      ? { code: 'S', display: 'S' }
      : { code: 'S', display: 'Never Married' };
  const patient: FhirResource = {
    resourceType: 'Patient',
    id,
    text: {
      status: 'generated',
      div:
        '<div xmlns="http://www.w3.org/1999/xhtml">Generated by the synthetic population ' +
        `generator. Population seed: ${seed}  Person index: ${index}</div>`,
    },
    extension: [
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
        valueString: mother,
      },
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
        valueAddress: { city: rng.pick(BIRTH_PLACES), state: 'Massachusetts', country: 'US' },
      },
      {
        url: 'http://synthetichealth.github.io/synthea/disability-adjusted-life-years',
        valueDecimal: daly,
      },
      {
        url: 'http://synthetichealth.github.io/synthea/quality-adjusted-life-years',
        valueDecimal: age - daly,
      },
    ],
    identifier: identifiers,
    name: [{ use: 'official', family, given: [given], ...(prefix ? { prefix: [prefix] } : {}) }],
    telecom: [{ system: 'phone', value: phone, use: 'home' }],
    gender,
    birthDate: date(birth),
    ...(deceased ? { deceasedDateTime: dateTime(end) } : {}),
    address: [
      {
        extension: [
          {
            url: 'http://hl7.org/fhir/StructureDefinition/geolocation',
            extension: [
              { url: 'latitude', valueDecimal: town.latitude + rng.range(-0.02, 0.02) },
              { url: 'longitude', valueDecimal: town.longitude + rng.range(-0.02, 0.02) },
            ],
          },
        ],
        line: [`${rng.int(1, 999)} ${rng.pick(STREET_NAMES)}`],
        city: town.city,
        state: 'Massachusetts',
        postalCode: town.postalCode,
        country: 'US',
      },
    ],
    maritalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', ...marital }],
      text: marital.display,
    },
    multipleBirthBoolean: rng.chance(0.015),
    communication: [
      {
        language: {
          coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English' }],
          text: 'English',
        },
      },
    ],
  };
  return { profile, providers, patient };
}

function identifierType(code: string, display: string) {
  return {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code, display }],
    text: display,
  };
}
