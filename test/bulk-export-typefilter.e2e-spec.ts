import {
  downloadLines,
  expectOperationOutcome,
  exportManifest,
  kickOffResponse,
  idsOfType,
  store,
  useExportApp,
  LENIENT,
} from './support/export-helpers';
import { observationOf, patientWithId } from './support/export-factories';

const LOINC = 'http://loinc.org';

function coded(code: string, status = 'final') {
  return { status, code: { coding: [{ system: LOINC, code }] } };
}

describe('$export _typeFilter, evaluated in SQL as of transactionTime', () => {
  const t = useExportApp({ EXPORT_PAGE_SIZE: '2' });
  let patientId: string;

  beforeEach(async () => {
    const [p] = await store(t.app, [patientWithId()]);
    patientId = p.id as string;
    await store(t.app, [
      observationOf(patientId, { id: 'heart-1', ...coded('8867-4') }),
      observationOf(patientId, { id: 'heart-2', ...coded('8867-4', 'amended') }),
      observationOf(patientId, { id: 'weight-1', ...coded('29463-7') }),
      observationOf(patientId, { id: 'bp-1', ...coded('85354-9') }),
    ]);
  });

  it('exports only the resources a filter selects, and leaves other types unfiltered', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _type: 'Patient,Observation', _typeFilter: `Observation?code=${LOINC}|8867-4` },
    });
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(['heart-1', 'heart-2']);
    expect(await idsOfType(t.app, manifest, 'Patient')).toEqual([patientId]);
    expect(manifest.output.find((o) => o.type === 'Observation')?.count).toBe(2);
  });

  it('ORs repeated filters of one type and ANDs the parameters inside one filter', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: {
        _type: 'Observation',
        _typeFilter: [
          `Observation?code=${LOINC}|8867-4&status=final`,
          `Observation?code=${LOINC}|29463-7`,
        ],
      },
    });
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(['heart-1', 'weight-1']);
  });

  it('keeps a comma inside one value as OR, in the URL-encoded form', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: {
        _type: 'Observation',
        _typeFilter: `Observation?code=${encodeURIComponent(`${LOINC}|29463-7,${LOINC}|85354-9`)}`,
      },
    });
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(['bp-1', 'weight-1']);
  });

  it('refuses a filter parameter the server cannot evaluate, naming it', async () => {
    const res = await kickOffResponse(t.app, '/$export', {
      query: { _typeFilter: 'Observation?no-such-param=1' },
    });
    expectOperationOutcome(res, 400, { expression: '_typeFilter', mentions: ['no-such-param'] });
  });

  it('refuses result parameters inside a filter', async () => {
    const res = await kickOffResponse(t.app, '/$export', {
      query: { _typeFilter: 'Observation?status=final&_count=10' },
    });
    expectOperationOutcome(res, 400, { expression: '_typeFilter', mentions: ['_count'] });
  });

  it('under handling=lenient applies what it can and reports the rest in the error file', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      headers: LENIENT,
      query: {
        _type: 'Observation',
        _typeFilter: `Observation?code=${LOINC}|8867-4&no-such-param=1`,
      },
    });
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(['heart-1', 'heart-2']);
    const [warning] = await downloadLines(t.app, manifest.error[0].url);
    expect(warning).toContain('no-such-param');
  });
});
