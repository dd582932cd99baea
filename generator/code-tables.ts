/**
 * Every clinical code the generator writes: SNOMED CT, LOINC, RxNorm and CVX codes with their
 * displays, taken from Synthea's R4 output (the sample bundles in shared/data/synthea and the
 * modules of Synthea 3). Keeping them in one table lets `_typeFilter` benchmarks select known
 * fractions and lets the tests prove no code is invented on the fly.
 */
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';

export interface Coding {
  system: string;
  code: string;
  display: string;
}

const registry: Coding[] = [];

function coding(system: string, code: string, display: string): Coding {
  const c = { system, code, display };
  registry.push(c);
  return c;
}
const sct = (code: string, display: string) => coding(SNOMED, code, display);
const loinc = (code: string, display: string) => coding(LOINC, code, display);
const rx = (code: string, display: string) => coding(RXNORM, code, display);
const cvx = (code: string, display: string) => coding(CVX, code, display);

export const ENCOUNTER_TYPES = {
  wellChild: sct('410620009', 'Well child visit (procedure)'),
  generalExam: sct('162673000', 'General examination of patient (procedure)'),
  checkUp: sct('185349003', 'Encounter for check up (procedure)'),
  symptom: sct('185345009', 'Encounter for symptom'),
  problem: sct('185347001', 'Encounter for problem'),
  followUp: sct('390906007', 'Follow-up encounter'),
  officeVisit: sct('316744009', 'Office Visit'),
  consultation: sct('698314001', 'Consultation for treatment'),
  procedureVisit: sct('308335008', 'Patient encounter procedure'),
  urgentCare: sct('702927004', 'Urgent care clinic (procedure)'),
  emergency: sct('50849002', 'Emergency room admission (procedure)'),
  prenatalInitial: sct('424441002', 'Prenatal initial visit'),
  prenatal: sct('424619006', 'Prenatal visit'),
  obstetricAdmission: sct('183460006', 'Obstetric emergency hospital admission'),
  postnatal: sct('169762003', 'Postnatal visit'),
} as const;

export interface QuantityKind {
  code: Coding;
  unit: string;
}

const quantity = (code: Coding, unit: string): QuantityKind => ({ code, unit });

export const VITALS = {
  height: quantity(loinc('8302-2', 'Body Height'), 'cm'),
  pain: quantity(
    loinc('72514-3', 'Pain severity - 0-10 verbal numeric rating [Score] - Reported'),
    '{score}',
  ),
  weight: quantity(loinc('29463-7', 'Body Weight'), 'kg'),
  bmi: quantity(loinc('39156-5', 'Body Mass Index'), 'kg/m2'),
  bmiPercentile: quantity(
    loinc('59576-9', 'Body mass index (BMI) [Percentile] Per age and gender'),
    '%',
  ),
  weightForLength: quantity(loinc('77606-2', 'Weight-for-length Per age and sex'), '%'),
  headCircumference: quantity(loinc('9843-4', 'Head Occipital-frontal circumference'), 'cm'),
  heartRate: quantity(loinc('8867-4', 'Heart rate'), '/min'),
  respiratoryRate: quantity(loinc('9279-1', 'Respiratory rate'), '/min'),
  temperature: quantity(loinc('8310-5', 'Body temperature'), 'Cel'),
} as const;

export const ORAL_TEMPERATURE = loinc('8331-1', 'Oral temperature');
export const BLOOD_PRESSURE = loinc('85354-9', 'Blood Pressure');
export const SYSTOLIC = loinc('8480-6', 'Systolic Blood Pressure');
export const DIASTOLIC = loinc('8462-4', 'Diastolic Blood Pressure');

export const SMOKING_STATUS = loinc('72166-2', 'Tobacco smoking status NHIS');
export const SMOKING_ANSWERS = {
  never: sct('266919005', 'Never smoker'),
  former: sct('8517006', 'Former smoker'),
  current: sct('449868002', 'Current every day smoker'),
} as const;

/** A laboratory analyte: LOINC code, UCUM unit and the reference range values are drawn from. */
export interface Analyte extends QuantityKind {
  low: number;
  high: number;
  decimals: number;
}

const analyte = (code: Coding, unit: string, low: number, high: number, decimals = 1): Analyte => ({
  code,
  unit,
  low,
  high,
  decimals,
});

