import {
  ALLERGIES,
  ANSWER_ENGLISH,
  ANSWER_NO,
  ANSWER_YES,
  CARE_PLANS,
  Coding,
  ENCOUNTER_TYPES as ENC,
  MEDICATIONS as MED,
  NOTE_TYPES,
  PRAPARE,
  PRAPARE_ADDRESS,
  PRAPARE_HOUSEHOLD,
  PRAPARE_INCOME,
  PRAPARE_LANGUAGE,
  PRAPARE_RACE,
  PRAPARE_YES_NO,
  PROCEDURES as PROC,
  RACE_ANSWERS,
  SMOKING_ANSWERS,
  SMOKING_STATUS,
  Survey,
  SURVEYS,
  UCUM,
  VACCINES as VAX,
  VITALS,
  ORAL_TEMPERATURE,
  ANALYTES,
  CONDITIONS,
} from './code-tables';
import type { BundleEntry } from './fhir-bundle';
import { DAY, HOUR, YEAR, yearOf } from './fhir-time';
import {
  ConditionKey,
  ConditionRecord,
  PatientProfile,
  PatientRecord,
  Visit,
  VisitOptions,
} from './patient-record';
import { createPatient } from './patient-profile';
import { Rng } from './prng';

/** Questionnaire screening at check-ups (PHQ-2, PRAPARE, ...) as practised since then. */
const SCREENING_START = Date.UTC(2016, 0, 1);

// Ages (years) of well-child visits; adults follow a sparser rhythm.
const CHILD_VISITS = [0.01, 0.17, 0.33, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10, 11, 12, 14, 16];
// Childhood vaccines by the well-child visit (age in years) that gives them.
const CHILD_VACCINES: Record<number, Coding[]> = {
  0.01: [VAX.hepBPediatric],
  0.17: [VAX.dtap, VAX.ipv, VAX.hib, VAX.pcv13, VAX.rotavirus, VAX.hepBPediatric],
  0.33: [VAX.dtap, VAX.ipv, VAX.hib, VAX.pcv13, VAX.rotavirus],
  0.5: [VAX.dtap, VAX.hib, VAX.pcv13, VAX.hepBPediatric],
  1: [VAX.mmr, VAX.varicella, VAX.hepAPediatric, VAX.hib, VAX.pcv13],
  1.5: [VAX.dtap, VAX.hepAPediatric],
  4: [VAX.dtap, VAX.ipv, VAX.mmr, VAX.varicella],
  11: [VAX.tdap, VAX.hpv, VAX.meningococcal],
  12: [VAX.hpv],
  16: [VAX.meningococcal],
};
// Years from which a vaccine was in routine use; earlier visits do not give it.
const VACCINE_INTRODUCED: Record<string, number> = {
  [VAX.hepBPediatric.code]: 1991,
  [VAX.hib.code]: 1990,
  [VAX.pcv13.code]: 2010,
  [VAX.rotavirus.code]: 2006,
  [VAX.varicella.code]: 1995,
  [VAX.hepAPediatric.code]: 1996,
  [VAX.tdap.code]: 2005,
  [VAX.hpv.code]: 2006,
  [VAX.meningococcal.code]: 2005,
  [VAX.zoster.code]: 2006,
  [VAX.covid19.code]: 2021,
};

const GOALS = {
  hypertension: [
    'Maintain blood pressure below 140/90 mm[Hg]',
    'Reduce sodium intake to no more than 2,400 mg/day',
  ],
  diabetes: ['Hemoglobin A1c total in Blood < 7.0', 'Glucose [Mass/volume] in Blood < 108'],
  hyperlipidemia: ['Reduce LDL cholesterol below 100 mg/dL'],
  weight: ['Maintain healthy body weight'],
  copd: ['Improve exercise tolerance'],
  asthma: ['Asthma never causes daytime symptoms more than 2 days per week'],
} as const;

type Handler = () => void;

/**
 * One patient's life as a transaction Bundle's entries: a deterministic function of its own
 * random stream, so patients can be generated independently and in any order.
 */
export function simulatePatient(rng: Rng, seed: number, index: number): BundleEntry[] {
  const { profile, providers, patient } = createPatient(rng, seed, index);
  const record = new PatientRecord(rng, profile, providers, patient);
  new LifeSimulation(record).run();
  return record.entries();
}

/** A chronic condition the patient will develop, and at what age (years). */
interface ChronicPlan {
  key: ConditionKey;
  onset: number;
}

class LifeSimulation {
  private readonly events: { t: number; run: Handler }[] = [];
  /** Index of the event running, or -1 while planning. */
  private cursor = -1;
  /** The time of the event running. */
  private now = 0;
  private readonly rng: Rng;
  private readonly p: PatientProfile;
  private lastTetanus = -Infinity;
  private zosterDoses = 0;
  private ppsv23 = false;
  private covidDoses = 0;
  private contraceptive?: Coding;
  private socialFindings = false;
  private hepatitisVaccinated = false;
  private medicationReview?: ConditionRecord;

  constructor(private readonly record: PatientRecord) {
    this.rng = record.rng;
    this.p = record.profile;
  }

  private get start(): number {
    return this.p.recordsFrom;
  }

  private at(age: number): number {
    return this.p.birth + age * YEAR;
  }

