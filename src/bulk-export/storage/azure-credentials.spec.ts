import { AccessToken, DefaultAzureCredential, TokenCredential } from '@azure/identity';
import { BlobServiceClient, UserDelegationKey } from '@azure/storage-blob';
import { ConfigError, loadConfig } from '../../config/app-config';
import { AzureBlobSink } from './azure-blob.sink';
import { azureAccountOf } from './export-sink.provider';

const AZURITE =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
  'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
  'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;';
const ACCOUNT_URL = 'https://fhirexports.blob.core.windows.net';

/** Stands in for Entra ID: no test may reach a real identity endpoint. */
const noToken: TokenCredential = {
  getToken: (): Promise<AccessToken | null> => Promise.reject(new Error('no network in tests')),
};

const location = { container: 'research', prefix: '20261202T120000-abc/' };

describe('Azure storage credentials', () => {
  describe('azureAccountOf', () => {
    it('uses the connection string when one is configured', () => {
      expect(azureAccountOf({ AZURE_STORAGE_CONNECTION_STRING: AZURITE })).toEqual({
        connectionString: AZURITE,
      });
    });

    it('reaches an account URL with DefaultAzureCredential', () => {
      const account = azureAccountOf({ AZURE_STORAGE_ACCOUNT_URL: ACCOUNT_URL });
      expect(account).toMatchObject({ accountUrl: ACCOUNT_URL });
      expect((account as { credential: unknown }).credential).toBeInstanceOf(
        DefaultAzureCredential,
      );
    });

    it('says which settings are missing when there is neither', () => {
      expect(() => azureAccountOf({})).toThrow(
        /AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL/,
      );
    });
  });

  describe('configuration', () => {
    it('lets api and worker processes share an account by URL alone', () => {
      const config = loadConfig({ ROLE: 'worker', AZURE_STORAGE_ACCOUNT_URL: ACCOUNT_URL });
      expect(config.AZURE_STORAGE_ACCOUNT_URL).toBe(ACCOUNT_URL);
    });

    it('refuses both a connection string and an account URL', () => {
      expect(() =>
        loadConfig({
          AZURE_STORAGE_CONNECTION_STRING: AZURITE,
          AZURE_STORAGE_ACCOUNT_URL: ACCOUNT_URL,
        }),
      ).toThrow(ConfigError);
    });
  });

  describe('SAS links', () => {
    it('signs with the account key when the connection string has one', async () => {
      const sink = new AzureBlobSink({ account: { connectionString: AZURITE } });
      const url = new URL(await sink.sasUrl(location, 'Patient-1.ndjson', 900));
      expect(url.pathname).toBe('/devstoreaccount1/research/20261202T120000-abc/Patient-1.ndjson');
      expect(url.searchParams.get('sp')).toBe('r');
      expect(url.searchParams.get('skoid')).toBeNull();
      expect(url.searchParams.get('sig')).toEqual(expect.any(String));
    });

    it('signs with a user delegation key under Entra ID, fetched once for many links', async () => {
      const sink = new AzureBlobSink({
        account: { accountUrl: ACCOUNT_URL, credential: noToken },
      });
      const now = Date.now();
      const key: UserDelegationKey = {
        signedObjectId: '11111111-2222-3333-4444-555555555555',
        signedTenantId: '66666666-7777-8888-9999-000000000000',
        signedStartsOn: new Date(now - 60_000),
        signedExpiresOn: new Date(now + 2 * 60 * 60_000),
        signedService: 'b',
        signedVersion: '2025-01-05',
        value: Buffer.from('a user delegation key of 32 bytes').toString('base64'),
      };
      // The storage service's answer is the one thing replaced: there is no account to ask.
      const service = (sink as unknown as { service: BlobServiceClient }).service;
      const fetchKey = jest.spyOn(service, 'getUserDelegationKey').mockResolvedValue({
        ...key,
        _response: {} as never,
      });

      const first = new URL(await sink.sasUrl(location, 'Patient-1.ndjson', 900));
      const second = new URL(await sink.sasUrl(location, 'Observation-1.ndjson', 900));

      expect(first.origin + first.pathname).toBe(
        `${ACCOUNT_URL}/research/20261202T120000-abc/Patient-1.ndjson`,
      );
      expect(Object.fromEntries(first.searchParams)).toMatchObject({
        sp: 'r',
        skoid: key.signedObjectId,
        sktid: key.signedTenantId,
        sr: 'b',
        sig: expect.any(String),
      });
      const expires = Date.parse(first.searchParams.get('se') ?? '');
      expect(expires - now).toBeGreaterThan(14 * 60_000);
      expect(expires - now).toBeLessThanOrEqual(15 * 60_000 + 1000);
      expect(second.pathname).toMatch(/Observation-1\.ndjson$/);
      expect(fetchKey).toHaveBeenCalledTimes(1);
    });
  });
});
