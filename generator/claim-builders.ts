import type { Coding } from './code-tables';
import type { Reference, ResourceContent } from './fhir-bundle';
import { dateTime, YEAR } from './fhir-time';

const CLAIM_TYPE = 'http://terminology.hl7.org/CodeSystem/claim-type';
const BB_ADJUDICATION = 'https://bluebutton.cms.gov/resources/codesystem/adjudication';
const BB_VARIABLES = 'https://bluebutton.cms.gov/resources/variables';

/** A billed line: a procedure, an immunization or a diagnosis the encounter produced. */
export interface ClaimLine {
  kind: 'procedure' | 'immunization' | 'diagnosis';
  code: Coding;
  /** The Procedure or Condition entry's fullUrl; immunizations are billed by code only. */
  ref?: string;
  net?: number;
}

export interface EncounterClaim {
  patient: Reference;
  encounterRef: string;
  encounterType: Coding;
  institutional: boolean;
  start: number;
  end: number;
  organization: Reference;
  location: Reference;
  practitioner: Reference;
  payer: string;
  placeOfService: Coding;
  encounterCost: number;
  lines: ClaimLine[];
}

export const PLACES_OF_SERVICE = {
  office: {
    system: 'http://terminology.hl7.org/CodeSystem/ex-serviceplace',
    code: '11',
    display: 'Office',
  },
  inpatient: {
    system: 'http://terminology.hl7.org/CodeSystem/ex-serviceplace',
    code: '21',
    display: 'Inpatient Hospital',
  },
  emergency: {
    system: 'http://terminology.hl7.org/CodeSystem/ex-serviceplace',
    code: '23',
    display: 'Emergency Room – Hospital',
  },
} as const;

const concept = (c: Coding) => ({ coding: [c], text: c.display });
const money = (value: number) => ({ value: round2(value), currency: 'USD' });

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function claimType(institutional: boolean, pharmacy = false) {
  return {
    coding: [
      {
        system: CLAIM_TYPE,
        code: pharmacy ? 'pharmacy' : institutional ? 'institutional' : 'professional',
      },
    ],
  };
}

const PRIORITY = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }],
};

interface NumberedLines {
  diagnosis: { sequence: number; line: ClaimLine }[];
  procedure: { sequence: number; line: ClaimLine }[];
}

function numberLines(lines: ClaimLine[]): NumberedLines {
  const diagnosis = lines.filter((l) => l.kind === 'diagnosis');
  const procedure = lines.filter((l) => l.kind === 'procedure');
  return {
    diagnosis: diagnosis.map((line, i) => ({ sequence: i + 1, line })),
    procedure: procedure.map((line, i) => ({ sequence: i + 1, line })),
  };
}

function total(claim: EncounterClaim): number {
  return claim.lines.reduce((sum, l) => sum + (l.net ?? 0), claim.encounterCost);
}

/** The encounter's Claim (professional or institutional), shaped like Synthea's R4 export. */
export function encounterClaim(claim: EncounterClaim): ResourceContent {
  const numbered = numberLines(claim.lines);
  const items: Record<string, unknown>[] = [
    {
      sequence: 1,
      productOrService: concept(claim.encounterType),
      encounter: [{ reference: claim.encounterRef }],
    },
  ];
  for (const line of claim.lines) {
    const item: Record<string, unknown> = { sequence: items.length + 1 };
    if (line.kind === 'diagnosis') {
      item.diagnosisSequence = [numbered.diagnosis.find((d) => d.line === line)!.sequence];
    } else if (line.kind === 'procedure') {
      item.procedureSequence = [numbered.procedure.find((d) => d.line === line)!.sequence];
    }
    item.productOrService = concept(line.code);
    if (line.net !== undefined) item.net = money(line.net);
    items.push(item);
  }
  return {
    resourceType: 'Claim',
    status: 'active',
    type: claimType(claim.institutional),
    use: 'claim',
    patient: claim.patient,
    billablePeriod: { start: dateTime(claim.start), end: dateTime(claim.end) },
    created: dateTime(claim.end),
    provider: claim.organization,
    priority: PRIORITY,
    facility: claim.location,
    ...(numbered.diagnosis.length > 0
      ? {
          diagnosis: numbered.diagnosis.map(({ sequence, line }) => ({
            sequence,
            diagnosisReference: { reference: line.ref! },
          })),
        }
      : {}),
    ...(numbered.procedure.length > 0
      ? {
          procedure: numbered.procedure.map(({ sequence, line }) => ({
            sequence,
            procedureReference: { reference: line.ref! },
          })),
        }
      : {}),
    insurance: [{ sequence: 1, focal: true, coverage: { display: claim.payer } }],
    item: items,
    total: money(total(claim)),
  };
}

/** A pharmacy Claim for one prescription, as Synthea bills each MedicationRequest. */
export function pharmacyClaim(
  claim: EncounterClaim,
  prescriptionRef: string,
  cost: number,
): ResourceContent {
  return {
    resourceType: 'Claim',
    status: 'active',
    type: claimType(false, true),
    use: 'claim',
    patient: { reference: claim.patient.reference },
    billablePeriod: { start: dateTime(claim.start), end: dateTime(claim.end) },
    created: dateTime(claim.end),
    provider: claim.organization,
    priority: PRIORITY,
    prescription: { reference: prescriptionRef },
    insurance: [{ sequence: 1, focal: true, coverage: { display: claim.payer } }],
    item: [
      {
        sequence: 1,
        productOrService: concept(claim.encounterType),
        encounter: [{ reference: claim.encounterRef }],
      },
    ],
    total: money(cost),
  };
}