  /**
   * Schedules `run` at `t` (snapped to the patient's day clock) when it is inside the record.
   * While the simulation runs, events it plans (the visits of a pregnancy) join the queue in
   * time order, after any already queued for the same instant.
   */
  private schedule(t: number, run: Handler): void {
    if (t < this.start || t >= this.p.end) return;
    const day = Math.floor((t - this.p.birth) / DAY);
    const snapped = this.p.birth + day * DAY + this.rng.int(0, 3) * HOUR;
    if (snapped >= this.p.end) return;
    const event = { t: Math.max(snapped, this.now), run };
    if (this.cursor < 0) {
      this.events.push(event);
      return;
    }
    let lo = this.cursor + 1;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].t <= event.t) lo = mid + 1;
      else hi = mid;
    }
    this.events.splice(lo, 0, event);
  }

  private visit(options: VisitOptions): Visit {
    return new Visit(this.record, options);
  }

  run(): void {
    this.planWellness();
    this.planAcuteIllness();
    const chronic = this.planChronic();
    for (const c of chronic) {
      const onset = this.at(c.onset);
      if (onset >= this.start) {
        this.schedule(onset, () => this.diagnoseChronic(c.key));
      } else {
        // Diagnosed before the record starts: entered on the problem list at intake.
        this.schedule(this.start + this.rng.range(0, 0.5) * YEAR, () =>
          this.diagnoseChronic(c.key, onset),
        );
      }
    }
    this.planChronicCare();
    this.planPregnancies();
    this.planScreening();
    this.planAllergies();
    this.planDialysis();
    // Stable sort: same-time events keep their planning order, so output is deterministic.
    this.events.sort((a, b) => a.t - b.t);
    for (this.cursor = 0; this.cursor < this.events.length; this.cursor++) {
      const event = this.events[this.cursor];
      this.now = event.t;
      event.run();
    }
  }

  private planWellness(): void {
    const lifetime = (this.p.end - this.p.birth) / YEAR;
    for (const age of CHILD_VISITS) {
      if (age < lifetime) this.schedule(this.at(age), () => this.wellness(age));
    }
    // Adults come every three years, every other year from 50, yearly from 65, and skip some.
    for (let age = 18; age < lifetime; age += age < 50 ? 3 : age < 65 ? 2 : 1) {
      if (this.rng.chance(0.8)) {
        this.schedule(this.at(age + this.rng.range(0, 0.5)), () => this.wellness());
      }
    }
  }

  private planAcuteIllness(): void {
    const lifetime = (this.p.end - this.p.birth) / YEAR;
    for (let age = 0; age < lifetime; age++) {
      const rate = age < 5 ? 0.7 : age < 18 ? 0.35 : age < 65 ? 0.25 : 0.3;
      const n = this.rng.poisson(rate);
      for (let i = 0; i < n; i++) {
        const t = this.at(age + this.rng.next());
        const kind = this.pickIllness(age);
        this.schedule(t, () => this.acute(kind));
      }
    }
  }

  private pickIllness(age: number): Illness {
    const weights: Record<Illness, number> = {
      viralSinusitis: age < 5 ? 0.5 : 3,
      bacterialSinusitis: age < 5 ? 0 : 0.6,
      viralPharyngitis: 2,
      bronchitis: age < 5 ? 1 : 1.5,
      strepThroat: age < 18 ? 1.5 : 0.3,
      otitisMedia: age < 8 ? 4 : 0.1,
      laceration: 0.6,
      sprain: age < 8 ? 0.1 : 0.6,
      fracture: 0.35,
      burn: 0.2,
      concussion: age < 8 ? 0.05 : 0.2,
      meniscusTear: age < 20 ? 0 : 0.15,
    };
    return this.rng.weighted(Object.keys(weights) as Illness[], (k) => weights[k]);
  }

  private planChronic(): ChronicPlan[] {
    const rng = this.rng;
    const lifetime = (this.p.end - this.p.birth) / YEAR;
    const plans: ChronicPlan[] = [];
    const maybe = (key: ConditionKey, chance: number, lo: number, hi: number) => {
      if (!rng.chance(chance)) return undefined;
      const onset = rng.range(lo, hi);
      if (onset >= lifetime) return undefined;
      plans.push({ key, onset });
      return onset;
    };
    const obese = this.p.bmiBase >= 30;
    if (obese) maybe('obesity', 1, 20, 45);
    const hypertension = maybe('hypertension', obese ? 0.85 : 0.7, 30, 80);
    maybe('hyperlipidemia', 0.6, 35, 78);
    const prediabetes = maybe('prediabetes', obese ? 0.6 : 0.35, 25, 70);
    const diabetes =
      prediabetes !== undefined
        ? maybe('diabetes', 0.4, prediabetes + 2, prediabetes + 12)
        : undefined;
    const ckdFrom = Math.min(hypertension ?? Infinity, diabetes ?? Infinity);
    if (Number.isFinite(ckdFrom)) {
      const stage2 = maybe('ckd2', 0.3, ckdFrom + 3, ckdFrom + 15);
      const stage3 =
        stage2 !== undefined ? maybe('ckd3', 0.45, stage2 + 3, stage2 + 10) : undefined;
      if (stage3 !== undefined) maybe('ckd4', 0.3, stage3 + 2, stage3 + 6);
    }
    maybe('coronaryHeartDisease', this.p.gender === 'male' ? 0.16 : 0.1, 50, 88);
    maybe('atrialFibrillation', 0.07, 60, 92);
    if (this.p.smokingFrom !== undefined) {
      maybe('chronicBronchitis', 0.3, this.p.smokingFrom + 25, this.p.smokingFrom + 50);
    }
    maybe('asthma', 0.07, 2, 25);
    maybe('alzheimers', 0.09, 70, 96);
    maybe('osteoarthritisKnee', 0.18, 45, 82);
    maybe('chronicSinusitis', 0.05, 18, 60);
    maybe('anemia', 0.07, 15, 85);
    maybe('stroke', 0.04, 60, 92);
    return plans.sort((a, b) => a.onset - b.onset);
  }

  /**
   * Follow-up visits for whatever chronic conditions are active: yearly, twice a year with
   * diabetes, hypertension, advanced kidney disease or dementia.
   */
  private planChronicCare(): void {
    for (let t = this.start + this.rng.range(0, YEAR); t < this.p.end; t += YEAR) {
      this.schedule(t, () => this.chronicFollowUp());
      this.schedule(t + YEAR / 2, () => {
        const has = (k: ConditionKey) => this.record.has(k, this.now);
        if (
          has('diabetes') ||
          has('alzheimers') ||
          has('hypertension') ||
          has('ckd3') ||
          has('ckd4')
        ) {
          this.chronicFollowUp();
        }
      });
    }
  }

  private planPregnancies(): void {
    if (this.p.gender !== 'female') return;
    const rng = this.rng;
    if (rng.chance(0.5)) {
      const from = rng.range(15, 22);
      this.contraceptive = rng.pick([
        MED.seasonique,
        MED.errin,
        MED.etonogestrelImplant,
        MED.liletta,
        MED.medroxyprogesterone,
      ]);
      this.schedule(this.at(from), () => this.startContraception());
    }
    if (!rng.chance(0.6)) return;
    let age = rng.range(20, 30);
    const n = 1 + rng.poisson(0.8);
    for (let i = 0; i < n && age < 43; i++) {
      this.schedule(this.at(age), () => this.pregnancy());
      age += rng.range(1.5, 5);
    }
  }

  private planScreening(): void {
    for (const age of [50, 60, 70]) {
      if (this.rng.chance(0.6)) {
        this.schedule(this.at(age + this.rng.range(0, 2)), () => this.colonoscopy());
      }
    }
  }

  private planAllergies(): void {
    if (!this.rng.chance(0.15)) return;
    const n = 1 + this.rng.poisson(0.4);
    const age = this.rng.range(1, 12);
    this.schedule(this.at(age), () => this.allergyVisit(n));
  }

  /**
   * The heavy tail: older patients whose kidneys failed, dialysed every week for years, each
   * session with vitals and labs. A few per cent of patients hold a large share of all
   * Observations, as in real and Synthea populations.
   */
  private planDialysis(): void {
    if (!this.p.heavy) return;
    const recorded = (this.p.end - this.start) / YEAR;
    const years = this.rng.range(1.5, Math.min(6, recorded - 0.5));
    const onset = this.p.end - years * YEAR;
    this.schedule(onset, () => this.startDialysis());
    let session = 0;
    for (let t = onset + 7 * DAY; t < this.p.end; t += 7 * DAY) {
      const monthly = session++ % 4 === 0;
      this.schedule(t, () => this.dialysis(monthly));
    }
  }

  private wellness(childAge?: number): void {
    const t = this.now;
    const age = this.record.ageAt(t);
    const child = age < 18;
    const year = yearOf(t);
    const v = this.visit({
      type: child ? ENC.wellChild : ENC.generalExam,
      cls: 'AMB',
      provider: this.record.providers.primary,
      start: t,
      minutes: child ? 15 : 30,
    });
    this.vitalSigns(v, age);
    if (age >= 12 && this.rng.chance(0.6)) {
      v.codedObservation('survey', SMOKING_STATUS, SMOKING_ANSWERS[this.record.smokerAt(t)]);
    }
    const vaccines: Coding[] = [];
    if (childAge !== undefined) vaccines.push(...(CHILD_VACCINES[childAge] ?? []));
    if (age >= 0.5 && this.rng.chance(child ? 0.15 : 0.3)) vaccines.push(VAX.influenza);
    if (!child) {
      if (t - this.lastTetanus > 10 * YEAR && age >= 19 && this.rng.chance(0.5)) {
        vaccines.push(VAX.td);
      }
      if (age >= 60 && this.zosterDoses < 2) {
        vaccines.push(VAX.zoster);
        this.zosterDoses++;
      }
      if (age >= 65 && !this.ppsv23) {
        vaccines.push(VAX.ppsv23);
        this.ppsv23 = true;
      }
    }
    if (year >= 2021 && age >= 5 && this.covidDoses < 2 && this.rng.chance(0.5)) {
      vaccines.push(VAX.covid19);
      this.covidDoses++;
    }
    for (const vaccine of vaccines) {
      const introduced = VACCINE_INTRODUCED[vaccine.code];
      if (introduced !== undefined && year < introduced) continue;
      if (vaccine === VAX.td || vaccine === VAX.tdap) this.lastTetanus = t;
      v.immunize(vaccine);
    }
    if (vaccines.length > 0 && this.rng.chance(0.3)) v.procedure(PROC.intramuscularInjection);
    if (t >= SCREENING_START && age >= 12) this.screenings(v, child);
    if (!child) this.adultPrevention(v, age);
    if (!child) this.adultLabs(v, age);
    if (this.contraceptive && this.record.isOnMedication(this.contraceptive) && age < 45) {
      if (this.rng.chance(0.5)) v.prescribe(this.contraceptive, undefined, true);
    } else if (this.contraceptive && age >= 45) {
      this.record.stopMedication(this.contraceptive);
    }
    const meds = this.record.medicationsAt();
    if (meds.length > 0 && !child) {
      v.procedure(PROC.medicationReconciliation);
      if (this.medicationReview?.abatement !== undefined && this.medicationReview.abatement < t) {
        this.medicationReview = undefined;
      }
      if (!this.medicationReview && this.rng.chance(0.2)) {
        this.medicationReview = v.diagnose(
          'medicationReviewDue',
          t + this.rng.range(0.2, 1) * YEAR,
        );
      }
    }
    if (!child && t >= SCREENING_START && !this.socialFindings) {
      this.socialFindings = true;
      if (age < 65 && this.rng.chance(0.4)) {
        v.diagnose(this.rng.chance(0.8) ? 'fullTimeEmployment' : 'partTimeEmployment');
      }
      if (this.rng.chance(0.2)) v.diagnose('higherEducation');
      if (this.rng.chance(0.15)) v.diagnose('stress', t + this.rng.range(0.5, 3) * YEAR);
      if (this.rng.chance(0.05)) v.diagnose('socialIsolation');
    }
    if (this.rng.chance(child ? 0.04 : 0.18)) v.note(NOTE_TYPES.historyAndPhysical);
    v.finish();
  }

  private vitalSigns(v: Visit, age: number): void {
    const r = this.record;
    const t = this.now;
    const rng = this.rng;
    // Adults are not measured for height (nor BMI) at every check-up; children always are.
    const measured = age < 18 || rng.chance(0.55);
    if (measured) {
      v.quantity('vital-signs', VITALS.height, round1(r.heightAt(t) * rng.range(0.99, 1.01)));
    }
    if (age >= 2 && rng.chance(0.3)) {
      v.quantity('vital-signs', VITALS.pain, rng.chance(0.7) ? rng.int(0, 2) : rng.int(0, 7));
    }
    v.quantity('vital-signs', VITALS.weight, round1(r.weightAt(t) * rng.range(0.97, 1.03)));
    if (age < 2) {
      v.quantity('vital-signs', VITALS.weightForLength, round1(rng.range(5, 95)));
    } else if (measured) {
      v.quantity('vital-signs', VITALS.bmi, round1(r.bmiAt(t)));
      if (age < 18) v.quantity('vital-signs', VITALS.bmiPercentile, round1(rng.range(5, 95)));
    }
    if (age < 3) {
      v.quantity(
        'vital-signs',
        VITALS.headCircumference,
        round1(34 + 14 * Math.min(1, Math.sqrt(age / 3))),
      );
    }
    if (age >= 3) this.bloodPressure(v, age);
    if (rng.chance(0.7)) {
      const rate = this.p.heartRate + (age < 10 ? 25 : 0) + rng.normal(0, 5);
      v.quantity('vital-signs', VITALS.heartRate, Math.round(rate));
    }
    if (rng.chance(0.3)) {
      v.quantity(
        'vital-signs',
        VITALS.respiratoryRate,
        age < 10 ? rng.int(18, 26) : rng.int(12, 18),
      );
    }
  }

  private bloodPressure(v: Visit, age: number): void {
    const hypertensive = this.record.has('hypertension', this.now);
    const ageRise = Math.max(0, age - 30) * 0.35;
    const systolic = this.p.systolic + ageRise + (hypertensive ? 22 : 0) + this.rng.normal(0, 6);
    const diastolic =
      this.p.diastolic + ageRise * 0.3 + (hypertensive ? 10 : 0) + this.rng.normal(0, 4);
    v.bloodPressure(
      Math.round(age < 12 ? systolic - 15 : systolic),
      Math.round(age < 12 ? diastolic - 12 : diastolic),
    );
  }

  private temperature(v: Visit, fever: boolean): void {
    const value = round1(fever ? this.rng.range(37.9, 39.4) : this.rng.range(36.4, 37.3));
    v.quantity('vital-signs', { code: ORAL_TEMPERATURE, unit: VITALS.temperature.unit }, value);
  }

  /** Cervical screening, catch-up hepatitis vaccines and TB tests some adults get. */
  private adultPrevention(v: Visit, age: number): void {
    const rng = this.rng;
    if (this.p.gender === 'female' && age >= 21 && age < 65 && rng.chance(0.3)) {
      v.procedure(PROC.cytopathology);
    }
    if (age < 60 && !this.hepatitisVaccinated && rng.chance(0.04)) {
      this.hepatitisVaccinated = true;
      v.immunize(VAX.hepBAdult);
      if (rng.chance(0.5)) v.immunize(VAX.hepAAdult);
    }
    if (rng.chance(0.03)) v.procedure(PROC.tuberculinTest);
  }

  private screenings(v: Visit, child: boolean): void {
    const rng = this.rng;
    const score = (s: Survey, typical: number) =>
      v.quantity('survey', s, rng.chance(0.85) ? rng.int(0, typical) : rng.int(0, s.max));
    if (rng.chance(0.9)) {
      v.procedure(child ? PROC.depressionScreening : PROC.phq2Screening);
      score(SURVEYS.phq2, 1);
    }
    if (child) return;
    if (rng.chance(0.6)) {
      v.procedure(PROC.anxietyAssessment);
      score(SURVEYS.gad7, 4);
    }
    if (rng.chance(0.7)) {
      v.procedure(PROC.alcoholScreening);
      score(SURVEYS.auditC, 2);
    }
    if (rng.chance(0.45)) {
      v.procedure(PROC.substanceUseAssessment);
      score(SURVEYS.dast10, 1);
    }
    if (rng.chance(0.45)) {
      v.procedure(PROC.domesticAbuseScreening);
      score(SURVEYS.hark, 0);
    }
    if (rng.chance(0.55)) {
      v.procedure(PROC.healthNeedsAssessment);
      this.prapare(v);
    }
  }

  /** The PRAPARE social-needs questionnaire: one Observation, an answer per component. */
  private prapare(v: Visit): void {
    const rng = this.rng;
    const answer = (code: Coding, value: Coding) => ({
      code: { coding: [code], text: code.display },
      valueCodeableConcept: { coding: [value], text: value.display },
    });
    const race =
      this.p.race === 'black'
        ? RACE_ANSWERS[1]
        : this.p.race === 'asian'
          ? RACE_ANSWERS[2]
          : RACE_ANSWERS[0];
    const components: unknown[] = [
      answer(PRAPARE_RACE, race),
      answer(PRAPARE_LANGUAGE, ANSWER_ENGLISH),
      {
        code: { coding: [PRAPARE_HOUSEHOLD], text: PRAPARE_HOUSEHOLD.display },
        valueQuantity: { value: rng.int(1, 6), unit: '{#}', system: UCUM, code: '{#}' },
      },
      {
        code: { coding: [PRAPARE_INCOME], text: PRAPARE_INCOME.display },
        valueQuantity: { value: rng.int(12, 250) * 1000, unit: '/a', system: UCUM, code: '/a' },
      },
      {
        code: { coding: [PRAPARE_ADDRESS], text: PRAPARE_ADDRESS.display },
        valueString: `${rng.int(1, 999)} Main Street`,
      },
      ...PRAPARE_YES_NO.map((q) => answer(q.code, rng.chance(q.risk) ? ANSWER_YES : ANSWER_NO)),
    ];
    v.componentObservation('survey', PRAPARE, components);
  }

  private adultLabs(v: Visit, age: number): void {
    const rng = this.rng;
    const has = (k: ConditionKey) => this.record.has(k, this.now);
    if (age >= 20 && (has('hyperlipidemia') || rng.chance(0.45))) v.labPanel('lipid');
    if (rng.chance(age >= 50 ? 0.4 : 0.2)) {
      v.labPanel(rng.chance(0.3) ? 'comprehensiveMetabolic' : 'basicMetabolic');
    }
    if (rng.chance(age >= 50 ? 0.12 : 0.06)) v.labPanel('bloodCount');
    if (has('prediabetes') || has('diabetes')) v.lab('a1c');
  }

  private acute(kind: Illness): void {
    const t = this.now;
    const rng = this.rng;
    const age = this.record.ageAt(t);
    const r = this.record;
    const info = ILLNESSES[kind];
    const injury = info.injury;
    const key: ConditionKey =
      kind === 'laceration'
        ? rng.pick(['lacerationThigh', 'lacerationFoot'] as const)
        : kind === 'fracture'
          ? rng.pick(['fractureForearm', 'fractureClavicle'] as const)
          : info.condition;
    const emergency = injury && rng.chance(info.emergency ?? 0.3);
    const provider = emergency
      ? r.providers.hospital
      : injury || rng.chance(0.25)
        ? r.providers.urgent
        : r.providers.primary;
    const v = this.visit({
      type: emergency ? ENC.emergency : injury ? ENC.urgentCare : ENC.symptom,
      cls: emergency ? 'EMER' : 'AMB',
      provider,
      start: t,
      minutes: emergency ? rng.int(60, 240) : rng.int(15, 45),
      reason: CONDITIONS[key],
    });
    const condition = v.diagnose(key, t + rng.range(info.days[0], info.days[1]) * DAY);
    if (!injury && rng.chance(0.3)) this.temperature(v, kind !== 'viralSinusitis');
    if (emergency) {
      v.quantity('vital-signs', VITALS.heartRate, Math.round(this.p.heartRate + rng.normal(8, 6)));
      if (age >= 3) this.bloodPressure(v, age);
    }
    switch (kind) {
      case 'strepThroat':
        v.procedure(PROC.throatCulture, condition);
        v.prescribe(
          rng.chance(0.5) ? (age < 12 ? MED.penicillin250 : MED.penicillin500) : MED.amoxicillin500,
          condition,
          false,
        );
        break;
      case 'otitisMedia':
        v.prescribe(
          rng.chance(0.6) ? MED.amoxicillin250 : MED.amoxicillinClavulanate,
          condition,
          false,
        );
        if (rng.chance(0.5)) v.prescribe(MED.ibuprofen100, condition, false);
        break;
      case 'bacterialSinusitis':
        v.prescribe(MED.amoxicillinClavulanate, condition, false);
        break;
      case 'bronchitis':
        if (rng.chance(0.5)) v.prescribe(MED.acetaminophen, condition, false);
        if (rng.chance(0.8)) v.carePlan(CARE_PLANS.respiratoryTherapy, condition, [], t + 14 * DAY);
        break;
      case 'viralPharyngitis':
      case 'viralSinusitis':
        if (rng.chance(0.45)) v.prescribe(MED.acetaminophen, condition, false);
        break;
      case 'laceration':
        v.procedure(PROC.sutureWound, condition, 30);
        if (rng.chance(0.4)) v.immunize(VAX.td);
        v.carePlan(CARE_PLANS.woundCare, condition, [], t + 21 * DAY);
        break;
      case 'sprain':
        if (rng.chance(0.3)) v.imaging('ankle');
        v.prescribe(rng.chance(0.5) ? MED.naproxen : MED.ibuprofen200, condition, false);
        v.carePlan(CARE_PLANS.physicalTherapy, condition, [], t + 42 * DAY);
        break;
      case 'fracture':
        v.procedure(PROC.briefExamination, condition);
        v.imaging(key === 'fractureClavicle' ? 'clavicle' : 'arm');
        v.prescribe(MED.acetaminophen, condition, false);
        v.carePlan(CARE_PLANS.physicalTherapy, condition, [], t + 60 * DAY);
        break;
      case 'burn':
        v.carePlan(CARE_PLANS.burnCare, condition, [], t + 30 * DAY);
        break;
      case 'concussion':
        v.procedure(PROC.briefExamination, condition);
        break;
      case 'meniscusTear':
        v.procedure(PROC.kneeXray, condition);
        v.imaging('knee');
        v.carePlan(CARE_PLANS.physicalTherapy, condition, [], t + 60 * DAY);
        break;
    }
    if (rng.chance(emergency ? 0.9 : 0.06)) {
      v.note(emergency ? NOTE_TYPES.evaluationAndPlan : NOTE_TYPES.progress);
    }
    v.finish();
  }

  private diagnoseChronic(key: ConditionKey, onset?: number): void {
    if (this.record.condition(key)) return;
    const t = this.now;
    const rng = this.rng;
    const r = this.record;
    const age = r.ageAt(t);
    const stroke = key === 'stroke';
    const v = this.visit({
      type: stroke ? ENC.emergency : key === 'alzheimers' ? ENC.officeVisit : ENC.problem,
      cls: stroke ? 'EMER' : 'AMB',
      provider: stroke ? r.providers.hospital : r.providers.primary,
      start: t,
      minutes: stroke ? rng.int(120, 600) : 30,
      reason: CONDITIONS[key],
    });
    if (key === 'diabetes') this.endCondition('prediabetes', t);
    if (key === 'ckd3') this.endCondition('ckd2', t);
    if (key === 'ckd4') this.endCondition('ckd3', t);
    const c = v.diagnose(key, undefined, onset);
    if (age >= 3) this.bloodPressure(v, age);
    this.onsetCare(key, v, c);
    if (!stroke && rng.chance(0.15)) v.note(NOTE_TYPES.evaluationAndPlan);
    v.finish();
  }

  /** What the diagnosis of each chronic condition sets going: medications, labs, a care plan. */
  private onsetCare(key: ConditionKey, v: Visit, c: ConditionRecord): void {
    const rng = this.rng;
    const t = this.now;
    const care: Partial<Record<ConditionKey, () => void>> = {
      hypertension: () => {
        v.prescribe(rng.pick([MED.lisinopril, MED.amlodipine, MED.hydrochlorothiazide]), c, true);
        const goals = rng.chance(0.6) ? [...GOALS.hypertension] : [];
        v.carePlan(CARE_PLANS.hypertensionLifestyle, c, goals);
      },
      hyperlipidemia: () => {
        v.labPanel('lipid');
        v.prescribe(MED.simvastatin10, c, true);
        v.carePlan(CARE_PLANS.hyperlipidemia, c, rng.chance(0.5) ? [...GOALS.hyperlipidemia] : []);
      },
      prediabetes: () => {
        v.lab('a1c');
        const goals = rng.chance(0.5) ? [...GOALS.diabetes] : [];
        v.carePlan(CARE_PLANS.diabetesSelfManagement, c, goals);
      },
      diabetes: () => {
        v.lab('a1c');
        v.labPanel('basicMetabolic');
        v.prescribe(MED.metformin, c, true);
        v.carePlan(CARE_PLANS.diabetesSelfManagement, c, [...GOALS.diabetes]);
      },
      obesity: () => {
        if (rng.chance(0.7)) v.carePlan(CARE_PLANS.diabetesSelfManagement, c, [...GOALS.weight]);
      },
      ckd2: () => this.kidneyWorkUp(v),
      ckd3: () => this.kidneyWorkUp(v),
      ckd4: () => this.kidneyWorkUp(v),
      coronaryHeartDisease: () => {
        v.labPanel('lipid');
        v.prescribe(MED.clopidogrel, c, true);
        v.prescribe(MED.nitroglycerin, c, true);
        v.prescribe(MED.simvastatin20, c, true);
      },
      atrialFibrillation: () => {
        v.prescribe(MED.warfarin, c, true);
        v.prescribe(rng.chance(0.5) ? MED.digoxin : MED.verapamil, c, true);
        if (rng.chance(0.4)) v.procedure(PROC.cardioversion, c, 60);
      },
      chronicBronchitis: () => {
        v.procedure(PROC.spirometry, c);
        v.quantity('procedure', ANALYTES.fev1fvc, this.record.analyteValue('fev1fvc', t));
        v.prescribe(MED.fluticasoneSalmeterol, c, true);
        v.carePlan(CARE_PLANS.copd, c, [...GOALS.copd]);
      },
      asthma: () => {
        v.procedure(PROC.respiratoryFunction, c);
        v.prescribe(MED.fluticasoneInhaler, c, true);
        v.carePlan(CARE_PLANS.selfCare, c, [...GOALS.asthma]);
      },
      alzheimers: () => {
        v.quantity('survey', SURVEYS.mmse, rng.int(12, 24));
        v.prescribe(rng.chance(0.5) ? MED.galantamine : MED.donepezilMemantine, c, true);
        v.carePlan(CARE_PLANS.dementia, c, []);
      },
      osteoarthritisKnee: () => {
        v.procedure(PROC.kneeXray, c);
        v.imaging('knee');
        v.prescribe(MED.naproxen, c, true);
        v.carePlan(CARE_PLANS.musculoskeletal, c, []);
      },
      anemia: () => {
        v.labPanel('bloodCount');
        v.procedure(PROC.bloodSmear, c);
      },
      stroke: () => {
        v.labPanel('comprehensiveMetabolic');
        v.labPanel('bloodCount');
        v.prescribe(MED.clopidogrel, c, true);
        v.note(NOTE_TYPES.dischargeSummary);
      },
    };
    care[key]?.();
  }

  private kidneyWorkUp(v: Visit): void {
    v.labPanel('comprehensiveMetabolic');
    v.lab('microalbumin');
  }

  private endCondition(key: ConditionKey, t: number): void {
    const c = this.record.condition(key);
    if (c) this.record.resolve(c, t);
  }

  private chronicFollowUp(): void {
    const t = this.now;
    const r = this.record;
    const active = r.activeAt(t).filter((c) => CHRONIC_CARE.has(c.key));
    if (active.length === 0) return;
    const rng = this.rng;
    const age = r.ageAt(t);
    const has = (k: ConditionKey) => r.has(k, t);
    const main = active[rng.int(0, active.length - 1)];
    const v = this.visit({
      type: ENC.followUp,
      cls: 'AMB',
      provider: r.providers.primary,
      start: t,
      minutes: 20,
      reason: main.code,
    });
    this.bloodPressure(v, age);
    if (rng.chance(0.3)) {
      v.quantity('vital-signs', VITALS.weight, round1(r.weightAt(t) * rng.range(0.97, 1.03)));
    }
    if (has('diabetes') || has('prediabetes')) v.lab('a1c');
    if (has('diabetes')) {
      v.lab('glucose');
      if (rng.chance(0.5)) v.lab('microalbumin');
    }
    if (has('hyperlipidemia') && rng.chance(0.35)) v.labPanel('lipid');
    if ((has('ckd2') || has('ckd3') || has('ckd4')) && rng.chance(0.7)) {
      v.labPanel(rng.chance(0.3) ? 'comprehensiveMetabolic' : 'basicMetabolic');
    } else if (has('hypertension') && rng.chance(0.15)) {
      v.labPanel('basicMetabolic');
    }
    if (has('anemia') && rng.chance(0.5)) v.labPanel('bloodCount');
    if (has('chronicBronchitis') && rng.chance(0.5)) {
      v.procedure(PROC.spirometry, r.condition('chronicBronchitis'));
      v.quantity('procedure', ANALYTES.fev1fvc, r.analyteValue('fev1fvc', t));
      if (rng.chance(0.3)) {
        v.procedure(PROC.pulmonaryRehabilitation, r.condition('chronicBronchitis'), 60);
      }
    }
    if (has('alzheimers')) v.quantity('survey', SURVEYS.mmse, rng.int(5, 22));
    if (has('atrialFibrillation') && rng.chance(0.1)) {
      const procedure = rng.chance(0.8) ? PROC.cardioversion : PROC.cardiacAblation;
      v.procedure(procedure, r.condition('atrialFibrillation'), 60);
    }
    // Blood pressure that stays high gets a combination tablet on top.
    const hypertension = r.condition('hypertension');
    if (hypertension && t - hypertension.onset > 3 * YEAR && rng.chance(0.01)) {
      const second = rng.chance(0.5) ? MED.olmesartanCombination : MED.atenololChlorthalidone;
      if (!r.isOnMedication(second)) v.prescribe(second, hypertension, true);
    }
    // Chronic prescriptions are renewed now and then, not at every visit.
    for (const c of active) {
      for (const med of CHRONIC_MEDS[c.key] ?? []) {
        if (r.isOnMedication(med) && rng.chance(0.35)) v.prescribe(med, c, true);
      }
    }
    if (r.medicationsAt().length > 0 && rng.chance(0.4)) v.procedure(PROC.medicationReconciliation);
    if (rng.chance(0.08)) v.note(NOTE_TYPES.progress);
    v.finish();
  }

  private startContraception(): void {
    const contraceptive = this.contraceptive!;
    const v = this.visit({
      type: ENC.consultation,
      cls: 'AMB',
      provider: this.record.providers.primary,
      start: this.now,
      minutes: 20,
    });
    if (contraceptive === MED.etonogestrelImplant) v.procedure(PROC.contraceptiveImplant);
    if (contraceptive === MED.liletta) v.procedure(PROC.intrauterineDevice);
    v.prescribe(contraceptive, undefined, true);
    v.finish();
  }

  private pregnancy(): void {
    const rng = this.rng;
    const r = this.record;
    const t0 = this.now;
    if (this.contraceptive) r.stopMedication(this.contraceptive);
    const miscarriage = rng.chance(0.12);
    const term = t0 + rng.range(36, 40) * 7 * DAY;
    const initial = this.visit({
      type: ENC.prenatalInitial,
      cls: 'AMB',
      provider: r.providers.primary,
      start: t0,
      minutes: 45,
      reason: undefined,
    });
    const pregnancy = initial.diagnose('pregnancy', miscarriage ? t0 + 40 * DAY : term);
    for (const code of [
      PROC.pregnancyTest,
      PROC.bloodTyping,
      PROC.hepatitisBAntigen,
      PROC.rubellaScreening,
      PROC.urineCulture,
      PROC.hivTest,
      PROC.hepatitisCTest,
      PROC.fetalViability,
    ]) {
      initial.procedure(code, pregnancy);
    }
    initial.labPanel('bloodCount');
    initial.carePlan(CARE_PLANS.antenatal, pregnancy, [], miscarriage ? t0 + 40 * DAY : term);
    initial.finish();
    if (miscarriage) {
      this.schedule(t0 + 40 * DAY, () => {
        const v = this.visit({
          type: ENC.emergency,
          cls: 'EMER',
          provider: r.providers.hospital,
          start: t0 + 40 * DAY,
          minutes: 120,
          reason: pregnancy.code,
        });
        v.diagnose('miscarriage', t0 + 60 * DAY);
        v.finish();
      });
      return;
    }
    const visits = rng.int(6, 10);
    for (let i = 1; i <= visits; i++) {
      const t = t0 + ((term - t0) * i) / (visits + 1);
      this.schedule(t, () => {
        const v = this.visit({
          type: ENC.prenatal,
          cls: 'AMB',
          provider: r.providers.primary,
          start: t,
          minutes: 20,
          reason: pregnancy.code,
        });
        this.bloodPressure(v, r.ageAt(t));
        v.quantity('vital-signs', VITALS.weight, round1(r.weightAt(t) * (1 + (0.15 * i) / visits)));
        v.procedure(PROC.fetalHeart, pregnancy);
        v.procedure(PROC.fundalHeight, pregnancy);
        if (i === Math.ceil(visits / 2)) v.procedure(PROC.fetalAnatomy, pregnancy);
        v.finish();
      });
    }
    this.schedule(term, () => {
      const v = this.visit({
        type: ENC.obstetricAdmission,
        cls: 'IMP',
        provider: r.providers.hospital,
        start: term,
        minutes: rng.int(12, 48) * 60,
        reason: pregnancy.code,
      });
      if (rng.chance(0.25)) v.procedure(PROC.laborInduction, pregnancy, 120);
      v.procedure(PROC.childbirth, pregnancy, 240);
      v.labPanel('bloodCount');
      v.note(NOTE_TYPES.dischargeSummary);
      v.finish();
    });
    this.schedule(term + 42 * DAY, () => {
      const v = this.visit({
        type: ENC.postnatal,
        cls: 'AMB',
        provider: r.providers.primary,
        start: term + 42 * DAY,
        minutes: 30,
      });
      v.procedure(PROC.examinationOfMother);
      this.bloodPressure(v, r.ageAt(term));
      if (this.contraceptive && rng.chance(0.6)) v.prescribe(this.contraceptive, undefined, true);
      v.finish();
    });
  }

  private colonoscopy(): void {
    const rng = this.rng;
    const r = this.record;
    const v = this.visit({
      type: ENC.procedureVisit,
      cls: 'AMB',
      provider: r.providers.hospital,
      start: this.now,
      minutes: 90,
    });
    v.procedure(PROC.occultBloodScreening);
    v.quantity('laboratory', ANALYTES.occultBlood, r.analyteValue('occultBlood', this.now));
    v.procedure(PROC.colonoscopy, undefined, 45);
    if (rng.chance(0.3)) {
      const polyp = v.diagnose(
        r.condition('colonPolyp') ? 'recurrentPolyp' : 'colonPolyp',
        this.now + rng.range(1, 3) * YEAR,
      );
      v.procedure(PROC.polypectomy, polyp, 30);
    }
    v.finish();
  }

  private allergyVisit(n: number): void {
    const rng = this.rng;
    const v = this.visit({
      type: ENC.checkUp,
      cls: 'AMB',
      provider: this.record.providers.primary,
      start: this.now,
      minutes: 30,
    });
    const chosen = new Set<(typeof ALLERGIES)[number]>();
    while (chosen.size < Math.min(n, ALLERGIES.length)) chosen.add(rng.pick(ALLERGIES));
    for (const a of chosen) v.allergy(a.code, a.category);
    if ([...chosen].some((a) => a.category === 'food')) {
      v.carePlan(CARE_PLANS.selfCare, undefined, []);
    }
    v.finish();
  }

  private startDialysis(): void {
    const t = this.now;
    const r = this.record;
    for (const k of ['ckd2', 'ckd3', 'ckd4'] as const) this.endCondition(k, t);
    const v = this.visit({
      type: ENC.consultation,
      cls: 'AMB',
      provider: r.providers.hospital,
      start: t,
      minutes: 60,
    });
    const esrd = v.diagnose('endStageRenal');
    if (!r.condition('anemia')) v.diagnose('anemia');
    v.labPanel('comprehensiveMetabolic');
    v.labPanel('bloodCount');
    v.procedure(PROC.hemodialysis, esrd, 240);
    v.note(NOTE_TYPES.evaluationAndPlan);
    v.finish();
  }

  private dialysis(monthly: boolean): void {
    const t = this.now;
    const r = this.record;
    const rng = this.rng;
    const esrd = r.condition('endStageRenal');
    const v = this.visit({
      type: ENC.procedureVisit,
      cls: 'AMB',
      provider: r.providers.hospital,
      start: t,
      minutes: 240,
      reason: esrd?.code,
    });
    v.procedure(PROC.hemodialysis, esrd, 240);
    v.quantity('vital-signs', VITALS.weight, round1(r.weightAt(t) * rng.range(0.97, 1.04)));
    this.bloodPressure(v, r.ageAt(t));
    v.quantity('vital-signs', VITALS.heartRate, Math.round(this.p.heartRate + rng.normal(0, 6)));
    v.lab('potassium');
    v.lab('hemoglobin');
    if (monthly) {
      v.labPanel('comprehensiveMetabolic');
      v.labPanel('bloodCount');
    }
    v.finish();
  }
}

