import {
  ClaimLine,
  EncounterClaim,
  encounterClaim,
  explanationOfBenefit,
  pharmacyClaim,
  PLACES_OF_SERVICE,
  round2,
} from './claim-builders';
import {
  ANALYTES,
  AnalyteKey,
  BLOOD_PRESSURE,
  CARE_TEAM_ROLES,
  CarePlanKind,
  Coding,
  CONDITIONS,
  DIASTOLIC,
  IMAGING,
  LAB_PANELS,
  NOTE_TYPES,
  PanelKey,
  QuantityKind,
  SYSTOLIC,
  UCUM,
} from './code-tables';
import type { BundleEntry, FhirResource, ResourceContent } from './fhir-bundle';
import { DAY, dateTime, instant, MINUTE, YEAR } from './fhir-time';
import { Rng } from './prng';
import {
  locationReference,
  organizationReference,
  practitionerReference,
  Provider,
  providerEntries,
} from './shared-providers';

export type ConditionKey = keyof typeof CONDITIONS;
export type EncounterClass = 'AMB' | 'EMER' | 'IMP';

export interface PatientProfile {
  gender: 'male' | 'female';
  birth: number;
  /** Death, or the end of the simulation. */
  end: number;
  /** When the patient's record in this health system starts. */
  recordsFrom: number;
  /** In the heavy tail (years of weekly dialysis). */
  heavy: boolean;
  deceased: boolean;
  given: string;
  family: string;
  prefix?: string;
  adultHeight: number;
  bmiBase: number;
  systolic: number;
  diastolic: number;
  heartRate: number;
  smokingFrom?: number;
  smokingUntil?: number;
  privatePayer: string;
  medicaid: boolean;
  race: string;
  married: boolean;
}

export interface CareProviders {
  primary: Provider;
  hospital: Provider;
  urgent: Provider;
}

export interface ConditionRecord {
  key: ConditionKey;
  ref: string;
  code: Coding;
  onset: number;
  abatement?: number;
  resource: FhirResource;
}

interface ActiveMedication {
  resource: FhirResource;
  code: Coding;
}

const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const concept = (c: Coding) => ({ coding: [c], text: c.display });

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

// Fraction of adult height by age (years), interpolated; growth ends at 18.
const GROWTH: [number, number][] = [
  [0, 0.29],
  [0.5, 0.38],
  [1, 0.43],
  [2, 0.5],
  [5, 0.63],
  [10, 0.79],
  [14, 0.92],
  [18, 1],
];
// Body mass index of a typical child by age, before the adult baseline takes over.
const CHILD_BMI: [number, number][] = [
  [0, 13.3],
  [0.5, 17],
  [1, 17.5],
  [2, 16.5],
  [5, 15.4],
  [10, 17.2],
  [15, 20.2],
  [18, 21.8],
];

// Kidney function analytes by CKD stage 2, 3, 4 and end-stage renal disease.
const RENAL_RANGES: Partial<Record<AnalyteKey, readonly (readonly [number, number])[]>> = {
  creatinine: [
    [1.2, 1.5],
    [1.5, 2.5],
    [2.5, 4.5],
    [5, 10],
  ],
  egfr: [
    [60, 89],
    [30, 59],
    [15, 29],
    [5, 14],
  ],
  urea: [
    [18, 25],
    [20, 40],
    [35, 70],
    [50, 100],
  ],
  potassium: [
    [3.6, 5],
    [3.8, 5.2],
    [4.2, 5.6],
    [4.5, 6.2],
  ],
};

function interpolate(table: [number, number][], x: number): number {
  if (x <= table[0][0]) return table[0][1];
  for (let i = 1; i < table.length; i++) {
    const [x1, y1] = table[i];
    if (x <= x1) {
      const [x0, y0] = table[i - 1];
      return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
    }
  }
  return table[table.length - 1][1];
}

/**
 * One patient's record while it is being simulated: the entries written so far (in the order
 * a transaction Bundle lists them), the conditions diagnosed and the chronic medications
 * running, so later visits can refer to them.
 */
export class PatientRecord {
  readonly patientRef: string;
  readonly conditions: ConditionRecord[] = [];
  readonly allergies: string[] = [];
  private readonly clinical: BundleEntry[] = [];
  private readonly patientEntry: BundleEntry;
  private readonly usedProviders = new Set<Provider>();
  private readonly activeMedications = new Map<string, ActiveMedication>();

