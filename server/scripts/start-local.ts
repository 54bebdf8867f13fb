/**
 * `npm start`: a persistent local tufchain on embedded defaults, for a first look and for
 * development. In a data dir (TUFCHAIN_HOME, default `.tufchain/` at the repository root) it
 * creates, on the first run only: a dev chain (anvil, its state kept in the data dir) with the
 * TufchainLog contract; every key, encrypted under a generated passphrase; an offline-style root;
 * the server's config file; and one vehicle's agent settings. Every run then starts the chain and
 * `tufchain serve --config <data dir>/tufchain.json` (the daemon from dist/ after `npm run build`,
 * which `npm start` runs first), and prints where things are and what to try next. Ctrl-C stops
 * both; the chain's state is saved. Delete the data dir to start over.
 *
 * Dev only: the root keys sit in the data dir beside the online keys (a real OEM signs its root
 * in a key ceremony: `tufchain keys` / `tufchain repo init`), and the chain accounts are anvil's
 * public dev accounts.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployTufchainLog, findFreePort, startAnvil } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createPkcs12Bundle,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  importSecp256k1PrivateKey,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import { Metadata } from '@tufjs/models';
import { JsonRpcProvider, Wallet } from 'ethers';
import { buildRoot, expiryAfter, serializeMetadata, signMetadata } from '../src/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tufchainBin = join(repoRoot, 'server', 'bin', 'tufchain');
const home = resolve(process.env.TUFCHAIN_HOME ?? join(repoRoot, '.tufchain'));
const HARDWARE_ID = 'dev-ecu';
const CHAIN_ID = 31337;

interface Local {
  rpcPort: number;
  serverPort: number;
  contractAddress: string;
  deployBlock: number;
}

const at = (...p: string[]) => join(home, ...p);
const show = (p: string) => {
  const r = relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

async function secret(path: string, bytes: number): Promise<string> {
  const value = randomBytes(bytes).toString('base64url');
  await writeFile(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return value;
}

/** Everything the first run makes; `local.json` is written last, so a failed run starts over. */
async function create(): Promise<Local> {
  await mkdir(at('keys'), { recursive: true, mode: 0o700 });
  await mkdir(at('offline'), { recursive: true, mode: 0o700 });
  await mkdir(at('vehicle'), { recursive: true, mode: 0o700 });
  const passphrase = existsSync(at('passphrase'))
    ? (await readFile(at('passphrase'), 'utf8')).trim()
    : await secret(at('passphrase'), 24);
  const rpcPort = await findFreePort();
  const chain = await startAnvil({
    port: rpcPort,
    chainId: CHAIN_ID,
    blockTimeSeconds: 1,
    stateFile: at('chain', 'anvil-state.json'),
  });
  try {
    const [admin, publisher, operator] = chain.accounts;
    const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1 });
    const deployer = new Wallet(admin!.privateKey, provider);
    const deployment = await deployTufchainLog(deployer, {
      admin: admin!.address,
      publishers: [publisher!.address],
      logOperators: [operator!.address],
    });
    provider.destroy();
    for (const [name, account] of [
      ['publisher', publisher],
      ['operator', operator],
    ] as const) {
      const key = importSecp256k1PrivateKey(Buffer.from(account!.privateKey.slice(2), 'hex'));
      await writeEncryptedKeyFile(at('keys', `${name}.key`), key, passphrase);
    }
    const keyFile = async (path: string): Promise<Signer> => {
      const { privateKey } = generateKeyPair('ed25519');
      await writeEncryptedKeyFile(path, privateKey, passphrase);
      return createKeySigner(privateKey);
    };
    const online = {
      targets: await keyFile(at('keys', 'targets.key')),
      snapshot: await keyFile(at('keys', 'snapshot.key')),
      timestamp: await keyFile(at('keys', 'timestamp.key')),
    };
    const rootKeys = [await keyFile(at('offline', 'root-1.key'))];
    const root = new Metadata(
      buildRoot({
        version: 1,
        expires: expiryAfter(new Date(), 365 * 86400),
        roles: {
          root: { keys: rootKeys, threshold: 1 },
          targets: { keys: [online.targets], threshold: 1 },
          snapshot: { keys: [online.snapshot], threshold: 1 },
          timestamp: { keys: [online.timestamp], threshold: 1 },
        },
      }),
    );
    await signMetadata(root, rootKeys);
    await writeFile(at('1.root.json'), serializeMetadata(root));
    const build = await keyFile(at('keys', 'build.key'));
    await writeFile(at('keys', 'build.pem'), build.publicKeyPem());
    const { privateKey: noteKey } = generateKeyPair('ed25519');
    await writeEncryptedKeyFile(at('keys', 'log-note.key'), noteKey, passphrase);
    const ca = await createVehicleCa({ commonName: 'tufchain local vehicle CA' });
    await writeFile(at('keys', 'vehicle-ca.pem'), ca.certificatePem);
    await writeEncryptedKeyFile(at('keys', 'vehicle-ca.key'), ca.privateKey, passphrase);

    const serverPort = await findFreePort();
    await writeFile(
      at('tufchain.json'),
      `${JSON.stringify(
        {
          dataDir: 'data',
          port: serverPort,
          logLevel: 'warn',
          adminTokenFile: 'admin.token',
          chain: {
            rpcUrl: chain.rpcUrl,
            contractAddress: deployment.address,
            chainId: CHAIN_ID,
            confirmations: 1,
            publisherKeyFile: 'keys/publisher.key',
            fromBlock: deployment.blockNumber,
          },
          keys: {
            passphraseFile: 'passphrase',
            root: '1.root.json',
            targets: ['keys/targets.key'],
            snapshot: ['keys/snapshot.key'],
            timestamp: ['keys/timestamp.key'],
            firmwarePublicKey: 'keys/build.pem',
          },
          vehicles: { caCertificate: 'keys/vehicle-ca.pem', caKey: 'keys/vehicle-ca.key' },
          log: {
            noteKeyFile: 'keys/log-note.key',
            origin: 'tufchain.local/log',
            operatorKeyFile: 'keys/operator.key',
          },
        },
        null,
        2,
      )}\n`,
    );

    // One vehicle, as a factory line would provision it.
    const identity = await createVehicleIdentity(ca, {
      // A made-up VIN (17 characters, no I, O or Q); only its salted commitment leaves the car.
      vin: `TCLCL${randomBytes(6).toString('hex').toUpperCase()}`,
      ecuSerial: 'DEV-0001',
    });
    await writeFile(
      at('vehicle', 'vehicle.p12'),
      createPkcs12Bundle(identity, ca.certificatePem, passphrase),
    );
    await writeFile(at('vehicle', 'root.json'), serializeMetadata(root));
    await writeFile(at('vehicle', 'build.pem'), build.publicKeyPem());
    await writeFile(at('vehicle', 'vehicle-ca.pem'), ca.certificatePem);
    await writeFile(at('vehicle', 'factory.img'), `factory image of ${HARDWARE_ID}\n`);
    await writeFile(
      at('vehicle', 'agent.json'),
      `${JSON.stringify(
        {
          serverUrl: `http://127.0.0.1:${serverPort}`,
          hardwareId: HARDWARE_ID,
          metadataDir: 'metadata',
          stateDir: 'state',
          slotsDir: 'slots',
          trustedRootPath: 'root.json',
          chain: {
            rpcUrls: [chain.rpcUrl],
            contractAddress: deployment.address,
            confirmations: 1,
            chainId: CHAIN_ID,
            fromBlock: deployment.blockNumber,
          },
          firmwareKey: { publicKeyPath: 'build.pem', keyId: build.keyId },
          vehicle: { pkcs12Path: 'vehicle.p12', caCertificatePath: 'vehicle-ca.pem' },
        },
        null,
        2,
      )}\n`,
    );
    const local: Local = {
      rpcPort,
      serverPort,
      contractAddress: deployment.address,
      deployBlock: deployment.blockNumber,
    };
    await writeFile(at('local.json'), `${JSON.stringify(local, null, 2)}\n`);
    return local;
  } finally {
    await chain.stop();
  }
}

async function main(): Promise<void> {
  const first = !existsSync(at('local.json'));
  const local = first
    ? await create()
    : (JSON.parse(await readFile(at('local.json'), 'utf8')) as Local);
  const chain = await startAnvil({
    port: local.rpcPort,
    chainId: CHAIN_ID,
    blockTimeSeconds: 1,
    stateFile: at('chain', 'anvil-state.json'),
  });
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1 });
  const code = await provider.getCode(local.contractAddress);
  provider.destroy();
  if (code === '0x') {
    await chain.stop();
    throw new Error(
      `the dev chain lost its state (no contract at ${local.contractAddress}): delete ${show(home)} and run npm start again`,
    );
  }
  const server = spawn(tufchainBin, ['serve', '--config', at('tufchain.json')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const serverExited = new Promise<number | null>((r) => server.once('exit', r));
  const stop = async (): Promise<void> => {
    server.kill('SIGTERM');
    await serverExited;
    await chain.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  const url = `http://127.0.0.1:${local.serverPort}`;
  for (const deadline = Date.now() + 60_000; ;) {
    if (server.exitCode !== null) {
      await chain.stop();
      throw new Error(`the server exited with code ${server.exitCode}`);
    }
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('the server did not become ready within 60 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const v = (p: string) => show(at('vehicle', p));
  console.log(`
tufchain is running (${first ? 'created' : 'reused'} ${show(home)}; Ctrl-C stops it, the chain's state is kept)

  server     ${url}   (console: ${url}/console, API: ${url}/api/v1/openapi.json)
  chain      ${chain.rpcUrl}   anvil, chain ${CHAIN_ID}, TufchainLog at ${local.contractAddress}
  data       ${show(home)}   keys encrypted under ${show(at('passphrase'))}; admin token in ${show(at('admin.token'))}

Next, in another terminal at the repository root:

  export TUFCHAIN_SERVER=${url}
  export TUFCHAIN_TOKEN=$(cat ${show(at('admin.token'))}) TUFCHAIN_KEY_PASSPHRASE=$(cat ${show(at('passphrase'))})
  # publish a firmware: sign its attestation with the build key, stream it, log it on chain
  head -c 1048576 /dev/urandom > firmware-1.0.0.img
  npx tufchain targets add firmware-1.0.0.img --hardware-id ${HARDWARE_ID} --version 1.0.0 --release-counter 1 --build-key ${show(at('keys', 'build.key'))}
  npx tufchain publish release.json
  npx tufchain status

  # a vehicle (its settings: ${v('agent.json')}): provision its factory image once, then update
  export TUFCHAIN_VEHICLE_PASSPHRASE=$TUFCHAIN_KEY_PASSPHRASE
  npx tufchain-agent provision --config ${v('agent.json')} --image ${v('factory.img')} --name ${HARDWARE_ID}-0.img --version 0.0.1 --release-counter 0
  npx tufchain-agent run-once --config ${v('agent.json')}
`);
}

main().catch((error: unknown) => {
  console.error(`npm start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