function adjudication(code: string, display: string, amount?: number) {
  return {
    category: { coding: [{ system: BB_ADJUDICATION, code: `${BB_VARIABLES}/${code}`, display }] },
    ...(amount === undefined ? {} : { amount: money(amount) }),
  };
}

function lineAdjudication(net: number) {
  const coinsurance = round2(net * 0.2);
  return [
    adjudication('line_coinsrnc_amt', 'Line Beneficiary Coinsurance Amount', coinsurance),
    adjudication('line_prvdr_pmt_amt', 'Line Provider Payment Amount', net - coinsurance),
    adjudication('line_sbmtd_chrg_amt', 'Line Submitted Charge Amount', net),
    adjudication('line_alowd_chrg_amt', 'Line Allowed Charge Amount', net),
    adjudication('line_bene_ptb_ddctbl_amt', 'Line Beneficiary Part B Deductible Amount', 0),
    adjudication('line_prcsg_ind_cd', 'Line Processing Indicator Code'),
  ];
}

/**
 * The ExplanationOfBenefit adjudicating the encounter's Claim, with the contained referral and
 * coverage and per-line Blue Button adjudication amounts Synthea writes.
 */
export function explanationOfBenefit(
  claim: EncounterClaim,
  claimRef: string,
  claimId: string,
): ResourceContent {
  const numbered = numberLines(claim.lines);
  const category = {
    coding: [
      {
        system: `${BB_VARIABLES}/line_cms_type_srvc_cd`,
        code: '1',
        display: 'Medical care',
      },
    ],
  };
  const servicedPeriod = { start: dateTime(claim.start), end: dateTime(claim.end) };
  const location = { coding: [claim.placeOfService] };
  const items: Record<string, unknown>[] = [
    {
      sequence: 1,
      category,
      productOrService: concept(claim.encounterType),
      servicedPeriod,
      locationCodeableConcept: location,
      encounter: [{ reference: claim.encounterRef }],
    },
  ];
  let paid = 0;
  for (const line of claim.lines) {
    const item: Record<string, unknown> = { sequence: items.length + 1 };
    if (line.kind === 'diagnosis') {
      item.diagnosisSequence = [numbered.diagnosis.find((d) => d.line === line)!.sequence];
    }
    item.category = category;
    item.productOrService = concept(line.code);
    item.servicedPeriod = servicedPeriod;
    item.locationCodeableConcept = location;
    if (line.net !== undefined) {
      item.net = money(line.net);
      item.adjudication = lineAdjudication(line.net);
      paid += line.net - round2(line.net * 0.2);
    }
    items.push(item);
  }
  const submitted = total(claim);
  return {
    resourceType: 'ExplanationOfBenefit',
    contained: [
      {
        resourceType: 'ServiceRequest',
        id: 'referral',
        status: 'completed',
        intent: 'order',
        subject: { reference: claim.patient.reference },
        requester: { reference: claim.practitioner.reference },
        performer: [{ reference: claim.practitioner.reference }],
      },
      {
        resourceType: 'Coverage',
        id: 'coverage',
        status: 'active',
        type: { text: claim.payer },
        beneficiary: { reference: claim.patient.reference },
        payor: [{ display: claim.payer }],
      },
    ],
    identifier: [
      { system: `${BB_VARIABLES}/clm_id`, value: claimId },
      {
        system: 'https://bluebutton.cms.gov/resources/identifier/claim-group',
        value: '99999999999',
      },
    ],
    status: 'active',
    type: claimType(claim.institutional),
    use: 'claim',
    patient: { reference: claim.patient.reference },
    billablePeriod: { start: dateTime(claim.end), end: dateTime(claim.end + YEAR) },
    created: dateTime(claim.end),
    insurer: { display: claim.payer },
    provider: { reference: claim.practitioner.reference },
    referral: { reference: '#referral' },
    facility: claim.location,
    claim: { reference: claimRef },
    outcome: 'complete',
    careTeam: [
      {
        sequence: 1,
        provider: { reference: claim.practitioner.reference },
        role: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/claimcareteamrole',
              code: 'primary',
              display: 'Primary Care Practitioner',
            },
          ],
        },
      },
    ],
    ...(numbered.diagnosis.length > 0
      ? {
          diagnosis: numbered.diagnosis.map(({ sequence, line }) => ({
            sequence,
            diagnosisReference: { reference: line.ref! },
            type: [
              {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/ex-diagnosistype',
                    code: 'principal',
                  },
                ],
              },
            ],
          })),
        }
      : {}),
    ...(numbered.procedure.length > 0
      ? {
          procedure: numbered.procedure.map(({ sequence, line }) => ({
            sequence,
            procedureReference: { reference: line.ref! },
          })),
        }
      : {}),
    insurance: [{ focal: true, coverage: { reference: '#coverage', display: claim.payer } }],
    item: items,
    total: [
      {
        category: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/adjudication',
              code: 'submitted',
              display: 'Submitted Amount',
            },
          ],
          text: 'Submitted Amount',
        },
        amount: money(submitted),
      },
    ],
    payment: { amount: money(paid) },
  };
}