  constructor(
    readonly rng: Rng,
    readonly profile: PatientProfile,
    readonly providers: CareProviders,
    patient: FhirResource,
  ) {
    this.patientRef = `urn:uuid:${patient.id}`;
    this.patientEntry = {
      fullUrl: this.patientRef,
      resource: patient,
      request: { method: 'POST', url: 'Patient' },
    };
  }

  get displayName(): string {
    const p = this.profile;
    return `${p.prefix ? `${p.prefix} ` : ''}${p.given} ${p.family}`;
  }

  /** Adds a resource with a fresh id; returns its `urn:uuid:` fullUrl. */
  add(resource: ResourceContent): string {
    return this.addResource(resource).fullUrl;
  }

  /** Adds a resource with a fresh id (written right after resourceType, as servers do). */
  addResource(resource: ResourceContent): BundleEntry {
    const id = this.rng.uuid();
    const { resourceType, ...elements } = resource;
    const full: FhirResource = { resourceType, id, ...elements };
    const entry: BundleEntry = {
      fullUrl: `urn:uuid:${id}`,
      resource: full,
      request: { method: 'POST', url: full.resourceType },
    };
    this.clinical.push(entry);
    return entry;
  }

  use(provider: Provider): void {
    this.usedProviders.add(provider);
  }

  ageAt(t: number): number {
    return (t - this.profile.birth) / YEAR;
  }

  has(key: ConditionKey, t: number): boolean {
    return this.conditions.some(
      (c) => c.key === key && c.onset <= t && (c.abatement === undefined || c.abatement > t),
    );
  }

  /** Marks a condition written as active resolved at `t` (it became another, or went away). */
  resolve(condition: ConditionRecord, t: number): void {
    condition.abatement = t;
    condition.resource.clinicalStatus = {
      coding: [{ system: CONDITION_CLINICAL, code: 'resolved' }],
    };
    condition.resource.abatementDateTime = dateTime(t);
  }

  condition(key: ConditionKey): ConditionRecord | undefined {
    return this.conditions.find((c) => c.key === key && c.abatement === undefined);
  }

  activeAt(t: number): ConditionRecord[] {
    return this.conditions.filter(
      (c) => c.onset <= t && (c.abatement === undefined || c.abatement > t),
    );
  }

  smokerAt(t: number): 'never' | 'former' | 'current' {
    const { smokingFrom, smokingUntil } = this.profile;
    const age = this.ageAt(t);
    if (smokingFrom === undefined || age < smokingFrom) return 'never';
    return smokingUntil !== undefined && age >= smokingUntil ? 'former' : 'current';
  }

  payerAt(t: number): string {
    if (this.ageAt(t) >= 65) return 'Medicare';
    return this.profile.medicaid ? 'Medicaid' : this.profile.privatePayer;
  }

  heightAt(t: number): number {
    return this.profile.adultHeight * interpolate(GROWTH, this.ageAt(t));
  }

  bmiAt(t: number): number {
    const age = this.ageAt(t);
    if (age < 18) return interpolate(CHILD_BMI, age) * (this.profile.bmiBase / 27);
    // Adults gain a little each decade until late life.
    return this.profile.bmiBase + Math.min(age - 18, 50) * 0.06;
  }

  weightAt(t: number): number {
    const h = this.heightAt(t) / 100;
    return this.bmiAt(t) * h * h;
  }

  /** A laboratory value shaped by the conditions active at `t`. */
  analyteValue(key: AnalyteKey, t: number): number {
    const a = ANALYTES[key];
    const [low, high] = this.analyteRange(key, t) ?? [a.low, a.high];
    const spread = (high - low) * 0.08;
    return round(this.rng.range(low - spread, high + spread), a.decimals);
  }

