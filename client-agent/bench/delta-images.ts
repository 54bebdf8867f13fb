/**
 * The image pairs of bench:delta, built from what is on this machine, deterministically (same
 * inputs, same bytes): a tar "root file system" of shared libraries from /usr/lib plus an
 * application tree of npm packages from the repository's node_modules, in two releases.
 */
import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const LIB_DIR = '/usr/lib/x86_64-linux-gnu';
/**
 * The shared libraries both releases ship unchanged: regular files of LIB_DIR in name order up to
 * TUFCHAIN_BENCH_DELTA_LIBS_MIB (default 96), so that the images have the size of a real root
 * file system partition and fixed costs of an install do not dominate its time.
 */
async function systemLibs(): Promise<string[]> {
  const budget = Number(process.env['TUFCHAIN_BENCH_DELTA_LIBS_MIB'] ?? '96') * 1024 * 1024;
  const picked: string[] = [];
  let total = 0;
  for (const name of (await readdir(LIB_DIR)).sort()) {
    if (!/\.so(\.|$)/.test(name)) continue;
    const info = await lstat(join(LIB_DIR, name));
    if (!info.isFile() || total + info.size > budget) continue;
    picked.push(join(LIB_DIR, name));
    total += info.size;
  }
  return picked;
}

/** npm packages the repository holds in two releases: [path in the image, v1 dir, v2 dir]. */
const PACKAGES: [string, string, string][] = [
  ['@types/node', 'ethers/node_modules/@types/node', '@types/node'],
  ['glob', 'glob', 'cacache/node_modules/glob'],
  ['lru-cache', 'lru-cache', 'cacache/node_modules/lru-cache'],
  ['minimatch', 'glob/node_modules/minimatch', '@tufjs/models/node_modules/minimatch'],
  ['path-scurry', 'path-scurry', 'cacache/node_modules/path-scurry'],
  ['readable-stream', 'bl/node_modules/readable-stream', 'readable-stream'],
  ['semver', 'solc/node_modules/semver', 'semver'],
  ['tslib', 'ethers/node_modules/tslib', 'tslib'],
  ['tar-stream', 'dockerode/node_modules/tar-stream', 'tar-stream'],
];

export interface ImagePair {
  name: string;
  what: string;
  base: Buffer;
  target: Buffer;
}

/** GNU tar with fixed order, times and owners, so that equal trees give equal images. */
async function tarTree(dir: string, out: string): Promise<Buffer> {
  await run('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--format=gnu',
    '-cf',
    out,
    '-C',
    dir,
    '.',
  ]);
  return readFile(out);
}

async function rootfs(work: string, release: 1 | 2, nodeModules: string): Promise<Buffer> {
  const root = join(work, `rootfs-v${release}`);
  const lib = join(root, 'usr', 'lib');
  await mkdir(lib, { recursive: true });
  for (const path of await systemLibs()) {
    await cp(path, join(lib, path.split('/').pop() as string));
  }
  for (const [name, v1, v2] of PACKAGES) {
    await cp(join(nodeModules, release === 1 ? v1 : v2), join(root, 'opt', 'app', name), {
      recursive: true,
    });
  }
  await writeFile(join(root, 'etc-release'), `release ${release}\n`);
  return tarTree(root, join(work, `rootfs-v${release}.tar`));
}

/** A deterministic pseudo-random sequence (xorshift32). */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function scatter(image: Buffer, edits: number, seed: number): Buffer {
  const out = Buffer.from(image);
  const random = prng(seed);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(random() * (out.length - 64));
    const n = 1 + Math.floor(random() * 32);
    for (let i = 0; i < n; i++) out[at + i] = Math.floor(random() * 256);
  }
  return out;
}

function insert(image: Buffer, seed: number): Buffer {
  const random = prng(seed);
  const parts: Buffer[] = [];
  let from = 0;
  // 512 KiB near the front (a new library), then three 4 KiB records further on.
  const cuts: [number, number][] = [
    [Math.floor(image.length * 0.05), 512 * 1024],
    [Math.floor(image.length * 0.3), 4096],
    [Math.floor(image.length * 0.55), 4096],
    [Math.floor(image.length * 0.8), 4096],
  ];
  for (const [at, n] of cuts) {
    parts.push(image.subarray(from, at));
    parts.push(Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256))));
    from = at;
  }
  parts.push(image.subarray(from));
  return Buffer.concat(parts);
}

export async function buildImagePairs(work: string, nodeModules: string): Promise<ImagePair[]> {
  const v1 = await rootfs(work, 1, nodeModules);
  const v2 = await rootfs(work, 2, nodeModules);
  const packages = PACKAGES.map(([name]) => name).join(', ');
  return [
    {
      name: 'npm-upgrade',
      what: `tar rootfs: ${LIB_DIR} shared libraries (unchanged) + ${PACKAGES.length} npm packages each upgraded to a newer release (${packages})`,
      base: v1,
      target: v2,
    },
    {
      name: 'scattered',
      what: 'the v1 rootfs with 300 random overwrites of 1-32 bytes spread over the image',
      base: v1,
      target: scatter(v1, 300, 7),
    },
    {
      name: 'inserted',
      what: 'the v1 rootfs with 512 KiB inserted at 5% and 4 KiB at 30/55/80%: everything after shifts',
      base: v1,
      target: insert(v1, 11),
    },
  ];
}
