// A helper thread of the portable GEMM: the same kernel module on the same shared memory, taking pieces
// of the caller's products from the job block (Atomics). See ./slot.ts for the layout and protocol.
//
// The thread runs this source with `eval: true` rather than a module file: under tsx on Node 20 a worker
// does not get the TypeScript loader, and one source string serves src/ (tests) and dist/ alike.
import { pieceArgs, SLOT } from './slot.js';

export const WORKER_SOURCE = `'use strict';
const { workerData } = require('node:worker_threads');
const SLOT = ${JSON.stringify(SLOT)};
${pieceArgs.toString()}
const { module, memory, control } = workerData;
const s = new Int32Array(control);
const f = new Float32Array(control);
const kernel = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('gemm kernel aborted'); } } }).exports;
// Spinning a little before sleeping catches the next product of a sequence without a futex wake-up
// (tens of microseconds); bounded, because the core is shared with the caller's other work.
const SPIN_MS = 0.05;
let seen = Atomics.load(s, SLOT.seq);
Atomics.add(s, SLOT.ready, 1);
for (;;) {
  const t0 = performance.now();
  while (Atomics.load(s, SLOT.seq) === seen && performance.now() - t0 < SPIN_MS);
  Atomics.wait(s, SLOT.seq, seen);
  seen = Atomics.load(s, SLOT.seq);
  const tag = seen & 0xffff;
  for (;;) {
    const v = Atomics.load(s, SLOT.claim);
    if (v >>> 16 !== tag || (v & 0xffff) >= s[SLOT.chunks]) break;
    if (Atomics.compareExchange(s, SLOT.claim, v, v + 1) !== v) continue;
    // claimed: the job cannot finish (nor its parameters change) before this piece is done
    try {
      kernel.gemm(...pieceArgs(s, f, v & 0xffff));
    } catch (err) {
      process.stderr.write('sqlrl: portable GEMM helper thread: ' + (err && err.message) + '\\n');
      Atomics.store(s, SLOT.failed, 1);
    }
    Atomics.add(s, SLOT.helped, 1);
    if (Atomics.add(s, SLOT.done, 1) + 1 === s[SLOT.chunks]) Atomics.notify(s, SLOT.done);
  }
}
`;