  /** The range a condition (or sex) moves an analyte to, when one does. */
  private analyteRange(key: AnalyteKey, t: number): readonly [number, number] | undefined {
    const has = (k: ConditionKey) => this.has(k, t);
    const renal = RENAL_RANGES[key];
    if (renal) {
      const stage = has('endStageRenal')
        ? 3
        : has('ckd4')
          ? 2
          : has('ckd3')
            ? 1
            : has('ckd2')
              ? 0
              : -1;
      return stage < 0 ? undefined : renal[stage];
    }
    const anemic = has('anemia') || has('endStageRenal');
    const diabetic = has('diabetes');
    const prediabetic = has('prediabetes');
    const lipids = has('hyperlipidemia');
    const ranges: Partial<Record<AnalyteKey, readonly [number, number] | undefined>> = {
      glucose: diabetic ? [130, 240] : prediabetic ? [100, 125] : undefined,
      a1c: diabetic ? [6.5, 9.8] : prediabetic ? [5.7, 6.4] : undefined,
      cholesterol: lipids ? [200, 290] : undefined,
      ldl: lipids ? [130, 210] : undefined,
      triglycerides: lipids ? [150, 420] : undefined,
      hemoglobin: anemic
        ? [8.5, 11.5]
        : this.profile.gender === 'female'
          ? [12, 15.5]
          : [13.5, 17.5],
      hematocrit: anemic ? [26, 34] : undefined,
      fev1fvc: has('chronicBronchitis') ? [45, 69] : undefined,
    };
    return ranges[key];
  }

  /** Starts or renews a chronic medication; the one it replaces is marked stopped. */
  startMedication(code: Coding, resource: FhirResource): void {
    const previous = this.activeMedications.get(code.code);
    if (previous) previous.resource.status = 'stopped';
    this.activeMedications.set(code.code, { resource, code });
  }

  stopMedication(code: Coding): void {
    const active = this.activeMedications.get(code.code);
    if (active) {
      active.resource.status = 'stopped';
      this.activeMedications.delete(code.code);
    }
  }

  medicationsAt(): Coding[] {
    return [...this.activeMedications.values()].map((m) => m.code);
  }

  isOnMedication(code: Coding): boolean {
    return this.activeMedications.has(code.code);
  }

  /**
   * The finished transaction entries: the Patient, the shared providers it uses (conditional
   * creates), its clinical record in time order and a Provenance naming every entry.
   */
  entries(): BundleEntry[] {
    const primary = this.providers.primary;
    this.use(primary);
    if (this.profile.deceased) {
      for (const m of this.activeMedications.values()) m.resource.status = 'stopped';
    }
    const shared = [...this.usedProviders]
      .sort((a, b) => (a.organization.id < b.organization.id ? -1 : 1))
      .flatMap(providerEntries);
    const own = [this.patientEntry, ...this.clinical];
    const provenanceId = this.rng.uuid();
    const provenance: BundleEntry = {
      fullUrl: `urn:uuid:${provenanceId}`,
      resource: {
        resourceType: 'Provenance',
        id: provenanceId,
        target: own.map((e) => ({ reference: e.fullUrl })),
        recorded: instant(this.profile.end),
        agent: [
          provenanceAgent('author', 'Author', primary),
          provenanceAgent('transmitter', 'Transmitter', primary),
        ],
      },
      request: { method: 'POST', url: 'Provenance' },
    };
    return [this.patientEntry, ...shared, ...this.clinical, provenance];
  }
}

function provenanceAgent(code: string, display: string, provider: Provider) {
  return {
    type: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
          code,
          display,
        },
      ],
      text: display,
    },
    who: practitionerReference(provider),
    onBehalfOf: organizationReference(provider),
  };
}

export interface VisitOptions {
  type: Coding;
  cls: EncounterClass;
  provider: Provider;
  start: number;
  minutes: number;
  reason?: Coding;
}

/**
 * One encounter being written: the Encounter entry first, then whatever happens during it,
 * and on {@link finish} the Claim, ExplanationOfBenefit, pharmacy Claims and (sometimes) a
 * clinical note, as Synthea orders them.
 */
export class Visit {
  readonly ref: string;
  readonly start: number;
  readonly end: number;
  readonly provider: Provider;
  private readonly lines: ClaimLine[] = [];
  private readonly prescriptions: { ref: string; cost: number; code: Coding }[] = [];
  private readonly subject: { reference: string };
  private readonly encounter: { reference: string };
  private readonly issued: string;
  private readonly effective: string;
  private noteType?: Coding;
  private chiefComplaint?: string;

