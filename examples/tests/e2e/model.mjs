// The browser's report model (web/state.js) without a browser: a testcase's compact record
// must fold exactly as its three updates do (testcase_started, entry_recorded,
// testcase_finished), whatever the record holds, on top of whatever state the node was in.
// Run: node examples/tests/e2e/model.mjs — prints `model: N checks passed` or fails.

import assert from 'node:assert/strict';
import { ReportModel } from '../../../web/state.js';

function report() {
  const testcase = (uid) => ({ uid, name: uid.split('/').pop(), kind: 'testcase', status: 'unknown', runtime_status: 'ready', counts: { total: 1, unknown: 1 } });
  return {
    plan: {
      uid: 'plan', name: 'plan', kind: 'plan', children: [{
        uid: 'T', name: 'T', kind: 'test', children: [{
          uid: 'T/S', name: 'S', kind: 'suite', children: [
            testcase('T/S/plain'),
            { uid: 'T/S/p', name: 'p', kind: 'parametrization', children: [testcase('T/S/p/p_1'), testcase('T/S/p/p_2')] },
          ],
        }],
      }],
    },
  };
}

// What a reader of the model can see, for a comparison.
function view(model) {
  model.settle();
  const nodes = {};
  for (const [uid, node] of model.nodes) {
    nodes[uid] = {
      status: node.status, runtime: node.runtime_status, counts: node.counts, timer: node.timer,
      error: node.error, entries: node.entryCount, failed: node.failedEntries,
    };
  }
  return { nodes, running: [...model.running].sort() };
}

// The updates a record stands for: `[seq, uid, start, end, status, entries, failed, error]`.
function updatesOf(record) {
  const [, uid, start, end, status, entries, failed, error] = record;
  const events = [];
  if (start !== null) events.push({ event: 'testcase_started', uid, time: start });
  for (let index = 0; index < entries; index += 1) events.push({ event: 'entry_recorded', uid, passed: index >= entries - failed ? false : true });
  if (end !== null) events.push({ event: 'testcase_finished', uid, time: end, status, error });
  return events;
}

const records = [
  [1, 'T/S/plain', 10.5, 10.75, 'passed', 2, 0, null],
  [2, 'T/S/p/p_1', 11, null, null, 1, 1, null],
  [3, 'T/S/p/p_1', null, 12, 'failed', 0, 0, null],
  [4, 'T/S/p/p_2', 12.5, 13, 'error', 0, 0, { message: 'boom' }],
  [5, 'T/S/plain', 14, null, null, 0, 0, null],
  [6, 'T/S/plain', null, 15, 'xfail', 1, 1, null],
  [7, 'T/S/gone', 16, 17, 'passed', 0, 0, null],
  [8, 'T/S/p/p_2', 18, 19, 'passed', 0, 0, null],
];

let checks = 0;
// Every prefix of the sequence: the state after each record must agree.
for (let length = 1; length <= records.length; length += 1) {
  const byRecord = new ReportModel(report(), 0);
  const byUpdate = new ReportModel(report(), 0);
  for (const record of records.slice(0, length)) {
    byRecord.applyRecord(record);
    for (const event of updatesOf(record)) byUpdate.apply(event);
  }
  assert.deepEqual(view(byRecord), view(byUpdate), `after ${length} records`);
  checks += 1;
}
// Hashes change on the node and every ancestor, as with updates.
const model = new ReportModel(report(), 0);
model.applyRecord(records[0]);
for (const uid of ['T/S/plain', 'T/S', 'T', 'plan']) {
  assert.ok(model.node(uid).hash > 0, `${uid} has a new hash`);
  checks += 1;
}
assert.equal(model.node('T/S/p').hash || 0, 0, 'a sibling group keeps its hash');
checks += 1;
console.log(`model: ${checks} checks passed`);
