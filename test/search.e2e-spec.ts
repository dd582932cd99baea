import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

interface SearchBundle {
  resourceType: string;
  type: string;
  total?: number;
  link: { relation: string; url: string }[];
  entry: {
    fullUrl?: string;
    resource: { resourceType: string; id: string; [k: string]: unknown };
    search: { mode: string };
  }[];
}

describe('FHIR search over the index (GET /{type}, POST /{type}/_search)', () => {
  const t = useTestApp();
  // Every resource of this suite carries this tag and every query filters on it, so data other
  // suites leave in a shared database cannot change the results.
  const run = randomUUID().slice(0, 8);
  const tag = { system: 'urn:test:run', code: run };
  const tagParam = `_tag=urn:test:run|${run}`;
  const id = (name: string): string => `${name}-${run}`;

  const http = () => api(t.app);
  const put = (resource: { resourceType: string; id: string; [k: string]: unknown }) =>
    http()
      .put(`/${resource.resourceType}/${resource.id}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ ...resource, meta: { tag: [tag] } }));

  async function search(path: string, headers: Record<string, string> = {}): Promise<SearchBundle> {
    const separator = path.includes('?') ? '&' : '?';
    const res = await http().get(`${path}${separator}${tagParam}`).set(headers);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
    return JSON.parse(res.text) as SearchBundle;
  }

  /** Ids of the matches, sorted, with the run suffix removed. */
  async function ids(path: string): Promise<string[]> {
    const bundle = await search(path);
    return bundle.entry
      .filter((e) => e.search.mode === 'match')
      .map((e) => e.resource.id.replace(`-${run}`, ''))
      .sort();
  }

  beforeAll(async () => {
    const patients = [
      {
        resourceType: 'Patient',
        id: id('p1'),
        name: [{ family: 'Müller', given: ['Anna'] }],
        gender: 'female',
        birthDate: '1980-04-12',
        identifier: [{ system: 'urn:mrn', value: 'A1' }],
      },
      {
        resourceType: 'Patient',
        id: id('p2'),
        name: [{ family: 'Muller', given: ['Bob'] }],
        gender: 'male',
        birthDate: '1990',
        identifier: [{ system: 'urn:mrn', value: 'B,2' }],
      },
      {
        resourceType: 'Patient',
        id: id('p3'),
        name: [{ family: 'Smith|Jones', given: ['Cy'] }],
        gender: 'other',
        deceasedBoolean: true,
      },
    ];
    const loinc = (code: string, display: string) => ({
      coding: [{ system: 'http://loinc.org', code, display }],
    });
    const observations = [
      {
        resourceType: 'Observation',
        id: id('o1'),
        status: 'final',
        code: loinc('8867-4', 'Heart rate'),
        subject: { reference: `Patient/${id('p1')}` },
        effectiveDateTime: '2020-01-02T10:00:00Z',
        valueQuantity: {
          value: 72,
          unit: '/min',
          system: 'http://unitsofmeasure.org',
          code: '/min',
        },
      },
      {
        resourceType: 'Observation',
        id: id('o2'),
        status: 'final',
        code: loinc('29463-7', 'Body weight'),
        subject: { reference: `http://example.org/fhir/Patient/${id('p2')}` },
        effectivePeriod: { start: '2019-06-01', end: '2020-06-01' },
        valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      },
      {
        resourceType: 'Observation',
        id: id('o3'),
        status: 'amended',
        code: loinc('8867-4', 'Heart rate'),
        subject: { reference: `Patient/${id('p1')}/_history/1` },
        effectiveDateTime: '2021-03-04',
        valueQuantity: {
          value: 100,
          unit: '/min',
          system: 'http://unitsofmeasure.org',
          code: '/min',
        },
      },
      {
        resourceType: 'Observation',
        id: id('o4'),
        status: 'final',
        code: { coding: [{ system: 'urn:weird', code: 'a,b' }], text: 'Odd code' },
        subject: { reference: `Patient/${id('p3')}` },
        contained: [{ resourceType: 'Patient', id: 'c1' }],
        performer: [{ reference: '#c1' }],
      },
    ];
    const others = [
      {
        resourceType: 'RiskAssessment',
        id: id('r1'),
        status: 'final',
        subject: { reference: `Patient/${id('p1')}` },
        prediction: [{ probabilityDecimal: 0.25 }],
      },
      {
        resourceType: 'RiskAssessment',
        id: id('r2'),
        status: 'final',
        subject: { reference: `Patient/${id('p2')}` },
        prediction: [{ probabilityDecimal: 0.5 }],
      },
      {
        resourceType: 'ValueSet',
        id: id('v1'),
        status: 'active',
        url: `http://example.org/fhir/ValueSet/${run}/colors`,
      },
      {
        resourceType: 'ValueSet',
        id: id('v2'),
        status: 'active',
        url: `http://example.org/fhir/ValueSet/${run}/colors/warm`,
      },
    ];
    for (const resource of [...patients, ...observations, ...others]) {
      await put(resource).expect(201);
    }
  });

  describe('token', () => {
    it('matches system|code, code alone, |code (no system) and system| (any code)', async () => {
      expect(await ids('/Observation?code=http://loinc.org|8867-4')).toEqual(['o1', 'o3']);
      expect(await ids('/Observation?code=8867-4')).toEqual(['o1', 'o3']);
      expect(await ids('/Observation?code=|8867-4')).toEqual([]);
      expect(await ids('/Observation?code=http://loinc.org|')).toEqual(['o1', 'o2', 'o3']);
      expect(await ids('/Patient?gender=male')).toEqual(['p2']);
      expect(await ids('/Patient?deceased=true')).toEqual(['p3']);
    });

    it('ORs comma-separated values and ANDs repeated parameters', async () => {
      expect(await ids('/Observation?code=8867-4,29463-7')).toEqual(['o1', 'o2', 'o3']);
      expect(await ids('/Observation?code=8867-4&code=http://loinc.org|')).toEqual(['o1', 'o3']);
      expect(await ids('/Observation?code=8867-4&code=29463-7')).toEqual([]);
      expect(await ids('/Observation?code=8867-4&status=amended')).toEqual(['o3']);
    });

    it('takes \\, and \\| as literal characters inside a value', async () => {
      expect(await ids(`/Observation?code=${encodeURIComponent('urn:weird|a\\,b')}`)).toEqual([
        'o4',
      ]);
      expect(await ids(`/Patient?identifier=${encodeURIComponent('urn:mrn|B\\,2')}`)).toEqual([
        'p2',
      ]);
      // Unescaped, the comma splits the value into two alternatives, neither of which matches.
      expect(await ids(`/Observation?code=${encodeURIComponent('urn:weird|a,b')}`)).toEqual([]);
    });

    it('supports :not, :text and :missing', async () => {
      expect(await ids('/Observation?code:not=http://loinc.org|8867-4')).toEqual(['o2', 'o4']);
      expect(await ids('/Observation?code:text=heart')).toEqual(['o1', 'o3']);
      expect(await ids('/Observation?code:text=odd')).toEqual(['o4']);
      expect(await ids('/Patient?deceased:missing=true')).toEqual(['p1', 'p2']);
    });
  });

  describe('string', () => {
    it('matches the start, ignoring case and accents', async () => {
      expect(await ids('/Patient?family=muller')).toEqual(['p1', 'p2']);
      expect(await ids(`/Patient?family=${encodeURIComponent('MÜL')}`)).toEqual(['p1', 'p2']);
      expect(await ids('/Patient?family=uller')).toEqual([]);
      expect(await ids('/Patient?name=anna')).toEqual(['p1']);
    });

    it('supports :exact and :contains, with \\| escaped', async () => {
      expect(await ids(`/Patient?family:exact=${encodeURIComponent('Müller')}`)).toEqual(['p1']);
      expect(await ids('/Patient?family:exact=muller')).toEqual([]);
      expect(await ids('/Patient?family:contains=ulle')).toEqual(['p1', 'p2']);
      expect(await ids(`/Patient?family:exact=${encodeURIComponent('Smith\\|Jones')}`)).toEqual([
        'p3',
      ]);
    });
  });

  describe('date', () => {
    it('compares ranges at the precision given, partial dates included', async () => {
      expect(await ids('/Patient?birthdate=1980-04-12')).toEqual(['p1']);
      expect(await ids('/Patient?birthdate=1980')).toEqual(['p1']);
      expect(await ids('/Patient?birthdate=1990')).toEqual(['p2']);
      expect(await ids('/Patient?birthdate=1990-05-01')).toEqual([]);
      expect(await ids('/Observation?date=2020-01-02')).toEqual(['o1']);
      // The Period 2019-06-01..2020-06-01 is not within 2020.
      expect(await ids('/Observation?date=2020')).toEqual(['o1']);
    });

    it('applies the prefixes gt lt ge le ne sa eb ap', async () => {
      expect(await ids('/Patient?birthdate=gt1985')).toEqual(['p2']);
      expect(await ids('/Patient?birthdate=lt1985')).toEqual(['p1']);
      expect(await ids('/Patient?birthdate=ge1990-01-01')).toEqual(['p2']);
      expect(await ids('/Patient?birthdate=le1980-04-12')).toEqual(['p1']);
      expect(await ids('/Observation?date=ne2020-01-02')).toEqual(['o2', 'o3']);
      expect(await ids('/Observation?date=sa2020-01-03')).toEqual(['o3']);
      expect(await ids('/Observation?date=eb2020-06-01')).toEqual(['o1']);
      expect(await ids('/Observation?date=eb2020-06-02')).toEqual(['o1', 'o2']);
      expect(await ids('/Observation?date=ap2021-03-04')).toEqual(['o3']);
      expect(await ids('/Patient?birthdate:missing=true')).toEqual(['p3']);
    });

    it('stores and finds the open-ended 9999-12-31 instead of failing with 500', async () => {
      const res = await put({
        resourceType: 'Encounter',
        id: id('open-ended'),
        status: 'in-progress',
        class: { code: 'AMB' },
        period: { start: '2020-01-01', end: '9999-12-31' },
      });
      expect(res.status).toBe(201);
      expect(await ids('/Encounter?date=ge2500')).toEqual(['open-ended']);
      expect(await ids('/Encounter?date=lt2019')).toEqual([]);
      // Searching at the end of time answers, whatever it matches.
      await search('/Encounter?date=gt9999-12-31');
      expect(await ids('/Patient?_lastUpdated=ge9999-12-31T23:59:59Z')).toEqual([]);
    });

    it('rejects a calendar date that does not exist rather than rolling it over', async () => {
      const res = await http().get(`/Patient?birthdate=2021-02-29&${tagParam}`).expect(400);
      expect(res.body.issue[0].expression).toEqual(['birthdate']);
    });

    it('rejects a value that is not a date', async () => {
      const res = await http().get(`/Patient?birthdate=yesterday&${tagParam}`).expect(400);
      expect(res.body.issue[0].expression).toEqual(['birthdate']);
    });
  });

  describe('reference', () => {
    it('matches relative, id-only, typed, versioned and absolute references', async () => {
      expect(await ids(`/Observation?subject=Patient/${id('p1')}`)).toEqual(['o1', 'o3']);
      expect(await ids(`/Observation?subject=${id('p1')}`)).toEqual(['o1', 'o3']);
      expect(await ids(`/Observation?subject:Patient=${id('p2')}`)).toEqual(['o2']);
      expect(await ids(`/Observation?patient=Patient/${id('p2')}`)).toEqual(['o2']);
      expect(await ids(`/Observation?subject=http://example.org/fhir/Patient/${id('p1')}`)).toEqual(
        ['o1', 'o3'],
      );
      expect(await ids(`/Observation?subject:Group=${id('p1')}`)).toEqual([]);
    });

    it('ignores contained references', async () => {
      expect(await ids('/Observation?performer:missing=false')).toEqual([]);
    });

    it('follows one level of chaining, with or without the target type', async () => {
      expect(await ids('/Observation?subject:Patient.name=muller')).toEqual(['o1', 'o2', 'o3']);
      expect(await ids('/Observation?subject.gender=male')).toEqual(['o2']);
      expect(await ids('/Observation?patient.family:exact=Smith%5C%7CJones')).toEqual(['o4']);
      const res = await http()
        .get(`/Observation?subject:Patient.organization.name=x&${tagParam}`)
        .expect(400);
      expect(res.body.issue[0].expression).toEqual(['subject:Patient.organization.name']);
    });
  });

  describe('quantity, number and uri', () => {
    it('compares quantities with precision, prefixes, system and code', async () => {
      expect(await ids('/Observation?value-quantity=72')).toEqual(['o1']);
      expect(await ids('/Observation?value-quantity=gt72')).toEqual(['o2', 'o3']);
      expect(await ids('/Observation?value-quantity=72.5|http://unitsofmeasure.org|kg')).toEqual([
        'o2',
      ]);
      expect(await ids('/Observation?value-quantity=le100||kg')).toEqual(['o2']);
      expect(await ids('/Observation?value-quantity=ap95')).toEqual(['o3']);
      expect(await ids('/Observation?value-quantity=ne72')).toEqual(['o2', 'o3']);
    });

    it('compares numbers', async () => {
      expect(await ids('/RiskAssessment?probability=0.5')).toEqual(['r2']);
      expect(await ids('/RiskAssessment?probability=gt0.3')).toEqual(['r2']);
      expect(await ids('/RiskAssessment?probability=le0.25')).toEqual(['r1']);
      // 0.3 stands for [0.25, 0.35), which holds 0.25.
      expect(await ids('/RiskAssessment?probability=0.3')).toEqual(['r1']);
      expect(await ids('/RiskAssessment?probability=0.4')).toEqual([]);
    });

    it('matches uris exactly or with :below and :above', async () => {
      const base = `http://example.org/fhir/ValueSet/${run}/colors`;
      expect(await ids(`/ValueSet?url=${base}`)).toEqual(['v1']);
      expect(await ids(`/ValueSet?url:below=${base}`)).toEqual(['v1', 'v2']);
      expect(await ids(`/ValueSet?url:above=${base}/warm/red`)).toEqual(['v1', 'v2']);
    });
  });

  describe('_id and _lastUpdated', () => {
    it('selects by id and by last update', async () => {
      expect(await ids(`/Patient?_id=${id('p1')},${id('p3')}`)).toEqual(['p1', 'p3']);
      expect(await ids('/Patient?_lastUpdated=gt2000-01-01')).toEqual(['p1', 'p2', 'p3']);
      expect(await ids('/Patient?_lastUpdated=lt2000-01-01')).toEqual([]);
    });
  });

  describe('result parameters and paging', () => {
    it('pages with _count and keyset next links until every match was returned once', async () => {
      const seen: string[] = [];
      let url: string | undefined = `/Observation?_count=3&${tagParam}`;
      let pages = 0;
      while (url) {
        const res = await http().get(url).expect(200);
        const bundle = JSON.parse(res.text) as SearchBundle;
        expect(bundle.entry.length).toBeLessThanOrEqual(3);
        seen.push(...bundle.entry.map((e) => e.resource.id));
        const next = bundle.link.find((l) => l.relation === 'next')?.url;
        if (next) expect(next).not.toMatch(/offset/i);
        url = next ? new URL(next).pathname + new URL(next).search : undefined;
        pages++;
      }
      expect(pages).toBe(2);
      expect(seen.map((s) => s.replace(`-${run}`, '')).sort()).toEqual(['o1', 'o2', 'o3', 'o4']);
    });

    it('gives each entry a fullUrl, the stored resource and search.mode match', async () => {
      const bundle = await search(`/Patient?_id=${id('p1')}`);
      expect(bundle.type).toBe('searchset');
      expect(bundle.entry).toHaveLength(1);
      expect(bundle.entry[0].fullUrl).toMatch(new RegExp(`/Patient/${id('p1')}$`));
      expect(bundle.entry[0].resource.name).toEqual([{ family: 'Müller', given: ['Anna'] }]);
      expect(bundle.entry[0].search).toEqual({ mode: 'match' });
      expect(bundle.link.find((l) => l.relation === 'self')?.url).toContain('_id=');
      expect(bundle.total).toBeUndefined();
    });

    it('sorts by _lastUpdated, -_lastUpdated and _id across pages', async () => {
      const order = async (sort: string): Promise<string[]> => {
        const all: string[] = [];
        let url: string | undefined = `/Patient?_sort=${sort}&_count=1&${tagParam}`;
        while (url) {
          const bundle = JSON.parse((await http().get(url).expect(200)).text) as SearchBundle;
          all.push(...bundle.entry.map((e) => e.resource.id.replace(`-${run}`, '')));
          const next = bundle.link.find((l) => l.relation === 'next')?.url;
          url = next ? new URL(next).pathname + new URL(next).search : undefined;
        }
        return all;
      };
      expect(await order('_lastUpdated')).toEqual(['p1', 'p2', 'p3']);
      expect(await order('-_lastUpdated')).toEqual(['p3', 'p2', 'p1']);
      expect(await order('_id')).toEqual(['p1', 'p2', 'p3']);
      expect(await order('-_id')).toEqual(['p3', 'p2', 'p1']);
    });

    it('answers _summary=count with the total only, and _total=accurate with both', async () => {
      const counted = await search('/Observation?_summary=count');
      expect(counted.total).toBe(4);
      expect(counted.entry).toEqual([]);
      const both = await search('/Observation?_total=accurate&_count=1');
      expect(both.total).toBe(4);
      expect(both.entry).toHaveLength(1);
    });

    it('answers POST _search with form parameters like GET', async () => {
      const res = await http()
        .post('/Observation/_search')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send(`code=${encodeURIComponent('http://loinc.org|8867-4')}&${tagParam}`)
        .expect(200);
      const bundle = JSON.parse(res.text) as SearchBundle;
      expect(bundle.entry.map((e) => e.resource.id).sort()).toEqual([id('o1'), id('o3')]);
    });
  });

  describe('errors and routing', () => {
    it('rejects an unknown parameter with 400 naming it', async () => {
      const res = await http().get(`/Observation?colour=red&${tagParam}`).expect(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].expression).toEqual(['colour']);
      expect(res.body.issue[0].diagnostics).toContain('colour');
    });

    it('rejects unsupported modifiers and parameter types', async () => {
      const modifier = await http().get(`/Observation?code:below=x&${tagParam}`).expect(400);
      expect(modifier.body.issue[0].expression).toEqual(['code:below']);
      const composite = await http()
        .get(`/Observation?code-value-quantity=x&${tagParam}`)
        .expect(400);
      expect(composite.body.issue[0].expression).toEqual(['code-value-quantity']);
    });

    it('ignores unknown parameters under Prefer: handling=lenient and reports them', async () => {
      const bundle = await search('/Observation?colour=red&code=8867-4', {
        Prefer: 'handling=lenient',
      });
      const matches = bundle.entry.filter((e) => e.search.mode === 'match');
      expect(matches.map((e) => e.resource.id).sort()).toEqual([id('o1'), id('o3')]);
      const outcome = bundle.entry.find((e) => e.search.mode === 'outcome');
      expect(outcome?.resource.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(outcome?.resource)).toContain('colour');
    });

    it('answers 404 for an unknown type and leaves /metadata and /health to their routes', async () => {
      await http().get('/Spaceship?name=x').expect(404);
      const metadata = await http().get('/metadata').expect(200);
      expect(metadata.body.resourceType).toBe('CapabilityStatement');
      const health = await http().get('/health');
      expect(health.body.resourceType).not.toBe('Bundle');
    });
  });

  describe('CapabilityStatement', () => {
    it("declares search-type and each type's supported search parameters with their definitions", async () => {
      const res = await http().get('/metadata').expect(200);
      const resources = res.body.rest[0].resource as {
        type: string;
        interaction: { code: string }[];
        searchParam?: { name: string; type: string; definition?: string }[];
      }[];
      const observation = resources.find((r) => r.type === 'Observation')!;
      expect(observation.interaction.map((i) => i.code)).toContain('search-type');
      const params = new Map(observation.searchParam!.map((p) => [p.name, p]));
      expect(params.get('code')).toEqual({
        name: 'code',
        type: 'token',
        definition: 'http://hl7.org/fhir/SearchParameter/clinical-code',
      });
      expect(params.get('value-quantity')?.type).toBe('quantity');
      expect(params.get('subject')?.type).toBe('reference');
      expect([...params.keys()]).toEqual(
        expect.arrayContaining(['_id', '_lastUpdated', '_tag', '_profile', '_security', 'date']),
      );
      // Composite parameters are not evaluated, so not declared.
      expect(params.has('code-value-quantity')).toBe(false);
    });
  });

  describe('versions', () => {
    it('searches current versions only: updated and deleted resources match what they are now', async () => {
      const pid = id('versioned');
      await put({ resourceType: 'Patient', id: pid, name: [{ family: 'Before' }] }).expect(201);
      expect(await ids('/Patient?family=before')).toEqual(['versioned']);
      await put({ resourceType: 'Patient', id: pid, name: [{ family: 'After' }] }).expect(200);
      expect(await ids('/Patient?family=before')).toEqual([]);
      expect(await ids('/Patient?family=after')).toEqual(['versioned']);
      await http().delete(`/Patient/${pid}`).expect(204);
      expect(await ids('/Patient?family=after')).toEqual([]);
    });

    it('writes no index rows when the transaction rolls back', async () => {
      const family = `Rollback${run}`;
      const res = await http()
        .post('/')
        .set('Content-Type', FHIR_JSON)
        .send(
          JSON.stringify({
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              {
                resource: { resourceType: 'Patient', name: [{ family }], meta: { tag: [tag] } },
                request: { method: 'POST', url: 'Patient' },
              },
              {
                resource: { resourceType: 'Patient', id: id('p1') },
                request: { method: 'PUT', url: `Patient/${id('p1')}`, ifMatch: 'W/"99"' },
              },
            ],
          }),
        );
      expect(res.status).toBe(412);
      const db = t.app.get(DataSource);
      const rows = await db.query<{ n: string }[]>(
        `SELECT count(*) AS n FROM search_string WHERE norm = $1`,
        [family.toLowerCase()],
      );
      expect(Number(rows[0].n)).toBe(0);
      expect(await ids(`/Patient?family=${family}`)).toEqual([]);
    });

    it('writes the index in the same transaction as the version it belongs to', async () => {
      const pid = id('same-tx');
      await put({ resourceType: 'Patient', id: pid, name: [{ family: 'Indexed' }] }).expect(201);
      const db = t.app.get(DataSource);
      const rows = await db.query<{ xmin_resource: string; xmin_index: string }[]>(
        `SELECT r.xmin::text AS xmin_resource, s.xmin::text AS xmin_index
         FROM resource r JOIN search_string s ON s.seq = r.seq
         WHERE r.type = 'Patient' AND r.id = $1 AND s.param = 'family'`,
        [pid],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].xmin_index).toBe(rows[0].xmin_resource);
    });
  });
});