  constructor(
    private readonly record: PatientRecord,
    private readonly options: VisitOptions,
  ) {
    this.start = options.start;
    this.end = options.start + options.minutes * MINUTE;
    this.provider = options.provider;
    record.use(options.provider);
    const period = { start: dateTime(this.start), end: dateTime(this.end) };
    this.ref = record.add({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: options.cls },
      type: [concept(options.type)],
      subject: { reference: record.patientRef, display: record.displayName },
      participant: [
        {
          type: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                  code: 'PPRF',
                  display: 'primary performer',
                },
              ],
              text: 'primary performer',
            },
          ],
          period,
          individual: practitionerReference(options.provider),
        },
      ],
      period,
      ...(options.reason ? { reasonCode: [{ coding: [options.reason] }] } : {}),
      location: [{ location: locationReference(options.provider) }],
      serviceProvider: organizationReference(options.provider),
    });
    this.subject = { reference: record.patientRef };
    this.encounter = { reference: this.ref };
    this.effective = dateTime(this.start);
    this.issued = instant(this.start + record.rng.int(0, 999));
    if (options.reason) this.chiefComplaint = options.reason.display;
  }

  get rng(): Rng {
    return this.record.rng;
  }

  private observationBase(category: string, code: Coding) {
    return {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: category, display: category }] }],
      code: concept(code),
      subject: this.subject,
      encounter: this.encounter,
      effectiveDateTime: this.effective,
      issued: this.issued,
    };
  }

  quantity(category: string, kind: QuantityKind, value: number): { ref: string; display: string } {
    const ref = this.record.add({
      ...this.observationBase(category, kind.code),
      valueQuantity: { value, unit: kind.unit, system: UCUM, code: kind.unit },
    });
    return { ref, display: kind.code.display };
  }

  codedObservation(category: string, code: Coding, value: Coding): string {
    return this.record.add({
      ...this.observationBase(category, code),
      valueCodeableConcept: concept(value),
    });
  }

  /** An Observation whose answers are components (blood pressure, questionnaires). */
  componentObservation(category: string, code: Coding, components: unknown[]): string {
    return this.record.add({ ...this.observationBase(category, code), component: components });
  }

  bloodPressure(systolic: number, diastolic: number): string {
    const q = (value: number) => ({
      value,
      unit: 'mm[Hg]',
      system: UCUM,
      code: 'mm[Hg]',
    });
    return this.componentObservation('vital-signs', BLOOD_PRESSURE, [
      { code: concept(DIASTOLIC), valueQuantity: q(diastolic) },
      { code: concept(SYSTOLIC), valueQuantity: q(systolic) },
    ]);
  }

  /** One analyte on its own (not part of a reported panel). */
  lab(key: AnalyteKey): string {
    return this.quantity('laboratory', ANALYTES[key], this.record.analyteValue(key, this.start))
      .ref;
  }

  /** A laboratory panel: an Observation per analyte and the DiagnosticReport listing them. */
  labPanel(key: PanelKey): string {
    const panel = LAB_PANELS[key];
    const result = panel.analytes.map((a) => {
      const { ref, display } = this.quantity(
        'laboratory',
        ANALYTES[a],
        this.record.analyteValue(a, this.start),
      );
      return { reference: ref, display };
    });
    return this.record.add({
      resourceType: 'DiagnosticReport',
      status: 'final',
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v2-0074',
              code: 'LAB',
              display: 'Laboratory',
            },
          ],
        },
      ],
      code: concept(panel.code),
      subject: this.subject,
      encounter: this.encounter,
      effectiveDateTime: this.effective,
      issued: this.issued,
      result,
    });
  }

  /** Records a diagnosis made at this encounter; billed as a diagnosis line. */
  diagnose(key: ConditionKey, abatement?: number, onsetAt = this.start): ConditionRecord {
    const code = CONDITIONS[key];
    const onset = dateTime(onsetAt);
    const recorded = dateTime(this.start);
    const resolved = abatement !== undefined && abatement <= this.record.profile.end;
    const { fullUrl: ref, resource } = this.record.addResource({
      resourceType: 'Condition',
      clinicalStatus: {
        coding: [{ system: CONDITION_CLINICAL, code: resolved ? 'resolved' : 'active' }],
      },
      verificationStatus: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
            code: 'confirmed',
          },
        ],
      },
      code: concept(code),
      subject: this.subject,
      encounter: this.encounter,
      onsetDateTime: onset,
      ...(resolved ? { abatementDateTime: dateTime(abatement) } : {}),
      recordedDate: recorded,
    });
    const condition: ConditionRecord = { key, ref, code, onset: onsetAt, abatement, resource };
    this.record.conditions.push(condition);
    this.lines.push({ kind: 'diagnosis', code, ref });
    return condition;
  }

  procedure(code: Coding, reason?: ConditionRecord, minutes = 15): string {
    const at = this.start + this.rng.int(0, 10) * MINUTE;
    const ref = this.record.add({
      resourceType: 'Procedure',
      status: 'completed',
      code: concept(code),
      subject: this.subject,
      encounter: this.encounter,
      performedPeriod: { start: dateTime(at), end: dateTime(at + minutes * MINUTE) },
      ...(reason
        ? { reasonReference: [{ reference: reason.ref, display: reason.code.display }] }
        : {}),
    });
    this.lines.push({ kind: 'procedure', code, ref, net: procedureCost(code, this.rng) });
    return ref;
  }

  immunize(vaccine: Coding): string {
    const ref = this.record.add({
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: concept(vaccine),
      patient: this.subject,
      encounter: this.encounter,
      occurrenceDateTime: this.effective,
      primarySource: true,
    });
    this.lines.push({ kind: 'immunization', code: vaccine, net: 140.52 });
    return ref;
  }

  /**
   * A MedicationRequest, billed on a pharmacy Claim. Chronic ones carry a daily dosage and
   * stay active until renewed or stopped; others are over once the illness is.
   */
  prescribe(med: Coding, reason: ConditionRecord | undefined, chronic: boolean): string {
    const resource: ResourceContent = {
      resourceType: 'MedicationRequest',
      status: chronic
        ? 'active'
        : this.end + 30 * DAY < this.record.profile.end
          ? 'stopped'
          : 'active',
      intent: 'order',
      medicationCodeableConcept: concept(med),
      subject: this.subject,
      encounter: this.encounter,
      authoredOn: this.effective,
      requester: practitionerReference(this.provider),
      ...(reason ? { reasonReference: [{ reference: reason.ref }] } : {}),
      dosageInstruction: [
        chronic
          ? {
              sequence: 1,
              timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
              asNeededBoolean: false,
              doseAndRate: [
                {
                  type: {
                    coding: [
                      {
                        system: 'http://terminology.hl7.org/CodeSystem/dose-rate-type',
                        code: 'ordered',
                        display: 'Ordered',
                      },
                    ],
                  },
                  doseQuantity: { value: 1 },
                },
              ],
            }
          : { sequence: 1, asNeededBoolean: true },
      ],
    };
    const entry = this.record.addResource(resource);
    const ref = entry.fullUrl;
    if (chronic) this.record.startMedication(med, entry.resource);
    this.prescriptions.push({
      ref,
      code: med,
      cost: round2(this.rng.range(chronic ? 20 : 5, chronic ? 260 : 60)),
    });
    return ref;
  }

  /** A CareTeam, its CarePlan and the plan's Goals, addressing `reason`. */
  carePlan(
    kind: CarePlanKind,
    reason: ConditionRecord | undefined,
    goals: string[],
    until?: number,
  ): string {
    const ended = until !== undefined && until < this.record.profile.end;
    const period = { start: this.effective, ...(ended ? { end: dateTime(until) } : {}) };
    const status = ended ? 'inactive' : 'active';
    const careTeam = this.record.add({
      resourceType: 'CareTeam',
      status,
      subject: this.subject,
      encounter: this.encounter,
      period,
      participant: [
        {
          role: [concept(CARE_TEAM_ROLES.patient)],
          member: { reference: this.record.patientRef, display: this.record.displayName },
        },
        {
          role: [concept(CARE_TEAM_ROLES.professional)],
          member: practitionerReference(this.provider),
        },
        { role: [concept(CARE_TEAM_ROLES.services)], member: organizationReference(this.provider) },
      ],
      managingOrganization: [organizationReference(this.provider)],
    });
    const goalRefs = goals.map((description) =>
      this.record.add({
        resourceType: 'Goal',
        lifecycleStatus: ended ? 'completed' : 'active',
        achievementStatus: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/goal-achievement',
              code: ended ? 'achieved' : 'in-progress',
            },
          ],
        },
        description: { text: description },
        subject: this.subject,
        ...(reason ? { addresses: [{ reference: reason.ref }] } : {}),
      }),
    );
    const activities = kind.activities.map((a) => a.display);
    return this.record.add({
      resourceType: 'CarePlan',
      text: {
        status: 'generated',
        div:
          `<div xmlns="http://www.w3.org/1999/xhtml">Care Plan for ${kind.category.display}.<br/>` +
          `Activities: <ul>${activities.map((a) => `<li>${a}</li>`).join('')}</ul>` +
          (reason ? `<br/>Care plan is meant to treat ${reason.code.display}.` : '') +
          '</div>',
      },
      status: ended ? 'completed' : 'active',
      intent: 'order',
      category: [concept(kind.category)],
      subject: this.subject,
      encounter: this.encounter,
      period,
      careTeam: [{ reference: careTeam }],
      ...(reason ? { addresses: [{ reference: reason.ref }] } : {}),
      ...(goalRefs.length > 0 ? { goal: goalRefs.map((reference) => ({ reference })) } : {}),
      activity: kind.activities.map((a) => ({
        detail: {
          code: concept(a),
          status: ended ? 'completed' : 'in-progress',
          location: { display: this.provider.organization.name },
        },
      })),
    });
  }

  allergy(code: Coding, category: string): string {
    this.record.allergies.push(code.display);
    return this.record.add({
      resourceType: 'AllergyIntolerance',
      clinicalStatus: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
            code: 'active',
          },
        ],
      },
      verificationStatus: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
            code: 'confirmed',
          },
        ],
      },
      type: 'allergy',
      category: [category],
      criticality: this.rng.chance(0.8) ? 'low' : 'high',
      code: concept(code),
      patient: this.subject,
      recordedDate: this.effective,
    });
  }

  imaging(site: keyof typeof IMAGING): string {
    const s = IMAGING[site];
    const stamp = String(this.start).slice(0, 13);
    const uid = (prefix: string) => `1.2.840.99999999.${prefix}${this.rng.digits(8)}.${stamp}`;
    return this.record.add({
      resourceType: 'ImagingStudy',
      identifier: [{ use: 'official', system: 'urn:ietf:rfc:3986', value: `urn:oid:${uid('')}` }],
      status: 'available',
      subject: this.subject,
      encounter: this.encounter,
      started: this.effective,
      numberOfSeries: 1,
      numberOfInstances: 1,
      series: [
        {
          uid: uid('1.'),
          number: 1,
          modality: {
            system: 'http://dicom.nema.org/resources/ontology/DCM',
            code: 'DX',
            display: 'Digital Radiography',
          },
          numberOfInstances: 1,
          bodySite: s.bodySite,
          started: this.effective,
          instance: [
            {
              uid: uid('1.1.'),
              sopClass: { system: 'urn:ietf:rfc:3986', code: '1.2.840.10008.5.1.4.1.1.1.1' },
              number: 1,
              title: s.title,
            },
          ],
        },
      ],
    });
  }

  /** Asks for a clinical note (DocumentReference) to be written when the visit ends. */
  note(type: Coding = NOTE_TYPES.historyAndPhysical): void {
    this.noteType = type;
  }

  /** Writes the note, the encounter's Claim and ExplanationOfBenefit, and pharmacy Claims. */
  finish(): void {
    if (this.noteType) this.writeNote(this.noteType);
    const o = this.options;
    const claim: EncounterClaim = {
      patient: {
        reference: this.record.patientRef,
        display: `${this.record.profile.given} ${this.record.profile.family}`,
      },
      encounterRef: this.ref,
      encounterType: o.type,
      institutional: o.cls !== 'AMB',
      start: this.start,
      end: this.end,
      organization: organizationReference(this.provider),
      location: locationReference(this.provider),
      practitioner: practitionerReference(this.provider),
      payer: this.record.payerAt(this.start),
      placeOfService:
        o.cls === 'IMP'
          ? PLACES_OF_SERVICE.inpatient
          : o.cls === 'EMER'
            ? PLACES_OF_SERVICE.emergency
            : PLACES_OF_SERVICE.office,
      encounterCost: encounterCost(o.cls, this.rng),
      lines: this.lines,
    };
    const claimRef = this.record.add(encounterClaim(claim));
    this.record.add(explanationOfBenefit(claim, claimRef, claimRef.slice('urn:uuid:'.length)));
    for (const p of this.prescriptions) {
      this.record.add(pharmacyClaim(claim, p.ref, p.cost));
    }
  }

  private writeNote(type: Coding): void {
    const text = this.noteText();
    this.record.add({
      resourceType: 'DocumentReference',
      identifier: [{ system: 'urn:ietf:rfc:3986', value: `urn:uuid:${this.rng.uuid()}` }],
      status: 'current',
      type: { coding: [type] },
      category: [
        {
          coding: [
            {
              system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
              code: 'clinical-note',
              display: 'Clinical Note',
            },
          ],
        },
      ],
      subject: this.subject,
      date: this.issued,
      author: [practitionerReference(this.provider)],
      custodian: organizationReference(this.provider),
      content: [
        {
          attachment: {
            contentType: 'text/plain; charset=utf-8',
            data: Buffer.from(text, 'utf8').toString('base64'),
          },
          format: {
            system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
            code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient',
            display: 'mimeType Sufficient',
          },
        },
      ],
      context: {
        encounter: [this.encounter],
        period: { start: dateTime(this.start), end: dateTime(this.end) },
      },
    });
  }

  /** A note in the layout of Synthea's clinical notes: history, social, medications, plan. */
  private noteText(): string {
    const r = this.record;
    const p = r.profile;
    const age = Math.floor(r.ageAt(this.start));
    const history = r
      .activeAt(this.start)
      .map((c) => c.code.display.toLowerCase())
      .filter((d, i, all) => all.indexOf(d) === i);
    const meds = r.medicationsAt().map((m) => m.display.toLowerCase());
    const smoker = r.smokerAt(this.start);
    const procedures = this.lines
      .filter((l) => l.kind === 'procedure')
      .map((l) => l.code.display.toLowerCase());
    const immunizations = this.lines
      .filter((l) => l.kind === 'immunization')
      .map((l) => l.code.display.toLowerCase());
    const prescribed = this.prescriptions.map((m) => m.code.display.toLowerCase());
    const parts = [
      `\n${dateTime(this.start).slice(0, 10)}\n`,
      '# Chief Complaint',
      this.chiefComplaint ? `- ${this.chiefComplaint}` : 'No complaints.',
      '',
      '# History of Present Illness',
      `${p.given}\n is a ${age} year-old non-hispanic ${p.race} ${p.gender}.` +
        (history.length > 0 ? ` Patient has a history of ${history.join(', ')}.` : ''),
      '',
      '# Social History',
      `Patient is ${p.married ? 'married' : 'single'}. ` +
        (smoker === 'current'
          ? 'Patient is an active smoker.'
          : smoker === 'former'
            ? 'Patient quit smoking.'
            : 'Patient has never smoked.'),
      '',
      `Patient currently has ${r.payerAt(this.start)}.`,
      '',
      '# Allergies',
      r.allergies.length > 0
        ? r.allergies.map((a) => a.toLowerCase()).join(', ')
        : 'No Known Allergies.',
      '',
      '# Medications',
      meds.length > 0 ? meds.join('; ') : 'No Active Medications.',
      '',
      '# Assessment and Plan',
      this.chiefComplaint ? `Patient is presenting with ${this.chiefComplaint.toLowerCase()}.` : '',
      '',
      '## Plan',
      immunizations.length > 0
        ? `Patient was given the following immunizations: ${immunizations.join(', ')}. `
        : '',
      procedures.length > 0
        ? `The following procedures were conducted:\n${procedures.map((x) => `- ${x}`).join('\n')}`
        : '',
      prescribed.length > 0
        ? `The patient was prescribed the following medications:\n${prescribed.map((x) => `- ${x}`).join('\n')}`
        : '',
    ];
    return parts.join('\n');
  }
}

function procedureCost(code: Coding, rng: Rng): number {
  let h = 0;
  for (let i = 0; i < code.code.length; i++) h = (h * 31 + code.code.charCodeAt(i)) >>> 0;
  const base = 120 + (h % 40) * 45;
  return round2(base * rng.range(0.85, 1.15));
}

function encounterCost(cls: EncounterClass, rng: Rng): number {
  switch (cls) {
    case 'AMB':
      return 129.16;
    case 'EMER':
      return round2(rng.range(900, 2600));
    case 'IMP':
      return round2(rng.range(6000, 24000));
  }
}
