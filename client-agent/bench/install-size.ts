/**
 * The agent's production install, measured: `npm pack` of the workspaces the vehicle needs
 * (client-agent, transparency, keys, contracts), then `npm install --omit=dev --ignore-scripts`
 * of the client-agent tarball into an empty directory (`--prefer-offline`: tarballs come from the
 * npm cache, version lists from the registry, as the cache holds no packuments after `npm ci`;
 * TUFCHAIN_BENCH_INSTALL_OFFLINE=1 passes `--offline` for a cache that has them). The size is the sum of the file
 * sizes under node_modules (apparent size, so it does not depend on the file system's block
 * size), without the Node runtime (the `node` package). The install must then load the agent
 * (`import('@tufchain/client-agent')`) and `bin/tufchain-agent --help` must run from it, so a
 * runtime dependency that was wrongly left in devDependencies fails the measurement instead of
 * shrinking it.
 *
 * Run alone with `npm run bench:agent-install` (it writes `agentInstallMiB` into
 * bench/results/agent.json and keeps the rest); `npm run bench:agent` runs it too.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const MiB = 1024 * 1024;

/** The workspaces a vehicle installs: the agent and what it depends on at run time. */
const AGENT_WORKSPACES = ['keys', 'contracts', 'transparency', 'client-agent'] as const;
/** Dev-chain tooling that must never reach a vehicle. */
const DEV_ONLY = ['@foundry-rs/anvil', 'solc', 'testcontainers', 'tsx', 'typescript', 'vitest'];

export interface AgentInstallSize {
  agentInstallMiB: number;
  packages: number;
  /** Top-level packages of node_modules by size, nested node_modules counted in their parent. */
  largest: { name: string; MiB: number }[];
}

export async function measureAgentInstall(
  opts: { offline?: boolean } = {},
): Promise<AgentInstallSize> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-install-'));
  try {
    const tarballs = join(dir, 'tarballs');
    await mkdir(tarballs);
    const packed: Record<string, string> = {};
    for (const ws of AGENT_WORKSPACES) {
      const { stdout } = await run(
        'npm',
        ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs],
        { cwd: join(repoRoot, ws), maxBuffer: 16 * MiB },
      );
      const [info] = JSON.parse(stdout) as {
        name: string;
        filename: string;
        files: { path: string }[];
      }[];
      if (!info) throw new Error(`npm pack of ${ws} printed nothing`);
      if (!info.files.some((f) => f.path === 'dist/index.js')) {
        throw new Error(`${info.name} packed without dist/index.js: run \`npm run build\` first`);
      }
      packed[info.name] = `file:${join(tarballs, info.filename)}`;
    }
    const app = join(dir, 'vehicle');
    await mkdir(app);
    const agent = packed['@tufchain/client-agent'];
    if (!agent) throw new Error('client-agent was not packed');
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'vehicle',
        private: true,
        type: 'module',
        dependencies: { '@tufchain/client-agent': agent },
        // The packed manifests name their sibling workspaces by version; point those at the tarballs.
        overrides: Object.fromEntries(
          Object.entries(packed).filter(([name]) => name !== '@tufchain/client-agent'),
        ),
      }),
    );
    await run(
      'npm',
      [
        'install',
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        opts.offline ? '--offline' : '--prefer-offline',
      ],
      { cwd: app, maxBuffer: 16 * MiB },
    );
    const nodeModules = join(app, 'node_modules');
    for (const name of DEV_ONLY) {
      if (await exists(join(nodeModules, name))) {
        throw new Error(`the agent's production install contains ${name}, a dev-only package`);
      }
    }
    await run(
      process.execPath,
      ['--input-type=module', '-e', "await import('@tufchain/client-agent');"],
      { cwd: app },
    );
    // The bin runs dist/ only when it finds every dist/.tsbuildinfo; otherwise it wants tsx.
    // `--help` prints the usage and exits 2.
    const help = await run(join(nodeModules, '.bin', 'tufchain-agent'), ['--help'], {
      cwd: app,
    }).catch((err: { stdout?: string; stderr?: string }) => err);
    if (!help.stdout?.startsWith('usage: tufchain-agent')) {
      throw new Error(`bin/tufchain-agent does not run from the install: ${help.stderr ?? ''}`);
    }
    const sizes = await packageSizes(nodeModules);
    sizes.delete('node'); // the Node runtime, which the vehicle image provides
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    return {
      agentInstallMiB: round(total / MiB),
      packages: sizes.size,
      largest: [...sizes.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10)
        .map(([name, bytes]) => ({ name, MiB: round(bytes / MiB) })),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function packageSizes(nodeModules: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const entry of await readdir(nodeModules, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .bin links, .package-lock.json
    const path = join(nodeModules, entry.name);
    if (entry.name.startsWith('@')) {
      for (const scoped of await readdir(path)) {
        sizes.set(`${entry.name}/${scoped}`, await treeSize(join(path, scoped)));
      }
    } else {
      sizes.set(entry.name, await treeSize(path));
    }
  }
  return sizes;
}

async function treeSize(path: string): Promise<number> {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of await readdir(path)) total += await treeSize(join(path, name));
  return total;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function round(n: number): number {
  return Number(n.toFixed(1));
}

export function formatAgentInstall(size: AgentInstallSize): string {
  const lines = [
    `| agent production install (node_modules, without Node) | ${size.agentInstallMiB.toFixed(1)} MiB, ${size.packages.toString()} packages |`,
    '|---|---:|',
    ...size.largest.map((p) => `| ${p.name} | ${p.MiB.toFixed(1)} MiB |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const size = await measureAgentInstall({
    offline: process.env['TUFCHAIN_BENCH_INSTALL_OFFLINE'] === '1',
  });
  console.log(formatAgentInstall(size));
  const out = join(repoRoot, 'bench', 'results', 'agent.json');
  const previous = await readFile(out, 'utf8').then(
    (text) => JSON.parse(text) as Record<string, unknown>,
    () => ({}),
  );
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify({ ...previous, agentInstallMiB: size.agentInstallMiB, agentInstall: size }, null, 2)}\n`,
  );
  console.log(`\nwrote agentInstallMiB to ${out}`);
}
