// The bench's image server, in a process of its own. The fixture's TUF repository runs inside the
// bench process (tsx, anvil client, fixture: a large heap), and serving a large image from there
// made that process's garbage collector compete for the two cores with whatever downloaded it.
// Here the image is served with the same code path as the fixture's (createReadStream, 256 KiB
// reads, `Range: bytes=N-`), and every other request (metadata, hints, reports) is passed through
// to the fixture. Both the floor and the agent download from this server. Plain JavaScript so that
// it starts without tsx.
//
// argv: upstream origin, then one or more pairs: URL path of an image, file path of that image.
// Prints its URL.
import { createReadStream, statSync } from 'node:fs';
import { createServer, request } from 'node:http';
import console from 'node:console';
import process from 'node:process';
import { URL } from 'node:url';

const [upstream, ...pairs] = process.argv.slice(2);
if (!upstream || pairs.length === 0 || pairs.length % 2 !== 0) {
  console.error('usage: image-server.mjs UPSTREAM_ORIGIN IMAGE_URL_PATH IMAGE_FILE [...]');
  process.exit(2);
}
const images = new Map();
for (let i = 0; i < pairs.length; i += 2) {
  images.set(pairs[i], { file: pairs[i + 1], length: statSync(pairs[i + 1]).size });
}
const origin = new URL(upstream);

const server = createServer((req, res) => {
  const image = images.get((req.url ?? '').split('?')[0]);
  if (image && req.method === 'GET') {
    const { file: imageFile, length } = image;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, {
      'content-length': length - start,
      ...(range ? { 'content-range': `bytes ${start}-${length - 1}/${length}` } : {}),
    });
    createReadStream(imageFile, { start, highWaterMark: 256 * 1024 }).pipe(res);
    return;
  }
  const upstreamReq = request(
    {
      hostname: origin.hostname,
      port: origin.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: origin.host },
    },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  upstreamReq.on('error', () => res.writeHead(502).end());
  req.pipe(upstreamReq);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
