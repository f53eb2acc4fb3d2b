// A helper thread of the portable GEMM: the same kernel module on the same shared memory, waiting on
// its job slot (Atomics) for a part of C to compute. See ./slot.ts for the slot layout and protocol.
//
// The thread runs this source with `eval: true` rather than a module file: under tsx on Node 20 a worker
// does not get the TypeScript loader, and one source string serves src/ (tests) and dist/ alike.
import { SLOT } from './slot.js';

export const WORKER_SOURCE = `'use strict';
const { workerData } = require('node:worker_threads');
const SLOT = ${JSON.stringify(SLOT)};
const { module, memory, control, index } = workerData;
const slot = new Int32Array(control, index * SLOT.ints * 4, SLOT.ints);
const floats = new Float32Array(control, index * SLOT.ints * 4, SLOT.ints);
const kernel = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('gemm kernel aborted'); } } }).exports;
// Spinning a little before sleeping catches the next product of a sequence without a futex wake-up
// (tens of microseconds); bounded, because the core is shared with the caller's other work.
const SPIN_MS = 0.03;
let seen = 0;
Atomics.store(slot, SLOT.ready, 1);
Atomics.notify(slot, SLOT.ready);
for (;;) {
  const t0 = performance.now();
  while (Atomics.load(slot, SLOT.seq) === seen && performance.now() - t0 < SPIN_MS);
  Atomics.wait(slot, SLOT.seq, seen);
  seen = Atomics.load(slot, SLOT.seq);
  let done = seen;
  try {
    kernel.gemm(slot[SLOT.transA], slot[SLOT.transB], slot[SLOT.m], slot[SLOT.n], slot[SLOT.k], floats[SLOT.alpha], slot[SLOT.a], slot[SLOT.lda], slot[SLOT.b], slot[SLOT.ldb], floats[SLOT.beta], slot[SLOT.c], slot[SLOT.ldc]);
  } catch (err) {
    process.stderr.write('sqlrl: portable GEMM helper thread: ' + (err && err.message) + '\\n');
    done = -seen; // the caller throws instead of waiting forever
  }
  Atomics.store(slot, SLOT.done, done);
  Atomics.notify(slot, SLOT.done);
}
`;
