'use strict';
// workerParent: the seeds' design. It forks N workerChild processes, each
// serving HTTP on a Unix socket, and forwards every client request to the
// next one in turn, streaming the answer back with res.pipe. It respawns a
// child that dies, at once, as the original did.
//
//   node workerParent.js DIR N
//
// prints "tcp 127.0.0.1:PORT" on stdout once every child listens.
const http = require('http');
const path = require('path');
const { fork } = require('child_process');

const dir = process.argv[2];
const n = Number(process.argv[3] || 2);
if (!dir || !(n >= 1)) {
  console.error('usage: node workerParent.js DIR N');
  process.exit(2);
}

const socks = [];
const children = [];
let ready = 0;
let stopping = false;

function spawn(i) {
  const child = fork(path.join(__dirname, 'workerChild.js'), [socks[i]], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children[i] = child;
  child.on('message', (m) => {
    if (m === 'ready' && ++ready === n) listen();
  });
  child.on('exit', (code, sig) => {
    if (stopping) return;
    console.error(`workerChild ${i} exited (${code === null ? sig : code}); respawning`);
    spawn(i);
  });
}

for (let i = 0; i < n; i++) {
  socks.push(path.join(dir, `child${i}.sock`));
  spawn(i);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let next = 0;

const server = http.createServer((req, res) => {
  const socketPath = socks[next++ % n];
  const up = http.request({ socketPath, path: req.url, method: req.method, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
    // A child that dies mid-response must not look like a complete one.
    ur.on('aborted', () => res.destroy());
  });
  up.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(502, { 'Content-Type': 'text/plain' });
    res.end(`workerChild failed: ${err.message}\n`);
  });
  req.pipe(up);
});

function listen() {
  if (server.listening) return;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`tcp 127.0.0.1:${server.address().port}\n`);
  });
}

function stop() {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  server.close();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
