'use strict';
// workerChild: does the work, as the seeds' children did: it computes, then
// assembles the whole response in memory and hands it to the socket in one
// write, leaving the kernel and Node's write queue to drain it.
//
//   node workerChild.js SOCKET
//
// GET /payload?size=N&cpu=D&wait=D: waits D (I/O), burns D of CPU, then
// answers N bytes with a Content-Length. Sizes take KiB/MiB/GiB, durations
// ms/s, as sluice's demo worker does.
const http = require('http');
const fs = require('fs');

const sock = process.argv[2];

function parseSize(s) {
  const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(s || '0');
  if (!m) return NaN;
  const unit = { undefined: 1, KiB: 1024, MiB: 1 << 20, GiB: 1 << 30 }[m[2]];
  return Number(m[1]) * unit;
}

function parseDuration(s) {
  if (!s) return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function burn(ms) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let x = 0;
  while (process.hrtime.bigint() < end) x += Math.sqrt(x + 1);
  return x;
}

// The body: a repeating pattern, so that building it costs memory, not CPU.
const pattern = Buffer.alloc(64 << 10);
for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 131 + 7) & 0xff;

function body(size) {
  const b = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += pattern.length) pattern.copy(b, off, 0, Math.min(pattern.length, size - off));
  return b;
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://child');
  if (u.pathname !== '/payload') {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  const size = parseSize(u.searchParams.get('size'));
  const cpu = parseDuration(u.searchParams.get('cpu'));
  const wait = parseDuration(u.searchParams.get('wait'));
  if (!(size >= 0) || !(cpu >= 0) || !(wait >= 0)) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('bad size, cpu or wait\n');
    return;
  }
  const answer = () => {
    burn(cpu);
    const b = body(size);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    res.end(b);
  };
  if (wait > 0) setTimeout(answer, wait);
  else answer();
});

try { fs.unlinkSync(sock); } catch (_) { /* not there */ }
server.keepAliveTimeout = 90 * 1000;
server.listen(sock, () => process.send && process.send('ready'));
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
