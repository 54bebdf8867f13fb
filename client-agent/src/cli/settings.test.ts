import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextPollDelayMs, parseSettings } from './settings.js';

const valid = {
  serverUrl: 'http://127.0.0.1:8080',
  hardwareId: 'ecu-gateway-rev-c',
  metadataDir: 'metadata',
  stateDir: 'state',
  slotsDir: '/var/lib/slots',
  trustedRootPath: 'root.json',
  chain: {
    rpcUrls: ['http://127.0.0.1:8545'],
    contractAddress: '0x' + '12'.repeat(20),
    chainId: 31337,
  },
  firmwareKey: { publicKeyPath: 'firmware.pem', keyId: 'ab'.repeat(32) },
  vehicle: { pkcs12Path: 'vehicle.p12', caCertificatePath: 'ca.pem' },
};

describe('parseSettings', () => {
  describe('when the file is valid', () => {
    it('fills defaults and resolves relative paths against the file', () => {
      const s = parseSettings(valid, {}, '/etc/tufchain');
      expect(s.metadataDir).toBe('/etc/tufchain/metadata');
      expect(s.slotsDir).toBe('/var/lib/slots');
      expect(s.chain).toMatchObject({ quorum: 1, confirmations: 3 });
      expect(s.vehicle).toEqual({
        pkcs12Path: '/etc/tufchain/vehicle.p12',
        caCertificatePath: '/etc/tufchain/ca.pem',
      });
      expect(s.pollIntervalSeconds).toBe(3600);
    });
  });

  describe('when the transparency log is pinned', () => {
    it('keeps its keys and origin for the proof checks', () => {
      const logKeys = ['tufchain.example/log+1a2b3c4d+AQID'];
      const s = parseSettings(
        { ...valid, transparencyLog: { logKeys, origin: 'tufchain.example/log' } },
        {},
        '/x',
      );
      expect(s.transparencyLog).toEqual({ logKeys, origin: 'tufchain.example/log' });
    });
  });

  describe('when the vehicle is an Uptane primary', () => {
    const director = {
      trustedRootPath: 'director-1.root.json',
      metadataDir: 'director-metadata',
      logKeys: ['tufchain.example/log+1a2b3c4d+AQID'],
    };
    const secondary = {
      ecuSerial: 'BRK-0042',
      hardwareId: 'brake-b7',
      kind: 'partial',
      address: 'unix:/run/tufchain/brk.sock',
      publicKeyPath: 'brk.pub.pem',
    };

    it('keeps the director section and the secondaries, with paths resolved', () => {
      const s = parseSettings({ ...valid, director, secondaries: [secondary] }, {}, '/etc/t');
      expect(s.director).toEqual({
        ...director,
        trustedRootPath: '/etc/t/director-1.root.json',
        metadataDir: '/etc/t/director-metadata',
      });
      expect(s.secondaries).toEqual([{ ...secondary, publicKeyPath: '/etc/t/brk.pub.pem' }]);
    });

    it.each([
      { desc: 'a secondary of an unknown kind', secondaries: [{ ...secondary, kind: 'half' }] },
      {
        desc: 'a secondary address that is neither tcp: nor unix:',
        secondaries: [{ ...secondary, address: 'can0:0x7e0' }],
      },
      {
        desc: 'a secondary without a public key',
        secondaries: [{ ...secondary, publicKeyPath: undefined }],
      },
    ])('refuses $desc with CONFIG_INVALID', ({ secondaries }) => {
      expect(() => parseSettings({ ...valid, director, secondaries }, {}, '/x')).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    });

    it('has no secondaries and no director section by default (the single-ECU agent)', () => {
      const s = parseSettings(valid, {}, '/x');
      expect(s.director).toBeUndefined();
      expect(s.secondaries).toEqual([]);
    });
  });

  describe('when the file tunes the agent', () => {
    it('takes numbers and switches', () => {
      const s = parseSettings(
        { ...valid, agent: { fetchTimeoutMs: 5000, sha512Worker: false, slotDirectIo: false } },
        {},
        '/x',
      );
      expect(s.config).toEqual({ fetchTimeoutMs: 5000, sha512Worker: false, slotDirectIo: false });
    });
  });

  describe('when environment variables are set', () => {
    it('lets them override the server, RPC URLs, hardware ID and interval', () => {
      const s = parseSettings(
        valid,
        {
          TUFCHAIN_SERVER_URL: 'https://ota.example',
          TUFCHAIN_RPC_URLS: 'http://a:8545, http://b:8545',
          TUFCHAIN_HARDWARE_ID: 'other',
          TUFCHAIN_POLL_INTERVAL_SECONDS: '60',
        },
        '/x',
      );
      expect(s).toMatchObject({
        serverUrl: 'https://ota.example',
        hardwareId: 'other',
        pollIntervalSeconds: 60,
        chain: { rpcUrls: ['http://a:8545', 'http://b:8545'] },
      });
    });
  });

  describe('when the file is invalid', () => {
    const table: { desc: string; tamper: (s: Record<string, unknown>) => void }[] = [
      { desc: 'no server URL', tamper: (s) => delete s['serverUrl'] },
      {
        desc: 'a bad contract address',
        tamper: (s) => (s['chain'] = { ...valid.chain, contractAddress: '0x12' }),
      },
      {
        desc: 'a key id that is not hex',
        tamper: (s) => (s['firmwareKey'] = { publicKeyPath: 'k', keyId: 'zz' }),
      },
      { desc: 'an unknown agent tuning key', tamper: (s) => (s['agent'] = { fetchTimeoutMsx: 1 }) },
      {
        desc: 'a negative agent tuning value',
        tamper: (s) => (s['agent'] = { fetchTimeoutMs: -1 }),
      },
      {
        desc: 'a switch given as a string',
        tamper: (s) => (s['agent'] = { sha512Worker: 'false' }),
      },
      {
        desc: 'a number given as a switch',
        tamper: (s) => (s['agent'] = { fetchTimeoutMs: true }),
      },
      {
        desc: 'a transparency log with no pinned key',
        tamper: (s) => (s['transparencyLog'] = { logKeys: [] }),
      },
    ];
    for (const { desc, tamper } of table) {
      it(`throws CONFIG_INVALID for ${desc}`, () => {
        const raw = structuredClone(valid) as Record<string, unknown>;
        tamper(raw);
        expect(() => parseSettings(raw, {}, '/x')).toThrow(
          expect.objectContaining({ code: 'CONFIG_INVALID' }),
        );
      });
    }
  });
});

describe('nextPollDelayMs', () => {
  it('stays within the interval plus or minus its jitter share', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (interval, jitter, r) => {
          const ms = nextPollDelayMs(interval, jitter, () => r);
          const lo = Math.max(1000, (interval - interval * jitter) * 1000);
          const hi = Math.max(1000, (interval + interval * jitter) * 1000);
          return ms >= Math.floor(lo) && ms <= Math.ceil(hi);
        },
      ),
    );
  });
});
