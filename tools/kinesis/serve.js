#!/usr/bin/env node
// Loopback-only launcher for kinesalite, used by Strand's Go tests
// (internal/testenv/kinesisemu) and handy by hand.
//
// kinesalite's own CLI listens on all interfaces; this wrapper binds
// 127.0.0.1 only.
//
// Usage: node serve.js [port] [leveldb-dir]
//   port         TCP port on 127.0.0.1; 0 or omitted picks a free one.
//   leveldb-dir  directory for LevelDB persistence; omitted means in memory.
//
// Environment:
//   CREATE_MS          CREATING/DELETING/UPDATING time of streams in ms (default 0).
//   SHARD_LIMIT        shard limit per account (default 100).
//   INITIALIZE_STREAMS "name:shards,name:shards" streams to create at start-up
//                      (default 4 shards; existing streams are left alone).
//   AWS_ACCOUNT_ID, AWS_REGION  used by kinesalite itself in ARNs and errors.
//
// Once the server accepts requests and the streams exist, it prints exactly
// one line "Listening at http://127.0.0.1:PORT" on standard output.
'use strict';

const http = require('http');
const kinesalite = require('kinesalite');

const port = Number(process.argv[2] || 0);
const ms = Number(process.env.CREATE_MS || 0);
const opts = {
  createStreamMs: ms,
  deleteStreamMs: ms,
  updateStreamMs: ms,
  shardLimit: Number(process.env.SHARD_LIMIT || 100),
};
if (process.argv[3]) opts.path = process.argv[3];

function call(target, body) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1',
      port: server.address().port,
      method: 'POST',
      path: '/',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'Kinesis_20131202.' + target,
        // kinesalite requires a well-formed header but never checks the signature.
        'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/kinesis/aws4_request, ' +
          'SignedHeaders=host, Signature=00',
        'X-Amz-Date': '20200101T000000Z',
        'Content-Length': Buffer.byteLength(data),
      },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', (err) => { console.error('serve.js: %s: %s', target, err.message); resolve(0); });
    req.end(data);
  });
}

const server = kinesalite(opts);

// kinesalite throws from a request's 'error' handler, so a client that hangs
// up in the middle of a request (a cancelled context, a stopped server under
// test) would crash the emulator. Real Kinesis shrugs that off: log instead.
const [handler] = server.listeners('request');
server.removeAllListeners('request');
server.on('request', (req, res) => {
  const on = req.on;
  req.on = function (event, fn) {
    if (event !== 'error') return on.call(this, event, fn);
    return on.call(this, event, (err) => console.error('serve.js: request aborted: %s', err.message));
  };
  try {
    handler(req, res);
  } finally {
    req.on = on;
  }
});
const benign = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);
process.on('uncaughtException', (err) => {
  if (!benign.has(err && err.code)) throw err;
  console.error('serve.js: ignored %s: %s', err.code, err.message);
});

server.on('error', (err) => {
  console.error('serve.js: %s', err.message);
  process.exit(1);
});

server.listen(port, '127.0.0.1', async () => {
  const specs = (process.env.INITIALIZE_STREAMS || '').split(',').filter(Boolean);
  for (const spec of specs) {
    const [name, shards] = spec.split(':');
    await call('CreateStream', { StreamName: name, ShardCount: Number(shards || 4) });
  }
  if (specs.length > 0) await new Promise((r) => setTimeout(r, ms + 20));
  console.log('Listening at http://127.0.0.1:%d', server.address().port);
});

function shutdown() {
  // kinesalite's close() closes LevelDB first, then the HTTP server.
  setTimeout(() => process.exit(0), 1000).unref();
  server.close(() => process.exit(0));
  setTimeout(() => { if (server.closeAllConnections) server.closeAllConnections(); }, 100).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
