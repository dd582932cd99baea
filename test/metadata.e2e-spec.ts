import request from 'supertest';
import packageJson from '../package.json';
import { FhirDefinitions } from '../src/fhir/fhir-definitions.service';
import { CapabilityRest, restResource, serverRest } from '../src/metadata/capability-statement';
import { CapabilityStatementService } from '../src/metadata/capability-statement.service';
import { useTestApp } from './support/test-app';

describe('GET /metadata', () => {
  const t = useTestApp();

  const metadata = () => request(t.app.getHttpServer()).get('/metadata').expect(200);

  it('answers an active instance CapabilityStatement for FHIR 4.0.1 in JSON', async () => {
    const res = await metadata();

    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      software: { name: packageJson.name, version: packageJson.version },
    });
    expect(res.body.format).toContain('json');
    expect(res.body.format).toContain('application/fhir+json');
    expect(res.body.implementation.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number.isNaN(Date.parse(res.body.date))).toBe(false);
  });

  it('lists every R4 resource type with the interactions the server implements', async () => {
    const res = await metadata();
    const rest = res.body.rest[0] as CapabilityRest;
    const types = rest.resource.map((r) => r.type);

    expect(rest.mode).toBe('server');
    expect(types).toEqual([...t.app.get(FhirDefinitions).resourceTypes]);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Observation', 'Group']));
    const patient = rest.resource.find((r) => r.type === 'Patient');
    expect(patient?.interaction.map((i) => i.code).sort()).toEqual(
      ['create', 'delete', 'history-instance', 'read', 'search-type', 'update', 'vread'].sort(),
    );
    expect(patient).toMatchObject({
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
    });
    expect(rest.interaction.map((i) => i.code).sort()).toEqual(['batch', 'transaction']);
  });

  it('includes what other modules contribute', async () => {
    t.app.get(CapabilityStatementService).register({
      contribute(statement, context) {
        statement.instantiates = [
          ...(statement.instantiates ?? []),
          'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data',
        ];
        serverRest(statement).operation.push({
          name: 'test-op',
          definition: `${context.baseUrl}/OperationDefinition/test-op`,
        });
        restResource(statement, 'Group').operation = [
          { name: 'test-group-op', definition: 'http://example.org/OperationDefinition/x' },
        ];
      },
    });

    const res = await metadata();

    expect(res.body.instantiates).toContain(
      'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data',
    );
    const rest = res.body.rest[0] as CapabilityRest;
    expect(rest.operation).toContainEqual({
      name: 'test-op',
      definition: `${res.body.implementation.url}/OperationDefinition/test-op`,
    });
    const group = rest.resource.find((r) => r.type === 'Group');
    expect(group?.operation?.[0].name).toBe('test-group-op');
    expect(group?.interaction.length).toBeGreaterThan(0);
  });
});
