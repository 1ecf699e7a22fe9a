// The report as the browser holds it: the tree from a snapshot, indexed by UID, with every
// update folded in the way the server's report builder folds it (statuses, counts, entries,
// drivers), so a live view and a fresh snapshot agree.

import { combineStatus } from './util.js';

// The buckets of `Counts` in testrig-model: one per status, a strict xpass counts as failed.
export const COUNT_BUCKETS = ['passed', 'failed', 'error', 'crashed', 'skipped', 'xfail', 'xpass', 'incomplete', 'cancelled', 'unknown'];
const COUNT_KEYS = ['total', ...COUNT_BUCKETS];

// The counts bucket of a testcase status.
export function countBucket(status) {
  switch (status) {
    case 'failed':
    case 'xpass_strict':
      return 'failed';
    case 'passed':
    case 'xpass':
    case 'error':
    case 'skipped':
    case 'xfail':
    case 'incomplete':
    case 'cancelled':
    case 'crashed':
      return status;
    default:
      return 'unknown';
  }
}

export function emptyCounts() {
  const counts = { total: 0 };
  for (const bucket of COUNT_BUCKETS) counts[bucket] = 0;
  return counts;
}

// The most severe status among the testcases a counts object summarises.
function statusOfCounts(counts) {
  let status = null;
  for (const bucket of COUNT_BUCKETS) {
    if (counts[bucket] > 0) status = status === null ? bucket : combineStatus(status, bucket);
  }
  return status;
}

function normalizeNode(node) {
  node.children = node.children || [];
  node.entries = node.entries || [];
  node.tags = node.tags || [];
  node.parameters = node.parameters || [];
  node.drivers = node.drivers || [];
  node.timer = node.timer || {};
  node.counts = Object.assign(emptyCounts(), node.counts || {});
  node.status = node.status || 'unknown';
  node.runtime_status = node.runtime_status || 'ready';
  if (node.error === undefined) node.error = null;
  node.entryCount = node.entries.length;
  node.failedEntries = 0;
  node.entriesEpoch = 0;
}

// A node's entries are cleared (a rerun starts, results are reset).
function clearEntries(node) {
  // A testcase starting clears entries it does not have yet: no new array for those.
  if (node.entries.length > 0) node.entries = [];
  node.entryCount = 0;
  node.failedEntries = 0;
  node.entriesEpoch += 1;
}

export class ReportModel {
  constructor(report, seq) {
    this.report = report;
    this.plan = report.plan;
    this.seq = seq || 0;
    this.nodes = new Map();
    // UID → the parent's UID, and UID → the parent node itself (the fold walks up often).
    this.parents = new Map();
    this.parentNodes = new Map();
    // Children that are groups (not testcases), per group: statuses fold through counts
    // for testcases and explicitly for these, so a suite of 10,000 testcases is cheap.
    this.groupChildren = new Map();
    // Group UID → the group and its ancestors, nearest first: what an event below it
    // changes, walked without a lookup per level.
    this.chains = new Map();
    // Groups whose status is out of date (settle() brings them up to date): an event marks
    // the chain above it, and a burst of events recomputes each group once.
    this.staleGroups = new Set();
    this.testcaseCount = 0;
    this.running = new Set();
    this.tags = new Set();
    this.indexNode(this.plan, null);
  }

  indexNode(node, parent) {
    normalizeNode(node);
    this.nodes.set(node.uid, node);
    if (parent) {
      this.parents.set(node.uid, parent.uid);
      this.parentNodes.set(node.uid, parent);
    }
    for (const tag of node.tags) this.tags.add(tag);
    if (node.kind === 'testcase') {
      this.testcaseCount += 1;
      if (node.runtime_status === 'running') this.running.add(node.uid);
      return;
    }
    this.chains.set(node.uid, parent ? [node, ...this.chains.get(parent.uid)] : [node]);
    const groups = [];
    for (const child of node.children) {
      this.indexNode(child, node);
      if (child.kind !== 'testcase') groups.push(child);
    }
    this.groupChildren.set(node.uid, groups);
  }

  node(uid) {
    return this.nodes.get(uid);
  }

  parentOf(uid) {
    return this.parentNodes.get(uid);
  }

  // The node and its ancestors, nearest first.
  pathUp(uid) {
    const path = [];
    let current = uid;
    while (current !== undefined) {
      path.push(current);
      current = this.parents.get(current);
    }
    return path;
  }

