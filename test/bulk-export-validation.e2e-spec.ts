import { randomUUID } from 'node:crypto';
import {
  downloadLines,
  expectOperationOutcome,
  exportJobCount,
  exportManifest,
  idsOfLines,
  kickOffResponse,
  store,
  useExportApp,
  LENIENT,
  singleErrorOutcome,
} from './support/export-helpers';
import { group, patientWithId } from './support/export-factories';
import { ResourceRepository } from '../src/resources/resource.repository';
import { api } from './support/test-app';

describe('$export kick-off validation over HTTP', () => {
  const t = useExportApp();

  describe('headers', () => {
    it('rejects a kick-off without Accept, naming the header, and starts no job', async () => {
      const res = await kickOffResponse(t.app, '/$export', { headers: { Accept: undefined } });
      expectOperationOutcome(res, 400, { expression: 'Accept' });
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('rejects Accept: text/html, naming the header and the value', async () => {
      const res = await kickOffResponse(t.app, '/$export', { headers: { Accept: 'text/html' } });
      expectOperationOutcome(res, 400, { expression: 'Accept', mentions: ['text/html'] });
    });

    it('rejects a kick-off without Prefer', async () => {
      const res = await kickOffResponse(t.app, '/Patient/$export', {
        headers: { Prefer: undefined },
      });
      expectOperationOutcome(res, 400, { expression: 'Prefer', mentions: ['respond-async'] });
    });

    it.each(['return=minimal', 'handling=lenient'])(
      'rejects Prefer: %s, which lacks respond-async',
      async (prefer) => {
        const res = await kickOffResponse(t.app, '/$export', { headers: { Prefer: prefer } });
        expectOperationOutcome(res, 400, { expression: 'Prefer', mentions: [prefer] });
      },
    );

    it.each(['application/json', '*/*'])(
      'rejects Accept: %s alone, since the IG allows only application/fhir+json',
      async (accept) => {
        const res = await kickOffResponse(t.app, '/$export', { headers: { Accept: accept } });
        expectOperationOutcome(res, 400, { expression: 'Accept', mentions: [accept] });
        expect(await exportJobCount(t.app)).toBe(0);
      },
    );

    it('accepts every Accept naming application/fhir+json and every NDJSON _outputFormat spelling', async () => {
      for (const [accept, format] of [
        ['application/fhir+json; charset=utf-8', 'application/fhir+ndjson'],
        ['application/json, application/fhir+json', 'application/ndjson'],
        ['application/fhir+json', 'ndjson'],
      ]) {
        const res = await kickOffResponse(t.app, '/$export', {
          headers: { Accept: accept },
          query: { _outputFormat: format, _type: 'Patient' },
        });
        expect({ accept, format, status: res.status }).toEqual({ accept, format, status: 202 });
        expect(res.headers['content-location']).toMatch(
          /^http:\/\/[^/]+\/_operations\/export\/[0-9a-f-]{36}$/,
        );
        expect(res.text).toBe('');
      }
    });
  });

  describe('parameters', () => {
    it('rejects _outputFormat text/csv, naming the parameter and the value', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        query: { _outputFormat: 'text/csv' },
      });
      expectOperationOutcome(res, 400, { expression: '_outputFormat', mentions: ['text/csv'] });
    });

    it('rejects a _since that is not a FHIR instant', async () => {
      const res = await kickOffResponse(t.app, '/$export', { query: { _since: '2024-13-01' } });
      expectOperationOutcome(res, 400, { expression: '_since', mentions: ['2024-13-01'] });
    });

    it('rejects a _since in the future', async () => {
      const future = new Date(Date.now() + 24 * 3600_000).toISOString();
      const res = await kickOffResponse(t.app, '/$export', { query: { _since: future } });
      expectOperationOutcome(res, 400, { expression: '_since', mentions: [future, 'future'] });
    });

    it('rejects an _until before _since, and its alias _till likewise', async () => {
      for (const name of ['_until', '_till']) {
        const res = await kickOffResponse(t.app, '/$export', {
          query: { _since: '2024-02-01T00:00:00Z', [name]: '2024-01-01T00:00:00Z' },
        });
        expectOperationOutcome(res, 400, { expression: name, mentions: ['before _since'] });
      }
    });

    it('rejects an unknown _type, naming it', async () => {
      const res = await kickOffResponse(t.app, '/$export', { query: { _type: 'Patient,Bogus' } });
      expectOperationOutcome(res, 400, { expression: '_type', mentions: ['Bogus'] });
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('skips an unknown _type under handling=lenient and reports it in the manifest error file', async () => {
      const [p] = await store(t.app, [patientWithId()]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        headers: LENIENT,
        query: { _type: 'Patient,Bogus' },
      });

      expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 1]]);
      const outcome = await singleErrorOutcome(t.app, manifest);
      expect(outcome.issue[0].diagnostics).toContain('Bogus');
      expect(idsOfLines(await downloadLines(t.app, manifest.output[0].url))).toEqual([p.id]);
    });

    it.each(['ab', 'Abc', 'a--b', '../x', '-abc', 'abc-', 'a'.repeat(64)])(
      'rejects _container %s at kick-off, before any job exists',
      async (name) => {
        const res = await kickOffResponse(t.app, '/$export', { query: { _container: name } });
        expectOperationOutcome(res, 400, { expression: '_container', mentions: [name] });
        expect(await exportJobCount(t.app)).toBe(0);
      },
    );

    it('rejects an unknown parameter, naming it', async () => {
      const res = await kickOffResponse(t.app, '/$export', { query: { _typo: 'x' } });
      expectOperationOutcome(res, 400, { expression: '_typo', mentions: ['_typo'] });
    });

    it('accepts an unknown parameter under handling=lenient and lists it in the error file', async () => {
      await store(t.app, [patientWithId()]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        headers: LENIENT,
        query: { _typo: 'x', _type: 'Patient' },
      });
      expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
      expect(manifest.error.map((e) => e.type)).toEqual(['OperationOutcome']);
      const [line] = await downloadLines(t.app, manifest.error[0].url);
      expect(line).toContain('_typo');
    });

    it('keeps the lenient error file apart from exported OperationOutcome resources', async () => {
      const [stored] = await store(t.app, [
        {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'information', code: 'informational', diagnostics: 'stored data' }],
        },
      ]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        headers: LENIENT,
        query: { _typo: 'x', _type: 'OperationOutcome' },
      });

      expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['OperationOutcome', 1]]);
      expect(manifest.error.map((e) => [e.type, e.count])).toEqual([['OperationOutcome', 1]]);
      expect(manifest.error[0].url).not.toBe(manifest.output[0].url);
      expect(await downloadLines(t.app, manifest.output[0].url)).toEqual([JSON.stringify(stored)]);
      const [warning] = await downloadLines(t.app, manifest.error[0].url);
      expect(warning).toContain('_typo');
    });

    it('rejects patient at system level', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        method: 'POST',
        body: {
          resourceType: 'Parameters',
          parameter: [{ name: 'patient', valueReference: { reference: 'Patient/123' } }],
        },
      });
      expectOperationOutcome(res, 400, { expression: 'patient', mentions: ['system level'] });
    });

    it('rejects a _typeFilter for a type that _type leaves out', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        query: { _type: 'Patient', _typeFilter: 'Observation?status=final' },
      });
      expectOperationOutcome(res, 400, {
        expression: '_typeFilter',
        mentions: ['Observation?status=final', 'not in _type'],
      });
    });

    it('rejects a _typeFilter that is not Type?query', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        query: { _typeFilter: 'status=final' },
      });
      expectOperationOutcome(res, 400, { expression: '_typeFilter', mentions: ['status=final'] });
    });
  });

  describe('parameters this server cannot apply', () => {
    it('refuses an includeAssociatedData _custom value rather than silently exporting less than asked', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        query: { includeAssociatedData: '_customMine' },
      });
      expectOperationOutcome(res, 400, {
        expression: 'includeAssociatedData',
        mentions: ['_customMine', 'not supported'],
      });
    });

    it('exports without an includeAssociatedData _custom value under handling=lenient and says so in the error file', async () => {
      await store(t.app, [patientWithId()]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        headers: LENIENT,
        query: { _type: 'Patient', includeAssociatedData: '_customMine' },
      });
      expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 1]]);
      const [warning] = await downloadLines(t.app, manifest.error[0].url);
      expect(warning).toContain('includeAssociatedData');
      expect(warning).toContain('_customMine');
    });
  });

  describe('POST with a Parameters body', () => {
    it('accepts a Parameters body and exports what it asks for', async () => {
      const [p] = await store(t.app, [patientWithId()]);
      await store(t.app, [{ resourceType: 'Organization', name: 'not asked for' }]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        method: 'POST',
        body: {
          resourceType: 'Parameters',
          parameter: [
            { name: '_outputFormat', valueString: 'application/fhir+ndjson' },
            { name: '_type', valueString: 'Patient' },
            { name: '_type', valueCode: 'Observation' },
            { name: '_since', valueInstant: '2000-01-01T00:00:00Z' },
          ],
        },
      });
      expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 1]]);
      expect(
        (JSON.parse((await downloadLines(t.app, manifest.output[0].url))[0]) as { id: string }).id,
      ).toBe(p.id);
    });

    it('rejects a body that is not a Parameters resource', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        method: 'POST',
        body: { resourceType: 'Patient', id: 'x' },
      });
      expectOperationOutcome(res, 400, { expression: 'Parameters', mentions: ['Patient'] });
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('validates POST parameters like query parameters', async () => {
      const res = await kickOffResponse(t.app, '/Patient/$export', {
        method: 'POST',
        body: {
          resourceType: 'Parameters',
          parameter: [{ name: '_container', valueString: 'Abc' }],
        },
      });
      expectOperationOutcome(res, 400, { expression: '_container', mentions: ['Abc'] });
    });
  });

  describe('unknown things', () => {
    it('answers 404 at kick-off for a Group that does not exist', async () => {
      const res = await kickOffResponse(t.app, '/Group/no-such-group/$export');
      expectOperationOutcome(res, 404, { mentions: ['no-such-group'] });
      expect(await exportJobCount(t.app)).toBe(0);
    });

    it('answers 404 at kick-off for a Group that was deleted', async () => {
      const [g] = await store(t.app, [group([])]);
      await t.app
        .get(ResourceRepository)
        .inTransaction((session) => session.delete('Group', g.id as string));
      const res = await kickOffResponse(t.app, `/Group/${g.id}/$export`);
      expectOperationOutcome(res, 404, { mentions: [g.id as string] });
    });

    it('answers 202 at kick-off for a Group that exists', async () => {
      const [g] = await store(t.app, [group([])]);
      const res = await kickOffResponse(t.app, `/Group/${g.id}/$export`);
      expect(res.status).toBe(202);
    });

    it('answers 404 for the status of an unknown export id', async () => {
      for (const id of [randomUUID(), 'not-a-uuid']) {
        const res = await api(t.app).get(`/_operations/export/${id}`);
        expectOperationOutcome(res, 404, { mentions: [id] });
      }
    });

    it('answers 404 for DELETE of an unknown export id', async () => {
      const res = await api(t.app).delete(`/_operations/export/${randomUUID()}`);
      expectOperationOutcome(res, 404);
    });
  });
});