export const ANALYTES = {
  glucose: analyte(loinc('2339-0', 'Glucose'), 'mg/dL', 70, 99),
  urea: analyte(loinc('6299-2', 'Urea Nitrogen'), 'mg/dL', 7, 20),
  creatinine: analyte(loinc('38483-4', 'Creatinine'), 'mg/dL', 0.6, 1.3, 2),
  calcium: analyte(loinc('49765-1', 'Calcium'), 'mg/dL', 8.5, 10.2),
  sodium: analyte(loinc('2947-0', 'Sodium'), 'mmol/L', 136, 145),
  potassium: analyte(loinc('6298-4', 'Potassium'), 'mmol/L', 3.5, 5.1),
  chloride: analyte(loinc('2069-3', 'Chloride'), 'mmol/L', 98, 107),
  co2: analyte(loinc('20565-8', 'Carbon Dioxide'), 'mmol/L', 22, 29),
  egfr: analyte(
    loinc('33914-3', 'Glomerular filtration rate/1.73 sq M.predicted'),
    'mL/min',
    60,
    110,
  ),
  protein: analyte(loinc('2885-2', 'Protein [Mass/volume] in Serum or Plasma'), 'g/dL', 6, 8.3),
  albumin: analyte(loinc('1751-7', 'Albumin [Mass/volume] in Serum or Plasma'), 'g/dL', 3.5, 5),
  globulin: analyte(
    loinc('10834-0', 'Globulin [Mass/volume] in Serum by calculation'),
    'g/L',
    2,
    3.5,
  ),
  bilirubin: analyte(
    loinc('1975-2', 'Bilirubin.total [Mass/volume] in Serum or Plasma'),
    'mg/dL',
    0.1,
    1.2,
  ),
  alkalinePhosphatase: analyte(
    loinc('6768-6', 'Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma'),
    'U/L',
    44,
    147,
  ),
  alt: analyte(
    loinc('1742-6', 'Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma'),
    'U/L',
    7,
    56,
  ),
  ast: analyte(
    loinc('1920-8', 'Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma'),
    'U/L',
    10,
    40,
  ),
  cholesterol: analyte(loinc('2093-3', 'Total Cholesterol'), 'mg/dL', 150, 199),
  triglycerides: analyte(loinc('2571-8', 'Triglycerides'), 'mg/dL', 50, 149),
  ldl: analyte(loinc('18262-6', 'Low Density Lipoprotein Cholesterol'), 'mg/dL', 70, 129),
  hdl: analyte(loinc('2085-9', 'High Density Lipoprotein Cholesterol'), 'mg/dL', 40, 80),
  leukocytes: analyte(
    loinc('6690-2', 'Leukocytes [#/volume] in Blood by Automated count'),
    '10*3/uL',
    3.5,
    10.5,
  ),
  erythrocytes: analyte(
    loinc('789-8', 'Erythrocytes [#/volume] in Blood by Automated count'),
    '10*6/uL',
    3.9,
    5.7,
  ),
  hemoglobin: analyte(loinc('718-7', 'Hemoglobin [Mass/volume] in Blood'), 'g/dL', 12, 17.5),
  hematocrit: analyte(
    loinc('4544-3', 'Hematocrit [Volume Fraction] of Blood by Automated count'),
    '%',
    36,
    50,
  ),
  mcv: analyte(loinc('787-2', 'MCV [Entitic volume] by Automated count'), 'fL', 80, 95),
  mch: analyte(loinc('785-6', 'MCH [Entitic mass] by Automated count'), 'pg', 27, 33),
  mchc: analyte(loinc('786-4', 'MCHC [Mass/volume] by Automated count'), 'g/dL', 33, 36),
  rdw: analyte(
    loinc('21000-5', 'Erythrocyte distribution width [Entitic volume] by Automated count'),
    'fL',
    39,
    46,
  ),
  platelets: analyte(
    loinc('777-3', 'Platelets [#/volume] in Blood by Automated count'),
    '10*3/uL',
    150,
    450,
  ),
  plateletWidth: analyte(
    loinc('32207-3', 'Platelet distribution width [Entitic volume] in Blood by Automated count'),
    'fL',
    9,
    17,
  ),
  plateletVolume: analyte(
    loinc('32623-1', 'Platelet mean volume [Entitic volume] in Blood by Automated count'),
    'fL',
    7.5,
    11.5,
  ),
  a1c: analyte(loinc('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood'), '%', 4.5, 5.6),
  microalbumin: analyte(
    loinc('14959-1', 'Microalbumin/Creatinine [Mass Ratio] in Urine'),
    'mg/g',
    2,
    29,
  ),
  fev1fvc: analyte(loinc('19926-5', 'FEV1/FVC'), '%', 70, 85),
  occultBlood: analyte(
    loinc('57905-2', 'Hemoglobin.gastrointestinal [Presence] in Stool by Immunologic method'),
    'ng/mL',
    5,
    40,
  ),
} as const;