type Illness =
  | 'viralSinusitis'
  | 'bacterialSinusitis'
  | 'viralPharyngitis'
  | 'bronchitis'
  | 'strepThroat'
  | 'otitisMedia'
  | 'laceration'
  | 'sprain'
  | 'fracture'
  | 'burn'
  | 'concussion'
  | 'meniscusTear';

interface IllnessInfo {
  condition: ConditionKey;
  days: [number, number];
  injury: boolean;
  emergency?: number;
}

const ILLNESSES: Record<Illness, IllnessInfo> = {
  viralSinusitis: illness('viralSinusitis', [7, 21]),
  bacterialSinusitis: illness('bacterialSinusitis', [10, 28]),
  viralPharyngitis: illness('viralPharyngitis', [5, 14]),
  bronchitis: illness('bronchitis', [7, 28]),
  strepThroat: illness('strepThroat', [7, 14]),
  otitisMedia: illness('otitisMedia', [7, 21]),
  laceration: { ...illness('lacerationThigh', [14, 30]), injury: true, emergency: 0.4 },
  sprain: { ...illness('ankleSprain', [21, 60]), injury: true, emergency: 0.2 },
  fracture: { ...illness('fractureForearm', [42, 90]), injury: true, emergency: 0.8 },
  burn: { ...illness('burn', [7, 21]), injury: true, emergency: 0.3 },
  concussion: { ...illness('concussion', [14, 42]), injury: true, emergency: 0.9 },
  meniscusTear: { ...illness('meniscusTear', [60, 120]), injury: true, emergency: 0.1 },
};

