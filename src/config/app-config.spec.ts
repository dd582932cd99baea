import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('applies defaults when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(8080);
    expect(config.ROLE).toBe('all');
    expect(config.EXPORT_FILE_MAX_MB).toBe(64);
    expect(config.DATABASE_URL).toMatch(/^postgres:\/\//);
  });

  it('converts numbers and trims a trailing slash from PUBLIC_BASE_URL', () => {
    const config = loadConfig({
      PORT: '9000',
      EXPORT_FILE_MAX_MB: '0.5',
      PUBLIC_BASE_URL: 'https://fhir.example.org/r4/',
    });
    expect(config.PORT).toBe(9000);
    expect(config.EXPORT_FILE_MAX_MB).toBe(0.5);
    expect(config.PUBLIC_BASE_URL).toBe('https://fhir.example.org/r4');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://localhost/fhir'],
    ['REDIS_URL', 'localhost:6379'],
    ['ROLE', 'scheduler'],
    ['LOG_LEVEL', 'verbose'],
    ['EXPORT_FILE_MAX_MB', '0'],
    ['EXPORT_STORAGE', 's3'],
    ['AZURE_STORAGE_CONNECTION_STRING', 'not a connection string'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}=`));
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', ROLE: 'y' })).toThrow(/PORT=[\s\S]*ROLE=/);
  });

  it('refuses SAS links without Azure storage', () => {
    expect(() => loadConfig({ EXPORT_STORAGE: 'filesystem', EXPORT_FILE_URLS: 'sas' })).toThrow(
      /EXPORT_FILE_URLS/,
    );
  });

  it('requires a storage account when api and worker run as separate processes', () => {
    expect(() => loadConfig({ ROLE: 'worker' })).toThrow(/AZURE_STORAGE_CONNECTION_STRING/);
    expect(loadConfig({ ROLE: 'worker', EXPORT_STORAGE: 'filesystem' }).ROLE).toBe('worker');
    expect(loadConfig({ ROLE: 'all' }).ROLE).toBe('all');
  });
});