export type AnalyteKey = keyof typeof ANALYTES;

export interface LabPanel {
  code: Coding;
  analytes: readonly AnalyteKey[];
}

const BASIC_METABOLIC: readonly AnalyteKey[] = [
  'glucose',
  'urea',
  'creatinine',
  'calcium',
  'sodium',
  'potassium',
  'chloride',
  'co2',
];

export const LAB_PANELS = {
  lipid: {
    code: loinc('57698-3', 'Lipid Panel'),
    analytes: ['cholesterol', 'triglycerides', 'ldl', 'hdl'],
  },
  basicMetabolic: { code: loinc('51990-0', 'Basic Metabolic Panel'), analytes: BASIC_METABOLIC },
  comprehensiveMetabolic: {
    code: loinc('24323-8', 'Comprehensive metabolic 2000 panel - Serum or Plasma'),
    analytes: [
      ...BASIC_METABOLIC,
      'egfr',
      'protein',
      'albumin',
      'globulin',
      'bilirubin',
      'alkalinePhosphatase',
      'alt',
      'ast',
    ],
  },
  bloodCount: {
    code: loinc('58410-2', 'Complete blood count (hemogram) panel - Blood by Automated count'),
    analytes: [
      'leukocytes',
      'erythrocytes',
      'hemoglobin',
      'hematocrit',
      'mcv',
      'mch',
      'mchc',
      'rdw',
      'platelets',
      'plateletWidth',
      'plateletVolume',
    ],
  },
} as const satisfies Record<string, LabPanel>;

export type PanelKey = keyof typeof LAB_PANELS;

/** Questionnaire total scores recorded as survey Observations at adult check-ups. */
export interface Survey extends QuantityKind {
  max: number;
}

export const SURVEYS = {
  phq2: {
    ...quantity(
      loinc('55758-7', 'Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]'),
      '{score}',
    ),
    max: 6,
  },
  gad7: {
    ...quantity(
      loinc('70274-6', 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]'),
      '{score}',
    ),
    max: 21,
  },
  auditC: { ...quantity(loinc('75626-2', 'Total score [AUDIT-C]'), '{score}'), max: 12 },
  dast10: { ...quantity(loinc('82667-7', 'Total score [DAST-10]'), '{score}'), max: 10 },
  hark: { ...quantity(loinc('76504-0', 'Total score [HARK]'), '{score}'), max: 4 },
  mmse: { ...quantity(loinc('72106-8', 'Total score [MMSE]'), '{score}'), max: 30 },
} as const satisfies Record<string, Survey>;

export const PRAPARE = loinc(
  '93025-5',
  "Protocol for Responding to and Assessing Patients' Assets, Risks, and Experiences [PRAPARE]",
);
export const ANSWER_YES = loinc('LA33-6', 'Yes');
export const ANSWER_NO = loinc('LA32-8', 'No');
export const ANSWER_ENGLISH = loinc('LA43-5', 'English');
export const RACE_ANSWERS = [
  loinc('LA4457-3', 'White'),
  loinc('LA10610-6', 'Black or African American'),
  loinc('LA6156-9', 'Asian'),
] as const;