  // Every testcase at or below a node, in tree order.
  testcasesUnder(uid) {
    const found = [];
    const walk = (node) => {
      if (node.kind === 'testcase') found.push(node);
      else for (const child of node.children) walk(child);
    };
    const start = this.nodes.get(uid);
    if (start) walk(start);
    return found;
  }

  // UIDs in pre-order: two reports with the same shape can be swapped without a rebuild.
  shapeKey() {
    const uids = [];
    const walk = (node) => {
      uids.push(node.uid);
      for (const child of node.children) walk(child);
    };
    walk(this.plan);
    return uids.join('\n');
  }

  // Folds one event; returns 'all' when every node may have changed, else nothing (each
  // node an event changes, and each of its ancestors, gets a new `hash`). The work is the
  // depth of the tree, never its size (but for the plan's end and a reset). Group statuses
  // follow at settle().
  apply(event) {
    const node = event.uid === undefined ? undefined : this.nodes.get(event.uid);
    switch (event.event) {
      case 'test_started':
      case 'suite_started':
        if (this.plan.timer.start === undefined || this.plan.timer.start === null) {
          this.plan.timer.start = event.time;
          this.plan.runtime_status = 'running';
        }
        if (node) {
          node.timer.start = event.time;
          delete node.timer.end;
          node.runtime_status = 'running';
          // A rerun starts clean: the previous run's hook entries and errors go.
          node.error = null;
          clearEntries(node);
        }
        break;
      case 'test_finished':
      case 'suite_finished':
        if (node) {
          node.timer.end = event.time;
          node.runtime_status = 'finished';
          if (event.error) node.error = event.error;
        }
        break;
      case 'testcase_started':
        this.testcaseStarted(node, event.uid, event.time);
        break;
      case 'entry_recorded':
        // A stream without entries (`entries=false`) says that one was recorded and whether
        // it failed; the node's entries are fetched when they are shown (adoptEntries).
        if (node && node.runtime_status !== 'finished') {
          node.entryCount += 1;
          if (event.entry) node.entries.push(event.entry);
          else if (event.passed === false) node.failedEntries += 1;
        }
        break;
      case 'testcase_finished':
        this.testcaseFinished(node, event.uid, event.time, event.status, event.error);
        break;
      case 'driver_status_changed':
        this.applyDriverStatus(event);
        break;
      case 'driver_connections':
        // Read just before the environment stops; kept until the next stop replaces it.
        if (node) node.connections = event.connections;
        break;
      case 'runtime_status':
        if (node) {
          node.runtime_status = event.runtime_status;
          if (node.kind === 'testcase') {
            if (event.runtime_status === 'running') this.running.add(node.uid);
            else this.running.delete(node.uid);
          }
        }
        break;
      case 'env_status':
        if (node) node.env_status = event.env_status;
        break;
      case 'plan_finished':
        if (this.plan.timer.start === undefined || this.plan.timer.start === null) this.plan.timer.start = event.time;
        this.plan.timer.end = event.time;
        this.plan.runtime_status = 'finished';
        this.report.interrupted = !!event.interrupted;
        this.closeUnfinished(this.plan, event.time);
        this.recomputeAll();
        return 'all';
      case 'reset':
        this.resetResults();
        return 'all';
      case 'reload':
        this.report.reload = event.reload;
        return undefined;
      default:
        // Unknown events (a newer server) change nothing we know how to show.
        break;
    }
    // The node's counts and statuses and its ancestors' follow.
    if (node) this.refold(node);
    return undefined;
  }

  // A testcase's record in the compact stream, `[seq, uid, start, end, status, entries,
  // failed, error]`: its `testcase_started` (a start that is not null), `entries`
  // `entry_recorded` of which `failed` failed, and its `testcase_finished` (an end that is
  // not null), folded as those updates in that order, with one refold.
  applyRecord(record) {
    const uid = record[1];
    const node = this.nodes.get(uid);
    const start = record[2];
    const end = record[3];
    if (!node) {
      // A testcase this model does not have: only its parametrization's timer could follow.
      if (start !== null) this.testcaseStarted(node, uid, start);
      if (end !== null) this.testcaseFinished(node, uid, end, record[4], record[7]);
      return;
    }
    // The common record — a testcase's whole run — folded in one pass: one parent lookup,
    // no detour through the running set for a testcase that started and ended.
    const parent = this.parentNodes.get(uid);
    const group = parent !== undefined && parent.kind === 'parametrization' ? parent : null;
    if (start !== null) {
      if (group !== null) {
        if (group.timer.start === undefined || group.timer.start === null) group.timer.start = start;
        group.runtime_status = 'running';
      }
      node.timer.start = start;
      delete node.timer.end;
      node.runtime_status = 'running';
      clearEntries(node);
      node.error = null;
      node.stale = null;
      if (end === null) this.running.add(uid);
    }
    if (record[5] > 0 && node.runtime_status !== 'finished') {
      node.entryCount += record[5];
      node.failedEntries += record[6];
    }
    if (end !== null) {
      if (group !== null) {
        group.timer.end = end;
        group.runtime_status = 'finished';
      }
      if (node.runtime_status !== 'finished') {
        node.timer.end = end;
        node.status = record[4];
        node.error = record[7] || null;
        node.runtime_status = 'finished';
      }
      if (this.running.size > 0) this.running.delete(uid);
    }
    this.refoldTestcase(node, parent);
  }

