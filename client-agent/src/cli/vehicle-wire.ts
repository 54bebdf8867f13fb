import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { computeKeyId, toTufPublicKey } from '@tufchain/keys/vehicle';
import type { ChainReader } from '@tufchain/transparency/chain';
import { tufPublicKeySchema, type UptanePublicKey } from '@tufchain/transparency/wire';
import { AgentError } from '../error.js';
import type { VehicleUpdateOptions } from '../uptane/primary.js';
import { SocketTransport } from '../uptane/transport.js';
import type { AgentSettings } from './settings.js';
import { buildUpdateOptions } from './wire.js';

/**
 * runVehicleUpdate options from settings that have a `director` section: the single-ECU options
 * (vehicle key, chain, firmware key, slots) plus the pinned Director root, the log keys and each
 * secondary's pinned key and link.
 */
export async function buildVehicleUpdateOptions(
  settings: AgentSettings,
  passphrase: string | undefined,
): Promise<VehicleUpdateOptions & { chain: ChainReader }> {
  const d = settings.director;
  if (!d) throw new AgentError('CONFIG_INVALID', 'no director section in the settings');
  const base = await buildUpdateOptions(settings, passphrase);
  try {
    const directorRoot = await readFile(d.trustedRootPath).catch((err: unknown) => {
      throw new AgentError('TRUSTED_ROOT_INVALID', `cannot read ${d.trustedRootPath}`, {
        cause: err,
      });
    });
    const secondaries = await Promise.all(
      settings.secondaries.map(async (s) => {
        let publicKey: UptanePublicKey;
        try {
          publicKey = tufPublicKeySchema.parse(
            toTufPublicKey(createPublicKey(await readFile(s.publicKeyPath, 'utf8'))),
          );
        } catch (err) {
          throw new AgentError(
            'CONFIG_INVALID',
            `secondary ${s.ecuSerial}: cannot read its public key ${s.publicKeyPath}`,
            { cause: err },
          );
        }
        return {
          ecuSerial: s.ecuSerial,
          hardwareId: s.hardwareId,
          verification: s.kind,
          key: { keyId: computeKeyId(publicKey), publicKey },
          transport: new SocketTransport(s.address),
        };
      }),
    );
    return {
      serverUrl: base.serverUrl,
      ...(d.url ? { directorUrl: d.url } : {}),
      image: { metadataDir: base.metadataDir, trustedRootJson: base.trustedRootJson },
      director: { metadataDir: d.metadataDir, trustedRootJson: directorRoot },
      chain: base.chain,
      firmwareKey: base.firmwareKey,
      vehicle: base.vehicle,
      primary: { ecuSerial: base.ecuSerial, hardwareId: base.hardwareId, slots: base.slots },
      secondaries,
      transparencyLog: { logKeys: d.logKeys, ...(d.logOrigin ? { origin: d.logOrigin } : {}) },
      stateDir: settings.stateDir,
      chainId: settings.chain.chainId,
      ...(base.odometerKm !== undefined ? { odometerKm: base.odometerKm } : {}),
      config: base.config ?? {},
    };
  } catch (err) {
    base.chain.destroy();
    throw err;
  }
}