/** PRAPARE items answered yes/no; `risk` is the share of patients answering "Yes". */
export const PRAPARE_YES_NO = [
  { code: loinc('56051-6', 'Do you consider yourself Hispanic/Latino?'), risk: 0.1 },
  {
    code: loinc(
      '93035-4',
      'Has the patient been discharged from the armed forces of the United States?',
    ),
    risk: 0.07,
  },
  { code: loinc('93033-9', 'Are you worried about losing your housing?'), risk: 0.08 },
  {
    code: loinc(
      '93030-5',
      'Has lack of transportation kept you from medical appointments, meetings, work, or from getting things needed for daily living?',
    ),
    risk: 0.1,
  },
  {
    code: loinc(
      '93028-9',
      'In the past year, have you spent more than 2 nights in a row in a jail, prison, detention center, or juvenile correctional facility?',
    ),
    risk: 0.02,
  },
  { code: loinc('93027-1', 'Are you a refugee?'), risk: 0.02 },
  {
    code: loinc('93026-3', 'Do you feel physically and emotionally safe where you currently live?'),
    risk: 0.95,
  },
  {
    code: loinc(
      '76501-6',
      'Within the last year, have you been afraid of your partner or ex-partner?',
    ),
    risk: 0.04,
  },
  {
    code: loinc(
      '93043-8',
      'Has seasonal or migrant farm work been the main source of income at any point in the past 2 years?',
    ),
    risk: 0.01,
  },
] as const;
export const PRAPARE_RACE = loinc('32624-9', 'Race');
export const PRAPARE_LANGUAGE = loinc('54899-0', 'Preferred language');
export const PRAPARE_HOUSEHOLD = loinc(
  '63512-8',
  'How many family members, including yourself, do you currently live with?',
);
export const PRAPARE_INCOME = loinc(
  '63586-2',
  'What was your best estimate of the total income of all family members from all sources, before taxes, in last year?',
);
export const PRAPARE_ADDRESS = loinc('56799-0', 'Address');

export const CONDITIONS = {
  hypertension: sct('59621000', 'Hypertension'),
  prediabetes: sct('15777000', 'Prediabetes'),
  diabetes: sct('44054006', 'Diabetes'),
  hyperlipidemia: sct('55822004', 'Hyperlipidemia'),
  obesity: sct('162864005', 'Body mass index 30+ - obesity (finding)'),
  chronicSinusitis: sct('40055000', 'Chronic sinusitis (disorder)'),
  osteoarthritisKnee: sct('239873007', 'Osteoarthritis of knee'),
  anemia: sct('271737000', 'Anemia (disorder)'),
  coronaryHeartDisease: sct('53741008', 'Coronary Heart Disease'),
  atrialFibrillation: sct('49436004', 'Atrial Fibrillation'),
  chronicBronchitis: sct('185086009', 'Chronic obstructive bronchitis (disorder)'),
  alzheimers: sct('26929004', "Alzheimer's disease (disorder)"),
  asthma: sct('195967001', 'Asthma'),
  stroke: sct('230690007', 'Stroke'),
  ckd2: sct('431856006', 'Chronic kidney disease stage 2 (disorder)'),
  ckd3: sct('433144002', 'Chronic kidney disease stage 3 (disorder)'),
  ckd4: sct('431857002', 'Chronic kidney disease stage 4 (disorder)'),
  endStageRenal: sct('46177005', 'End-stage renal disease (disorder)'),
  colonPolyp: sct('68496003', 'Polyp of colon'),
  recurrentPolyp: sct('713197008', 'Recurrent rectal polyp'),
  viralSinusitis: sct('444814009', 'Viral sinusitis (disorder)'),
  bacterialSinusitis: sct('75498004', 'Acute bacterial sinusitis (disorder)'),
  viralPharyngitis: sct('195662009', 'Acute viral pharyngitis (disorder)'),
  bronchitis: sct('10509002', 'Acute bronchitis (disorder)'),
  strepThroat: sct('43878008', 'Streptococcal sore throat (disorder)'),
  otitisMedia: sct('65363002', 'Otitis media'),
  lacerationThigh: sct('283385000', 'Laceration of thigh'),
  lacerationFoot: sct('284551006', 'Laceration of foot'),
  burn: sct('403190006', 'First degree burn'),
  meniscusTear: sct('239720000', 'Tear of meniscus of knee'),
  ankleSprain: sct('44465007', 'Sprain of ankle'),
  fractureClavicle: sct('58150001', 'Fracture of clavicle'),
  fractureForearm: sct('65966004', 'Fracture of forearm'),
  concussion: sct('62106007', 'Concussion with no loss of consciousness'),
  pregnancy: sct('72892002', 'Normal pregnancy'),
  miscarriage: sct('19169002', 'Miscarriage in first trimester'),
  medicationReviewDue: sct('314529007', 'Medication review due (situation)'),
  fullTimeEmployment: sct('160903007', 'Full-time employment (finding)'),
  partTimeEmployment: sct('160904001', 'Part-time employment (finding)'),
  stress: sct('73595000', 'Stress (finding)'),
  higherEducation: sct('224299000', 'Received higher education (finding)'),
  socialIsolation: sct('422650009', 'Social isolation (finding)'),
} as const;

