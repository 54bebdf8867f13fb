import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { createFileSigner } from '@tufchain/keys/vehicle';
import { AgentError } from '../error.js';
import { FileSlotStore } from '../slots/ab-slots.js';
import { Secondary } from './secondary.js';
import { formatAddress, listenSecondary, parseAddress } from './transport.js';

/** `tufchain-agent secondary --config FILE`: the settings of one secondary ECU process. */
export const secondarySettingsSchema = z
  .object({
    ecuSerial: z.string().min(1),
    hardwareId: z.string().min(1),
    verification: z.enum(['full', 'partial']),
    /** Encrypted PKCS#8 key file; passphrase from $TUFCHAIN_SECONDARY_PASSPHRASE. */
    keyFile: z.string(),
    slotsDir: z.string(),
    stateDir: z.string(),
    /** `tcp:127.0.0.1:PORT` (0: any free port) or `unix:PATH`. */
    listen: z.string(),
    /** The pinned Director root (1.root.json). */
    directorRoot: z.string(),
    /** Health check: unhealthy while this file exists (a stand-in for the ECU's own check). */
    unhealthyFlagFile: z.string().optional(),
    maxBootAttempts: z.number().int().positive().optional(),
    /**
     * The slot read-back's sha512 on a worker thread (Config.sha512Worker). Off by default: a
     * worker's start-up (~0.25-0.3 s of CPU on the interpreter-only JS) costs more than the
     * sha512 of an ECU-sized image it would take off this thread (bench:agent, vehicle).
     */
    sha512Worker: z.boolean().optional(),
    full: z
      .object({
        imageRoot: z.string(),
        rpcUrls: z.array(z.string()).min(1),
        quorum: z.number().int().positive().optional(),
        contractAddress: z.string(),
        chainId: z.number().int().nonnegative(),
        confirmations: z.number().int().nonnegative(),
        fromBlock: z.number().int().nonnegative().optional(),
        vehicleCommitment: z.string(),
        logKeys: z.array(z.string()).min(1),
        logOrigin: z.string().optional(),
      })
      .optional(),
  })
  .strict();

/** Runs a secondary until the process is stopped; prints `listening ADDRESS` once it listens. */
export async function runSecondary(configPath: string, env: NodeJS.ProcessEnv): Promise<never> {
  const parsed = secondarySettingsSchema.safeParse(
    JSON.parse(await readFile(configPath, 'utf8')) as unknown,
  );
  if (!parsed.success) throw new AgentError('CONFIG_INVALID', z.prettifyError(parsed.error));
  const s = parsed.data;
  const passphrase = env['TUFCHAIN_SECONDARY_PASSPHRASE'];
  if (!passphrase) throw new AgentError('CONFIG_INVALID', 'no $TUFCHAIN_SECONDARY_PASSPHRASE');
  const signer = await createFileSigner(s.keyFile, passphrase);
  let full;
  if (s.full) {
    const { ChainReader } = await import('@tufchain/transparency/chain');
    full = {
      imageRootJson: await readFile(s.full.imageRoot),
      chain: new ChainReader({
        rpcUrls: s.full.rpcUrls,
        quorum: s.full.quorum ?? 1,
        contractAddress: s.full.contractAddress,
        confirmations: s.full.confirmations,
        chainId: s.full.chainId,
        ...(s.full.fromBlock !== undefined ? { fromBlock: s.full.fromBlock } : {}),
      }),
      vehicleCommitment: s.full.vehicleCommitment,
      log: {
        logKeys: s.full.logKeys,
        ...(s.full.logOrigin !== undefined ? { origin: s.full.logOrigin } : {}),
      },
    };
  }
  const { access } = await import('node:fs/promises');
  const flag = s.unhealthyFlagFile;
  const secondary = new Secondary({
    ecuSerial: s.ecuSerial,
    hardwareId: s.hardwareId,
    verification: s.verification,
    signer,
    slots: new FileSlotStore(s.slotsDir),
    stateDir: s.stateDir,
    directorRootJson: await readFile(s.directorRoot),
    ...(full ? { full } : {}),
    healthCheck: async () =>
      flag
        ? !(await access(flag).then(
            () => true,
            () => false,
          ))
        : true,
    config: { maxBootAttempts: s.maxBootAttempts ?? 3, sha512Worker: s.sha512Worker ?? false },
  });
  const at = parseAddress(s.listen);
  // A Unix socket left by a killed process: this ECU is the only one that listens there.
  if ('path' in at) await (await import('node:fs/promises')).rm(at.path, { force: true });
  const { address } = await listenSecondary(at, () => secondary.session());
  // Stopped by its supervisor: exit (what it holds is durable; a slot mid-write is never switched).
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write(`listening ${formatAddress(address)}\n`);
  return new Promise<never>(() => undefined);
}