  testcaseStarted(node, uid, time) {
    const group = this.parametrizationOf(uid);
    if (group) {
      if (group.timer.start === undefined || group.timer.start === null) group.timer.start = time;
      group.runtime_status = 'running';
    }
    if (node) {
      node.timer.start = time;
      delete node.timer.end;
      node.runtime_status = 'running';
      // A rerun starts clean.
      clearEntries(node);
      node.error = null;
      node.stale = null;
      this.running.add(uid);
    }
  }

  testcaseFinished(node, uid, time, status, error) {
    const group = this.parametrizationOf(uid);
    if (group) {
      group.timer.end = time;
      group.runtime_status = 'finished';
    }
    if (node && node.runtime_status !== 'finished') {
      node.timer.end = time;
      node.status = status;
      node.error = error || null;
      node.runtime_status = 'finished';
    }
    if (node) this.running.delete(uid);
  }

  parametrizationOf(uid) {
    const parent = this.parentOf(uid);
    return parent && parent.kind === 'parametrization' ? parent : null;
  }

  applyDriverStatus(event) {
    const test = this.nodes.get(event.uid);
    if (!test) return;
    const driver = test.drivers.find((candidate) => candidate.name === event.driver);
    if (!driver) return;
    driver.start = driver.start || {};
    driver.stop = driver.stop || {};
    const stopping = driver.status === 'stopping';
    switch (event.status) {
      case 'starting':
        driver.start = { start: event.time };
        driver.stop = {};
        driver.error = null;
        driver.log_tail = [];
        break;
      case 'started':
        driver.start.end = event.time;
        break;
      case 'stopping':
        driver.stop.start = event.time;
        break;
      case 'stopped':
        driver.stop.end = event.time;
        break;
      case 'failed':
        if (stopping) driver.stop.end = event.time;
        else if (driver.start.end === undefined || driver.start.end === null) driver.start.end = event.time;
        break;
      default:
        break;
    }
    driver.status = event.status;
    if (event.attributes && Object.keys(event.attributes).length > 0) driver.attributes = event.attributes;
    if (event.error) {
      driver.error = event.error;
      driver.log_tail = event.log_tail || [];
    }
  }

  // Refolds counts from a node up to the plan after the node changed, and marks the groups
  // whose status may follow (settle() recomputes them). A testcase whose counts bucket stayed
  // (it started, it recorded an entry) changes no ancestor's counts or status.
  refold(node) {
    if (typeof node === 'string') node = this.nodes.get(node);
    if (!node) return;
    if (node.kind !== 'testcase') {
      node.hash = (node.hash || 0) + 1;
      const chain = this.chains.get(node.uid);
      for (let index = 1; index < chain.length; index += 1) chain[index].hash = (chain[index].hash || 0) + 1;
      this.markStale(chain);
      return;
    }
    this.refoldTestcase(node, this.parentNodes.get(node.uid));
  }