export const PROCEDURES = {
  medicationReconciliation: sct('430193006', 'Medication Reconciliation (procedure)'),
  healthNeedsAssessment: sct('710824005', 'Assessment of health and social care needs (procedure)'),
  depressionScreening: sct('171207006', 'Depression screening'),
  phq2Screening: sct(
    '715252007',
    'Depression screening using Patient Health Questionnaire Two-Item score (procedure)',
  ),
  anxietyAssessment: sct('710841007', 'Assessment of anxiety (procedure)'),
  substanceUseAssessment: sct('428211000124100', 'Assessment of substance use (procedure)'),
  alcoholScreening: sct(
    '763302001',
    'Assessment using Alcohol Use Disorders Identification Test - Consumption (procedure)',
  ),
  domesticAbuseScreening: sct('866148006', 'Screening for domestic abuse (procedure)'),
  briefExamination: sct('162676008', 'Brief general examination (procedure)'),
  intramuscularInjection: sct('76601001', 'Intramuscular injection'),
  throatCulture: sct('117015009', 'Throat culture (procedure)'),
  sutureWound: sct('288086009', 'Suture open wound'),
  kneeXray: sct('74016001', 'Knee X-ray'),
  spirometry: sct('127783003', 'Spirometry (procedure)'),
  respiratoryFunction: sct('23426006', 'Measurement of respiratory function (procedure)'),
  pulmonaryRehabilitation: sct('15081005', 'Pulmonary rehabilitation (regime/therapy)'),
  colonoscopy: sct('73761001', 'Colonoscopy'),
  occultBloodScreening: sct('104435004', 'Screening for occult blood in feces (procedure)'),
  polypectomy: sct('274031008', 'Rectal polypectomy'),
  cardioversion: sct('180325003', 'Electrical cardioversion'),
  cardiacAblation: sct('18286008', 'Catheter ablation of tissue of heart'),
  bloodSmear: sct('14768001', 'Peripheral blood smear interpretation'),
  hemodialysis: sct('302497006', 'Hemodialysis (procedure)'),
  tuberculinTest: sct('28163009', 'Skin test for tuberculosis'),
  hepatitisCTest: sct('104375008', 'Hepatitis C antibody test'),
  hivTest: sct('31676001', 'Human immunodeficiency virus antigen test'),
  pregnancyTest: sct('252160004', 'Standard pregnancy test'),
  fetalHeart: sct('225158009', 'Auscultation of the fetal heart'),
  fundalHeight: sct('274804006', 'Evaluation of uterine fundal height'),
  fetalViability: sct('169230002', 'Ultrasound scan for fetal viability'),
  fetalAnatomy: sct('271442007', 'Fetal anatomy study'),
  bloodTyping: sct('44608003', 'Blood typing, RH typing'),
  hepatitisBAntigen: sct('47758006', 'Hepatitis B Surface Antigen Measurement'),
  rubellaScreening: sct('169690007', 'Rubella screening'),
  urineCulture: sct('117010004', 'Urine culture'),
  childbirth: sct('66348005', 'Childbirth'),
  laborInduction: sct('31208007', 'Medical induction of labor'),
  examinationOfMother: sct('5880005', 'Physical examination of mother'),
  contraceptiveImplant: sct('169553002', 'Insertion of subcutaneous contraceptive'),
  intrauterineDevice: sct('65200003', 'Insertion of intrauterine contraceptive device'),
  cytopathology: sct('90226004', 'Cytopathology procedure, preparation of smear, genital source'),
} as const;

export const VACCINES = {
  hepBPediatric: cvx('08', 'Hep B, adolescent or pediatric'),
  dtap: cvx('20', 'DTaP'),
  ipv: cvx('10', 'IPV'),
  hib: cvx('49', 'Hib (PRP-OMP)'),
  pcv13: cvx('133', 'Pneumococcal conjugate PCV 13'),
  rotavirus: cvx('119', 'rotavirus, monovalent'),
  mmr: cvx('03', 'MMR'),
  varicella: cvx('21', 'varicella'),
  hepAPediatric: cvx('83', 'Hep A, ped/adol, 2 dose'),
  influenza: cvx('140', 'Influenza, seasonal, injectable, preservative free'),
  td: cvx('113', 'Td (adult) preservative free'),
  tdap: cvx('115', 'Tdap'),
  hpv: cvx('62', 'HPV, quadrivalent'),
  meningococcal: cvx('114', 'meningococcal MCV4P'),
  zoster: cvx('121', 'zoster'),
  hepBAdult: cvx('43', 'Hep B, adult'),
  hepAAdult: cvx('52', 'Hep A, adult'),
  ppsv23: cvx('33', 'pneumococcal polysaccharide vaccine, 23 valent'),
  covid19: cvx(
    '208',
    'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose',
  ),
} as const;

