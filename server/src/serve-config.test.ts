import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadServeConfig } from './serve-config.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'serve-config-'));
  await mkdir(join(dir, 'keys'));
  for (const f of ['publisher.key', 'snapshot.key', 'timestamp.key', 'firmware.pem', 'ca.pem'])
    await writeFile(join(dir, 'keys', f), 'x');
  await writeFile(join(dir, 'passphrase'), 'secret\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const valid = () => ({
  dataDir: 'data',
  port: 9000,
  chain: {
    rpcUrl: 'http://127.0.0.1:8545',
    contractAddress: `0x${'ab'.repeat(20)}`,
    publisherKeyFile: 'keys/publisher.key',
  },
  keys: {
    passphraseFile: 'passphrase',
    snapshot: ['keys/snapshot.key'],
    timestamp: ['keys/timestamp.key'],
    firmwarePublicKey: 'keys/firmware.pem',
  },
  vehicles: { caCertificate: 'keys/ca.pem' },
});

async function write(config: unknown): Promise<string> {
  const path = join(dir, 'tufchain.json');
  await writeFile(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

describe('loadServeConfig', () => {
  it("turns the file into the daemon's variables, paths relative to the file", async () => {
    const env = loadServeConfig(await write(valid()), {});
    expect(env).toEqual({
      TUFCHAIN_DATA_DIR: join(dir, 'data'),
      TUFCHAIN_PORT: '9000',
      TUFCHAIN_RPC_URL: 'http://127.0.0.1:8545',
      TUFCHAIN_CONTRACT_ADDRESS: `0x${'ab'.repeat(20)}`,
      TUFCHAIN_PUBLISHER_KEY_FILE: join(dir, 'keys/publisher.key'),
      TUFCHAIN_KEY_PASSPHRASE_FILE: join(dir, 'passphrase'),
      TUFCHAIN_SNAPSHOT_KEY_FILES: join(dir, 'keys/snapshot.key'),
      TUFCHAIN_TIMESTAMP_KEY_FILES: join(dir, 'keys/timestamp.key'),
      TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE: join(dir, 'keys/firmware.pem'),
      TUFCHAIN_VEHICLE_CA_FILE: join(dir, 'keys/ca.pem'),
    });
  });

  it('lets a variable that is set win over the file, and takes the passphrase from the environment only', async () => {
    const config = valid();
    delete (config.keys as { passphraseFile?: string }).passphraseFile;
    const env = loadServeConfig(await write(config), {
      TUFCHAIN_PORT: '9443',
      DATABASE_URL: 'postgres://db/tufchain',
      TUFCHAIN_KEY_PASSPHRASE: 'from the secret store',
      TUFCHAIN_RPC_URL: '',
      HOME: '/root',
    });
    expect(env).toMatchObject({
      TUFCHAIN_PORT: '9443',
      DATABASE_URL: 'postgres://db/tufchain',
      TUFCHAIN_KEY_PASSPHRASE: 'from the secret store',
      TUFCHAIN_RPC_URL: 'http://127.0.0.1:8545',
    });
    expect(env).not.toHaveProperty('HOME');
  });

  it('passes monitor.serverReleases on as TUFCHAIN_MONITOR_SERVER_RELEASES (true or false)', async () => {
    await writeFile(join(dir, 'expectations.json'), '{}');
    const config = {
      ...valid(),
      monitor: { expectations: 'expectations.json', serverReleases: false },
    };
    expect(loadServeConfig(await write(config), {})).toMatchObject({
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(dir, 'expectations.json'),
      TUFCHAIN_MONITOR_SERVER_RELEASES: 'false',
    });
  });

  it.each([
    ['not JSON', '{ "dataDir": ', /is not JSON/],
    [
      'a monitor.serverReleases that is not a boolean',
      { ...valid(), monitor: { serverReleases: 'no' } },
      /monitor\.serverReleases \(TUFCHAIN_MONITOR_SERVER_RELEASES\)/,
    ],
    ['an unknown setting', { ...valid(), prot: 80 }, /\(top level\): Unrecognized key: "prot"/],
    [
      'a passphrase in the file',
      { ...valid(), keys: { ...valid().keys, passphrase: 'secret' } },
      /keys: Unrecognized key: "passphrase"/,
    ],
    [
      'an RPC URL that is not http(s) or ws(s)',
      { ...valid(), chain: { ...valid().chain, rpcUrl: 'ftp://chain' } },
      /chain\.rpcUrl \(TUFCHAIN_RPC_URL\)/,
    ],
    ['a port out of range', { ...valid(), port: 70000 }, /port \(TUFCHAIN_PORT\)/],
    [
      'a bad contract address',
      { ...valid(), chain: { ...valid().chain, contractAddress: '0x12' } },
      /chain\.contractAddress \(TUFCHAIN_CONTRACT_ADDRESS\): an address/,
    ],
    [
      'a missing publisher key setting',
      { ...valid(), chain: { ...valid().chain, publisherKeyFile: undefined } },
      /chain\.publisherKeyFile \(TUFCHAIN_PUBLISHER_KEY_FILE\): is required/,
    ],
    [
      'a key file that does not exist',
      { ...valid(), keys: { ...valid().keys, snapshot: ['keys/nope.key'] } },
      /keys\.snapshot \(TUFCHAIN_SNAPSHOT_KEY_FILES\): no such file .*nope\.key/,
    ],
    [
      'no passphrase anywhere',
      { ...valid(), keys: { ...valid().keys, passphraseFile: undefined } },
      /keys\.passphraseFile \(TUFCHAIN_KEY_PASSPHRASE_FILE\): is required/,
    ],
  ])('refuses %s with CONFIG_INVALID naming it', async (_what, config, message) => {
    const path = await write(config);
    let thrown: unknown;
    try {
      loadServeConfig(path, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((thrown as Error).message).toMatch(message);
  });

  it('refuses a config file that cannot be read', () => {
    expect(() => loadServeConfig(join(dir, 'absent.json'), {})).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