function illness(condition: ConditionKey, days: [number, number]): IllnessInfo {
  return { condition, days, injury: false };
}

const CHRONIC_CARE = new Set<ConditionKey>([
  'hypertension',
  'hyperlipidemia',
  'prediabetes',
  'diabetes',
  'ckd2',
  'ckd3',
  'ckd4',
  'coronaryHeartDisease',
  'atrialFibrillation',
  'chronicBronchitis',
  'asthma',
  'alzheimers',
  'osteoarthritisKnee',
  'anemia',
  'stroke',
]);

const CHRONIC_MEDS: Partial<Record<ConditionKey, Coding[]>> = {
  hypertension: [
    MED.lisinopril,
    MED.amlodipine,
    MED.hydrochlorothiazide,
    MED.olmesartanCombination,
    MED.atenololChlorthalidone,
  ],
  hyperlipidemia: [MED.simvastatin10],
  diabetes: [MED.metformin],
  coronaryHeartDisease: [MED.clopidogrel, MED.nitroglycerin, MED.simvastatin20],
  atrialFibrillation: [MED.warfarin, MED.digoxin, MED.verapamil],
  chronicBronchitis: [MED.fluticasoneSalmeterol],
  asthma: [MED.fluticasoneInhaler],
  alzheimers: [MED.galantamine, MED.donepezilMemantine],
  osteoarthritisKnee: [MED.naproxen],
  stroke: [MED.clopidogrel],
};

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