export const MEDICATIONS = {
  amlodipine: rx('197361', 'Amlodipine 5 MG Oral Tablet'),
  hydrochlorothiazide: rx('310798', 'Hydrochlorothiazide 25 MG Oral Tablet'),
  lisinopril: rx('314076', 'lisinopril 10 MG Oral Tablet'),
  olmesartanCombination: rx(
    '999967',
    'amLODIPine 5 MG / Hydrochlorothiazide 12.5 MG / Olmesartan medoxomil 20 MG Oral Tablet',
  ),
  atenololChlorthalidone: rx('746030', 'Atenolol 50 MG / Chlorthalidone 25 MG Oral Tablet'),
  simvastatin10: rx('314231', 'Simvastatin 10 MG Oral Tablet'),
  simvastatin20: rx('312961', 'Simvastatin 20 MG Oral Tablet'),
  metformin: rx('860975', '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet'),
  clopidogrel: rx('309362', 'Clopidogrel 75 MG Oral Tablet'),
  nitroglycerin: rx('705129', 'Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray'),
  verapamil: rx('897718', 'Verapamil Hydrochloride 40 MG'),
  warfarin: rx('855332', 'Warfarin Sodium 5 MG Oral Tablet'),
  digoxin: rx('197604', 'Digoxin 0.125 MG Oral Tablet'),
  fluticasoneSalmeterol: rx(
    '896209',
    '60 ACTUAT Fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT Dry Powder Inhaler',
  ),
  fluticasoneInhaler: rx(
    '895994',
    '120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler',
  ),
  galantamine: rx('310436', 'Galantamine 4 MG Oral Tablet'),
  donepezilMemantine: rx(
    '1599803',
    '24 HR Donepezil hydrochloride 10 MG / Memantine hydrochloride 28 MG Extended Release Oral Capsule',
  ),
  amoxicillin250: rx('308182', 'Amoxicillin 250 MG Oral Capsule'),
  amoxicillin500: rx('308192', 'Amoxicillin 500 MG Oral Tablet'),
  amoxicillinClavulanate: rx('562251', 'Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet'),
  penicillin250: rx('834061', 'Penicillin V Potassium 250 MG Oral Tablet'),
  penicillin500: rx('834102', 'Penicillin V Potassium 500 MG Oral Tablet'),
  acetaminophen: rx('313782', 'Acetaminophen 325 MG Oral Tablet'),
  ibuprofen100: rx('198405', 'Ibuprofen 100 MG Oral Tablet'),
  ibuprofen200: rx('310965', 'Ibuprofen 200 MG Oral Tablet'),
  naproxen: rx('849574', 'Naproxen sodium 220 MG Oral Tablet'),
  seasonique: rx('749762', 'Seasonique 91 Day Pack'),
  errin: rx('831533', 'Errin 28 Day Pack'),
  etonogestrelImplant: rx('389221', 'Etonogestrel 68 MG Drug Implant'),
  liletta: rx('1605257', 'Liletta 52 MG Intrauterine System'),
  medroxyprogesterone: rx('1000126', '1 ML medroxyprogesterone acetate 150 MG/ML Injection'),
} as const;