  // refold() of a testcase whose parent is known.
  refoldTestcase(node, parent) {
    node.hash = (node.hash || 0) + 1;
    const chain = parent ? this.chains.get(parent.uid) : [];
    for (let index = 0; index < chain.length; index += 1) chain[index].hash = (chain[index].hash || 0) + 1;
    const counts = node.counts;
    const after = countBucket(node.status);
    let before = null;
    for (let index = 0; index < COUNT_BUCKETS.length; index += 1) {
      if (counts[COUNT_BUCKETS[index]] > 0) {
        before = COUNT_BUCKETS[index];
        break;
      }
    }
    if (counts.total === 1 && before !== null && counts[before] === 1) {
      if (before === after) return;
      counts[before] = 0;
      counts[after] = 1;
      for (let index = 0; index < chain.length; index += 1) {
        const up = chain[index].counts;
        up[before] -= 1;
        up[after] += 1;
      }
    } else {
      // Counts not of one testcase (an older report): replaced whole.
      const fresh = emptyCounts();
      fresh.total = 1;
      fresh[after] = 1;
      node.counts = fresh;
      for (const up of chain) for (const key of COUNT_KEYS) up.counts[key] += fresh[key] - (counts[key] || 0);
    }
    this.markStale(chain);
  }

  // A chain (a group and its ancestors) whose statuses may have changed. Chains are marked
  // whole, so a marked group's ancestors are marked already.
  markStale(chain) {
    if (chain.length === 0 || this.staleGroups.has(chain[0])) return;
    for (const group of chain) this.staleGroups.add(group);
  }

  // Brings the status of every group marked stale up to date, deepest first (a group's
  // status reads its group children's). Cheap when nothing is marked.
  settle() {
    if (this.staleGroups.size === 0) return;
    const groups = [...this.staleGroups];
    this.staleGroups.clear();
    groups.sort((a, b) => this.chains.get(b.uid).length - this.chains.get(a.uid).length);
    for (const group of groups) group.status = this.groupStatus(group);
  }

  // A group's status from its counts, its group children, its own error and its own entries.
  groupStatus(node) {
    let status = node.error ? 'error' : 'skipped';
    const fromCounts = statusOfCounts(node.counts);
    if (fromCounts) status = combineStatus(status, fromCounts);
    for (const child of this.groupChildren.get(node.uid) || []) status = combineStatus(status, child.status);
    if (node.children.length === 0 && !node.error) status = 'unknown';
    if (node.failedEntries > 0 || node.entries.some((entry) => entry.passed === false)) status = combineStatus(status, 'failed');
    return status;
  }

  // Entries were recorded that the stream left out and no fetch has brought yet.
  entriesMissing(node) {
    return node.entryCount > node.entries.length;
  }

  // The entries of a node as `GET nodes/<uid>` gave them, fetched while its entries were
  // those of `epoch` (a rerun or a reset since makes them stale). Entries only grow during a
  // run, so a list shorter than the one held is older. Returns whether they were taken.
  adoptEntries(uid, entries, epoch) {
    const node = this.nodes.get(uid);
    if (!node || node.entriesEpoch !== epoch || !Array.isArray(entries) || entries.length < node.entries.length) return false;
    node.entries = entries;
    if (node.entryCount < entries.length) node.entryCount = entries.length;
    node.hash = (node.hash || 0) + 1;
    return true;
  }

  recomputeAll() {
    this.running.clear();
    this.staleGroups.clear();
    const walk = (node) => {
      if (node.kind === 'testcase') {
        node.counts = emptyCounts();
        node.counts.total = 1;
        node.counts[countBucket(node.status)] = 1;
        if (node.runtime_status === 'running') this.running.add(node.uid);
        return;
      }
      const counts = emptyCounts();
      for (const child of node.children) {
        walk(child);
        for (const key of COUNT_KEYS) counts[key] += child.counts[key];
      }
      node.counts = counts;
      node.status = this.groupStatus(node);
    };
    walk(this.plan);
  }

  // What the plan's end does to nodes still waiting or running (the builder's close_unfinished).
  closeUnfinished(node, time) {
    if (node.runtime_status === 'running' || node.runtime_status === 'waiting') {
      if (node.timer.end === undefined || node.timer.end === null) node.timer.end = time;
      node.runtime_status = 'finished';
      if (node.kind === 'testcase') {
        node.status = 'incomplete';
        if (!node.error) node.error = { message: 'interrupted while running' };
      }
    } else if (node.runtime_status === 'ready') {
      node.runtime_status = 'not_run';
    }
    for (const child of node.children) this.closeUnfinished(child, time);
  }

  // Every result cleared; drivers keep their state (environments stay up).
  resetResults() {
    const walk = (node) => {
      node.status = 'unknown';
      node.runtime_status = 'ready';
      node.timer = {};
      node.error = null;
      clearEntries(node);
      node.stale = null;
      node.hash = (node.hash || 0) + 1;
      for (const child of node.children) walk(child);
    };
    walk(this.plan);
    this.report.interrupted = false;
    this.recomputeAll();
  }
}