export const CARE_PLANS = {
  hypertensionLifestyle: {
    category: sct('443402002', 'Lifestyle education regarding hypertension'),
    activities: [
      sct('386463000', 'Prescribed activity/exercise education'),
      sct('413473000', 'Counseling about alcohol consumption'),
      sct('1151000175103', 'Dietary approaches to stop hypertension diet'),
      sct('225323000', 'Smoking cessation education'),
    ],
  },
  diabetesSelfManagement: {
    category: sct('698360004', 'Diabetes self management plan'),
    activities: [sct('160670007', 'Diabetic diet'), sct('229065009', 'Exercise therapy')],
  },
  hyperlipidemia: {
    category: sct('736285004', 'Hyperlipidemia clinical management plan'),
    activities: [
      sct('183063000', 'low salt diet education'),
      sct('183301007', 'physical exercise'),
    ],
  },
  copd: {
    category: sct('412776001', 'Chronic obstructive pulmonary disease clinical management plan'),
    activities: [
      sct('229065009', 'Exercise therapy'),
      sct('15081005', 'Pulmonary rehabilitation (regime/therapy)'),
    ],
  },
  dementia: {
    category: sct('386257007', 'Demential management'),
    activities: [
      sct('850261000000100', 'Education about dementia'),
      sct('710125008', 'Promotion of use of memory skills'),
      sct('315043002', 'Long term social support'),
    ],
  },
  musculoskeletal: {
    category: sct('408869004', 'Musculoskeletal care'),
    activities: [sct('386294003', 'Joint mobility exercises'), sct('266694003', 'Heat therapy')],
  },
  respiratoryTherapy: {
    category: sct('53950000', 'Respiratory therapy'),
    activities: [
      sct('304510005', 'Recommendation to avoid exercise'),
      sct('371605008', 'Deep breathing and coughing exercises'),
    ],
  },
  woundCare: {
    category: sct('225358003', 'Wound care'),
    activities: [
      sct('385949008', 'Dressing change management'),
      sct('439830001', 'Behavior to prevent infection'),
    ],
  },
  burnCare: {
    category: sct('133901003', 'Burn care'),
    activities: [
      sct('385949008', 'Dressing change management'),
      sct('440381005', 'Behavior to prevent sun exposure'),
      sct('439830001', 'Behavior to prevent infection'),
    ],
  },
  physicalTherapy: {
    category: sct('91251008', 'Physical therapy procedure'),
    activities: [
      sct('229586001', 'Rest, ice, compression and elevation treatment programme'),
      sct('229070002', 'Stretching exercises'),
    ],
  },
  antenatal: {
    category: sct('134435003', 'Routine antenatal care'),
    activities: [
      sct('135892000', 'Antenatal education'),
      sct('713076009', 'Antenatal risk assessment'),
      sct('312404004', 'Antenatal blood tests'),
    ],
  },
  selfCare: {
    category: sct('384758001', 'Self-care interventions (procedure)'),
    activities: [sct('409002', 'Food allergy diet'), sct('58332002', 'Allergy education')],
  },
} as const;

export type CarePlanKind = (typeof CARE_PLANS)[keyof typeof CARE_PLANS];

export const CARE_TEAM_ROLES = {
  patient: sct('116153009', 'Patient'),
  professional: sct('223366009', 'Healthcare professional (occupation)'),
  services: sct('224891009', 'Healthcare services (qualifier value)'),
} as const;

export const ALLERGIES = [
  { code: sct('300913006', 'Shellfish allergy'), category: 'food' },
  { code: sct('91935009', 'Allergy to peanuts'), category: 'food' },
  { code: sct('91930004', 'Allergy to eggs'), category: 'food' },
  { code: sct('417532002', 'Allergy to fish'), category: 'food' },
  { code: sct('232347008', 'Dander (animal) allergy'), category: 'environment' },
  { code: sct('232350006', 'House dust mite allergy'), category: 'environment' },
  { code: sct('419474003', 'Allergy to mould'), category: 'environment' },
  { code: sct('418689008', 'Allergy to grass pollen'), category: 'environment' },
  { code: sct('419263009', 'Allergy to tree pollen'), category: 'environment' },
  { code: sct('294505008', 'Allergy to penicillin'), category: 'medication' },
] as const;

export const NOTE_TYPES = {
  historyAndPhysical: loinc('34117-2', 'History and physical note'),
  evaluationAndPlan: loinc('51847-2', 'Evaluation + Plan note'),
  progress: loinc('11506-3', 'Progress note'),
  dischargeSummary: loinc('18842-5', 'Discharge summary'),
} as const;

export const IMAGING = {
  clavicle: {
    bodySite: sct('51299004', 'Clavicle'),
    title: 'Image of clavicle',
  },
  knee: { bodySite: sct('72696002', 'Knee'), title: 'Image of knee' },
  arm: { bodySite: sct('40983000', 'Arm'), title: 'Image of arm' },
  ankle: { bodySite: sct('344001', 'Ankle'), title: 'Image of ankle' },
} as const;

/**
 * Every SNOMED CT, LOINC, RxNorm and CVX coding above. Frozen once the module has loaded;
 * tests check each coding in generated output against it.
 */
export const CLINICAL_CODINGS: readonly Coding[] = Object.freeze([...registry]);
