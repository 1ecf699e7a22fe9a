// The navigation tree: tests → suites → (parametrizations) → testcases.
//
// Virtualised: the rows a reader could see (inside open groups, not filtered out) are a flat
// list in tree order, `shown`, and only those in or near the viewport exist as elements,
// each placed at its index in a spacer as tall as the whole list. So expanding 10,000
// testcases builds a list of UIDs, not 10,000 rows. Rows are built when they scroll into
// view, kept in a UID → row map while they stay there, and repainted only when their node
// changed. The tab stop row is always built (even off screen), so keyboard focus survives
// scrolling. One set of delegated listeners serves every row.
//
// Keyboard (the WAI-ARIA tree pattern, roving tabindex): exactly one row is in the tab order,
// so Tab enters and leaves the tree in one step; ↑/↓ move between shown rows, → opens a group
// or moves to its first child, ← closes it or moves to the parent, Home/End go to the first
// and last row. Moving selects the row (its details open) and scrolls it into view; Enter
// runs it, Space ticks it for "Run selected". Rows carry aria-level, aria-posinset and
// aria-setsize, since their siblings are not all in the document.

import { h, clearElement, displayStatus, displayLabel, passedLabel } from './util.js';

// More testcases than this and suites start collapsed.
const COLLAPSE_ABOVE = 200;
// A filter matching at most this many testcases opens the groups that hold them.
const FILTER_EXPAND_LIMIT = 500;
// Rows built beyond each edge of the viewport, so a scroll shows built rows at once.
const OVERSCAN_ROWS = 12;
// The row height when the stylesheet's `--row-h` cannot be read.
const DEFAULT_ROW_HEIGHT = 26;

export class TreeView {
  // callbacks: { onSelect(uid), onRun(uid), onEnv(uid, wanted), onCheckedChange() }
  constructor(root, callbacks, staticMode) {
    this.root = root;
    this.callbacks = callbacks;
    this.staticMode = staticMode;
    this.model = null;
    // UID → built row: { uid, node, row, checkbox, counts, drivers, envToggle, depth, index, signature, state }.
    this.rows = new Map();
    this.expanded = new Set();
    this.filterExpanded = new Set();
    this.visible = null;
    this.selected = null;
    this.checked = new Set();
    // Group UID → [ticked testcases below, testcases below] (see refreshChecks).
    this.groupChecks = new Map();
    // The shown rows in tree order, and per row its depth, aria-posinset and aria-setsize.
    this.shown = [];
    this.depths = [];
    this.positions = [];
    this.sizes = [];
    this.indexOf = new Map();
    this.tabStop = null;
    // Geometry, read from the layout only where it is up to date anyway (a scroll event, a
    // resize observation), so a render never forces a layout: the row height, the tree's
    // height, its scroll position and where the spacer starts (its padding).
    this.rowHeight = 0;
    this.viewportHeight = 0;
    this.scrollTop = 0;
    this.spacerTop = null;
    this.spacerBottom = 0;
    this.spacer = h('div', { class: 'tree-rows', role: 'none' });
    root.appendChild(this.spacer);
    root.addEventListener('click', (event) => this.onClick(event));
    root.addEventListener('change', (event) => this.onChange(event));
    root.addEventListener('keydown', (event) => this.onKey(event));
    root.addEventListener('scroll', () => {
      this.scrollTop = root.scrollTop;
      this.render();
    }, { passive: true });
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => {
        this.viewportHeight = root.clientHeight;
        this.scrollTop = root.scrollTop;
        this.render();
      }).observe(root);
    }
  }

  // A new report (first snapshot, or one of another shape): rebuilds every row.
  setModel(model) {
    const first = this.model === null;
    this.model = model;
    if (first) this.defaultExpansion();
    for (const uid of [...this.checked]) if (!model.node(uid)) this.checked.delete(uid);
    for (const entry of this.rows.values()) entry.row.remove();
    this.rows.clear();
    for (const empty of this.root.querySelectorAll(':scope > .empty')) empty.remove();
    if (model.plan.children.length === 0) this.root.appendChild(h('div', { class: 'empty' }, 'The plan has no tests.'));
    this.computeChecks();
    this.tabStop = null;
    if (this.selected && model.node(this.selected)) this.openAncestors(this.selected);
    this.reflow();
  }

  // The same shape with new data (a reconnection's snapshot): updates rows in place.
  swapModel(model) {
    this.model = model;
    this.updateRows('all');
  }

  defaultExpansion() {
    const many = this.model.testcaseCount > COLLAPSE_ABOVE;
    const walk = (node) => {
      if (node.kind === 'testcase') return;
      const open = node.kind === 'plan' || node.kind === 'test' || !many;
      if (open) this.expanded.add(node.uid);
      for (const child of node.children) walk(child);
    };
    walk(this.model.plan);
  }

  isOpen(uid) {
    return this.expanded.has(uid) || (this.visible !== null && this.filterExpanded.has(uid));
  }

  // ---- the list of shown rows ----

  // Rebuilds the flat list of shown rows (after an expansion, a filter or a new model) and
  // renders the viewport's rows.
  reflow() {
    const shown = [];
    const depths = [];
    const positions = [];
    const sizes = [];
    const visible = this.visible;
    const walk = (children, depth) => {
      let count = 0;
      for (const child of children) if (visible === null || visible.has(child.uid)) count += 1;
      let position = 0;
      for (const child of children) {
        if (visible !== null && !visible.has(child.uid)) continue;
        position += 1;
        shown.push(child.uid);
        depths.push(depth);
        positions.push(position);
        sizes.push(count);
        if (child.kind !== 'testcase' && this.isOpen(child.uid)) walk(child.children, depth + 1);
      }
    };
    if (this.model) walk(this.model.plan.children, 0);
    this.shown = shown;
    this.depths = depths;
    this.positions = positions;
    this.sizes = sizes;
    this.indexOf = new Map();
    shown.forEach((uid, index) => this.indexOf.set(uid, index));
    this.spacer.style.setProperty('height', `${shown.length * this.measureRowHeight()}px`);
    // A shorter list may leave the scroll position past its end: the browser clamps it (and
    // says so with a scroll event, a frame later); the rows built now follow the clamp.
    const height = this.measureSpacerTop() + shown.length * this.rowHeight + this.spacerBottom;
    this.scrollTop = Math.max(0, Math.min(this.scrollTop, height - this.measureViewport()));
    if (this.tabStop !== null && !this.indexOf.has(this.tabStop)) this.tabStop = null;
    if (this.tabStop === null && shown.length > 0) this.tabStop = shown[0];
    this.render();
  }

  measureRowHeight() {
    if (!this.rowHeight) {
      const value = parseFloat(getComputedStyle(this.root).getPropertyValue('--row-h'));
      this.rowHeight = value > 0 ? value : DEFAULT_ROW_HEIGHT;
    }
    return this.rowHeight;
  }

  // The tree's padding above the spacer (and, in spacerBottom, below it).
  measureSpacerTop() {
    if (this.spacerTop === null) {
      const style = getComputedStyle(this.root);
      this.spacerTop = parseFloat(style.paddingTop) || 0;
      this.spacerBottom = parseFloat(style.paddingBottom) || 0;
    }
    return this.spacerTop;
  }

  // The tree's height until the resize observer says it (at the first frame).
  measureViewport() {
    if (!this.viewportHeight) this.viewportHeight = this.root.clientHeight || 800;
    return this.viewportHeight;
  }

  // Builds the rows in (or near) the viewport and the tab stop row, drops the others, and
  // places each at its index. Rows keep tree order in the document.
  render() {
    if (!this.model) return;
    const rowHeight = this.measureRowHeight();
    const top = this.scrollTop - this.measureSpacerTop();
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN_ROWS);
    const last = Math.min(this.shown.length - 1, Math.ceil((top + this.measureViewport()) / rowHeight) + OVERSCAN_ROWS);
    const wanted = [];
    for (let index = first; index <= last; index += 1) wanted.push(index);
    const stop = this.tabStop === null ? -1 : this.indexOf.get(this.tabStop);
    if (stop !== undefined && stop >= 0 && (stop < first || stop > last)) {
      if (stop < first) wanted.unshift(stop);
      else wanted.push(stop);
    }
    const keep = new Set();
    for (const index of wanted) keep.add(this.shown[index]);
    for (const [uid, entry] of this.rows) {
      if (keep.has(uid)) continue;
      entry.row.remove();
      this.rows.delete(uid);
    }
    // Existing rows are already in tree order (an expansion or a filter never reorders two
    // rows); new ones go in before the next existing one. The focused row is never moved.
    let cursor = this.spacer.firstChild;
    for (const index of wanted) {
      const uid = this.shown[index];
      let entry = this.rows.get(uid);
      if (entry) {
        if (entry.row === cursor) cursor = cursor.nextSibling;
        else this.spacer.insertBefore(entry.row, cursor);
      } else {
        entry = this.buildRow(uid);
        this.rows.set(uid, entry);
        this.spacer.insertBefore(entry.row, cursor);
      }
      this.placeRow(entry, index);
    }
  }

  placeRow(entry, index) {
    if (entry.index === index && entry.depth === this.depths[index] && entry.setsize === this.sizes[index] && entry.posinset === this.positions[index]) {
      this.paintState(entry);
      return;
    }
    const row = entry.row;
    if (entry.index !== index) {
      row.style.setProperty('transform', `translateY(${index * this.measureRowHeight()}px)`);
      entry.index = index;
    }
    if (entry.depth !== this.depths[index]) {
      entry.depth = this.depths[index];
      row.style.setProperty('--depth', entry.depth);
      row.setAttribute('aria-level', String(entry.depth + 1));
      row.dataset.depth = String(entry.depth);
    }
    if (entry.posinset !== this.positions[index] || entry.setsize !== this.sizes[index]) {
      entry.posinset = this.positions[index];
      entry.setsize = this.sizes[index];
      row.setAttribute('aria-posinset', String(entry.posinset));
      row.setAttribute('aria-setsize', String(entry.setsize));
    }
    this.paintState(entry);
  }

  // Scrolls just enough for the row at `index` to be whole in the viewport.
  scrollToIndex(index) {
    const rowHeight = this.measureRowHeight();
    const rowTop = this.measureSpacerTop() + index * rowHeight;
    const viewport = this.measureViewport();
    let target = this.scrollTop;
    if (rowTop < target) target = rowTop;
    else if (rowTop + rowHeight > target + viewport) target = rowTop + rowHeight - viewport;
    if (target !== this.scrollTop) {
      this.scrollTop = target;
      this.root.scrollTop = target;
    }
    this.render();
  }

  // ---- rows ----

  buildRow(uid) {
    const node = this.model.node(uid);
    const group = node.kind !== 'testcase';
    const row = h('div', {
      class: 'row',
      role: 'treeitem',
      tabindex: '-1',
      'aria-selected': 'false',
      dataset: { uid: node.uid, kind: node.kind, testid: 'tree-row' },
    });
    row.appendChild(group
      ? h('button', { class: 'caret', type: 'button', tabindex: '-1', dataset: { testid: 'toggle' }, 'aria-label': 'Expand or collapse' })
      : h('span', { class: 'caret-space' }));
    const checkbox = h('input', { type: 'checkbox', class: 'check live-only', tabindex: '-1', dataset: { testid: 'select' }, title: group ? 'Select every testcase below' : 'Select' });
    row.appendChild(checkbox);
    row.appendChild(h('span', { class: 'dot', dataset: { testid: 'status-dot' } }));
    row.appendChild(h('span', { class: 'name', title: node.uid }, node.name));
    // A group's counts: failed or errored (shown when any), and passed of all.
    const counts = group ? h('span', { class: 'counts', dataset: { testid: 'counts' } },
      h('span', { class: 'cnt fail' }), h('span', { class: 'cnt total' })) : null;
    if (counts) row.appendChild(counts);
    let drivers = null;
    let envToggle = null;
    if (node.kind === 'test' && node.drivers.length > 0) {
      drivers = h('span', { class: 'drivers' });
      row.appendChild(drivers);
      if (!this.staticMode) {
        envToggle = h('button', { class: 'env-toggle live-only', type: 'button', tabindex: '-1', dataset: { testid: 'env-toggle', uid: node.uid } }, h('span', { class: 'knob' }));
        row.appendChild(envToggle);
      }
    }
    if (!this.staticMode) {
      row.appendChild(h('button', { class: 'play live-only', type: 'button', tabindex: '-1', title: `Run ${node.name}`, dataset: { testid: 'run-node', uid: node.uid } }, '▶'));
    }
    const entry = { uid, node, row, checkbox, counts, drivers, envToggle, group, depth: -1, index: -1, posinset: -1, setsize: -1, signature: '', state: '' };
    this.paintRow(entry);
    return entry;
  }

  // What a row shows of the tree's own state: open, selected, the tab stop, its checkbox.
  paintState(entry) {
    const uid = entry.uid;
    const open = entry.group && this.isOpen(uid);
    const selected = this.selected === uid;
    const stop = this.tabStop === uid;
    let checked = false;
    let mixed = false;
    if (!entry.group) {
      checked = this.checked.has(uid);
    } else if (this.checked.size > 0) {
      const [ticked, total] = this.groupChecks.get(uid) || [0, 0];
      checked = total > 0 && ticked === total;
      mixed = ticked > 0 && ticked < total;
    }
    const state = `${open}|${selected}|${stop}|${checked}|${mixed}`;
    if (state === entry.state) return;
    entry.state = state;
    const row = entry.row;
    row.classList.toggle('open', open);
    row.classList.toggle('selected', selected);
    if (entry.group) row.setAttribute('aria-expanded', String(open));
    row.setAttribute('aria-selected', String(selected));
    row.tabIndex = stop ? 0 : -1;
    entry.checkbox.checked = checked;
    entry.checkbox.indeterminate = mixed;
  }

  // Data of a row from the model; DOM writes only when something shown changed.
  paintRow(entry) {
    const node = this.model.node(entry.uid) || entry.node;
    entry.node = node;
    const counts = node.counts;
    const bad = counts.failed + counts.error + (counts.crashed || 0) + counts.incomplete;
    const passed = passedLabel(counts);
    const shown = displayStatus(node);
    const envStatus = node.env_status || '';
    const driverKey = node.drivers.map((driver) => driver.status).join(',');
    const signature = `${node.status}|${shown.status}|${counts.unknown}|${node.runtime_status}|${counts.total}|${passed.text}|${bad}|${envStatus}|${driverKey}|${node.stale || ''}`;
    if (signature === entry.signature) return;
    entry.signature = signature;
    const row = entry.row;
    const keep = ['open', 'selected'].filter((name) => row.classList.contains(name)).map((name) => ` ${name}`).join('');
    row.className = `row st-${shown.status} rt-${node.runtime_status}${shown.partial ? ' partial' : ''}${node.stale ? ' stale' : ''}${keep}`;
    row.dataset.status = shown.status;
    row.dataset.partial = shown.partial ? 'true' : 'false';
    row.dataset.stale = node.stale ? 'true' : 'false';
    row.dataset.runtimeStatus = node.runtime_status;
    row.title = `${node.uid}\n${displayLabel(node)}${node.runtime_status === 'running' || node.runtime_status === 'waiting' ? ` (${node.runtime_status})` : ''}${node.stale ? `\nstale: ${node.stale}` : ''}`;
    if (entry.counts) {
      // Updated in place: a run changes them ten times a second.
      const [fail, pass] = entry.counts.children;
      fail.hidden = bad === 0;
      fail.textContent = `✗ ${bad}`;
      fail.title = `${bad} failed or errored`;
      const allPassed = passed.total > 0 && passed.passed === passed.total;
      pass.className = `cnt ${allPassed ? 'pass' : 'total'}`;
      pass.textContent = passed.text;
      pass.title = `${passed.passed} of ${passed.total} passed (xfail and xpass count as passed)`;
    }
    if (entry.drivers) {
      clearElement(entry.drivers);
      for (const driver of node.drivers) {
        entry.drivers.appendChild(h('span', {
          class: `drv-dot drv-${driver.status}`,
          title: `${driver.name} (${driver.kind}): ${driver.status.replace('_', ' ')}`,
          dataset: { testid: 'driver-status', driver: driver.name, status: driver.status },
        }));
      }
    }
    if (entry.envToggle) {
      const status = envStatus || 'stopped';
      const up = status === 'started' || status === 'starting';
      entry.envToggle.className = `env-toggle live-only env-${status}${up ? ' on' : ''}`;
      entry.envToggle.dataset.envStatus = status;
      entry.envToggle.disabled = status === 'starting' || status === 'stopping';
      entry.envToggle.title = `Environment ${status}: click to ${up ? 'stop' : 'start'} it`;
    }
  }

  // Repaints the built rows of these UIDs ('all': every built row); rows not built are
  // painted when they are.
  updateRows(uids) {
    if (uids === 'all') {
      for (const entry of this.rows.values()) this.paintRow(entry);
      return;
    }
    for (const uid of uids) {
      const entry = this.rows.get(uid);
      if (entry) this.paintRow(entry);
    }
  }

  // ---- expansion, filtering, selection ----

  toggle(uid) {
    const node = this.model && this.model.node(uid);
    if (!node || node.kind === 'testcase') return;
    if (this.isOpen(uid)) {
      this.expanded.delete(uid);
      this.filterExpanded.delete(uid);
    } else {
      this.expanded.add(uid);
    }
    this.reflow();
  }

  setAllExpanded(open) {
    for (const node of this.model.nodes.values()) {
      if (node.kind === 'testcase' || node.kind === 'plan') continue;
      if (open) this.expanded.add(node.uid);
      else if (node.kind !== 'test') this.expanded.delete(node.uid);
    }
    if (!open) this.filterExpanded.clear();
    this.reflow();
  }

  // Shows only these UIDs (null: all). Small results of a new filter open the groups that
  // hold them; a live refresh of the same filter (`keepExpansion`) leaves groups as they are.
  setVisible(visible, keepExpansion) {
    this.visible = visible;
    if (!keepExpansion) this.filterExpanded.clear();
    if (!keepExpansion && visible !== null && (visible.matched || 0) <= FILTER_EXPAND_LIMIT) {
      for (const uid of visible) {
        const node = this.model.node(uid);
        if (node && node.kind !== 'testcase') this.filterExpanded.add(uid);
      }
    }
    this.reflow();
    this.root.classList.toggle('filtered', visible !== null);
    const anyShown = visible === null || visible.size > 0;
    let empty = this.root.querySelector(':scope > .filter-empty');
    if (!anyShown && !empty) {
      empty = h('div', { class: 'empty filter-empty', dataset: { testid: 'filter-empty' } }, 'No testcase matches the filter.');
      this.root.appendChild(empty);
    } else if (anyShown && empty) {
      empty.remove();
    }
  }

  // Opens the closed groups above a node; true when one was.
  openAncestors(uid) {
    let opened = false;
    for (const ancestor of this.model.pathUp(uid).slice(1)) {
      const node = this.model.node(ancestor);
      if (node.kind !== 'plan' && !this.isOpen(ancestor)) {
        this.expanded.add(ancestor);
        opened = true;
      }
    }
    return opened;
  }

  // Highlights a row, opening its ancestors; `reveal` scrolls it into view. The selected row
  // becomes the tree's tab stop (if the filter shows it).
  markSelected(uid, reveal) {
    this.selected = uid;
    if (!this.model || !this.model.node(uid)) {
      this.render();
      return;
    }
    const previousStop = this.tabStop;
    const opened = this.openAncestors(uid);
    this.tabStop = uid;
    if (opened) this.reflow();
    else if (!this.indexOf.has(uid)) this.tabStop = this.indexOf.has(previousStop) ? previousStop : (this.shown[0] ?? null);
    const index = this.indexOf.get(uid);
    if (reveal && index !== undefined) this.scrollToIndex(index);
    else this.render();
  }

  // The one row Tab reaches (roving tabindex); it stays built while off screen.
  setTabStop(uid) {
    this.tabStop = uid;
    this.render();
  }

  // The built row of a UID, scrolled into view and built first if need be.
  revealRow(uid) {
    const index = this.indexOf.get(uid);
    if (index === undefined) return null;
    this.scrollToIndex(index);
    const entry = this.rows.get(uid);
    return entry ? entry.row : null;
  }

  // ---- ticks for "Run selected" ----

  // Per group, how many of the testcases below are ticked (one walk of the tree).
  computeChecks() {
    this.groupChecks = new Map();
    if (!this.model) return;
    const walk = (node) => {
      if (node.kind === 'testcase') return [this.checked.has(node.uid) ? 1 : 0, 1];
      let ticked = 0;
      let total = 0;
      for (const child of node.children) {
        const [t, n] = walk(child);
        ticked += t;
        total += n;
      }
      this.groupChecks.set(node.uid, [ticked, total]);
      return [ticked, total];
    };
    walk(this.model.plan);
  }

  // Checkbox states of groups: checked when every testcase below is, mixed when some are.
  refreshChecks() {
    this.computeChecks();
    for (const entry of this.rows.values()) this.paintState(entry);
  }

  setChecked(uids, checked) {
    for (const uid of uids) {
      if (checked) this.checked.add(uid);
      else this.checked.delete(uid);
    }
    this.refreshChecks();
    this.callbacks.onCheckedChange();
  }

  replaceChecked(uids) {
    this.checked = new Set(uids);
    this.refreshChecks();
    this.callbacks.onCheckedChange();
  }

  // ---- events ----

  onClick(event) {
    const row = event.target.closest('.row');
    if (!row || !this.root.contains(row)) return;
    const uid = row.dataset.uid;
    const button = event.target.closest('button');
    if (button && button.classList.contains('caret')) {
      this.toggle(uid);
      return;
    }
    if (button && button.dataset.testid === 'run-node') {
      this.callbacks.onRun(uid);
      return;
    }
    if (button && button.dataset.testid === 'env-toggle') {
      const up = button.dataset.envStatus === 'started' || button.dataset.envStatus === 'starting';
      this.callbacks.onEnv(uid, up ? 'stopped' : 'started');
      return;
    }
    if (event.target.closest('input')) return;
    this.callbacks.onSelect(uid);
    this.setTabStop(uid);
    row.focus({ preventScroll: true });
  }

  onChange(event) {
    const input = event.target;
    if (!input.classList.contains('check')) return;
    const row = input.closest('.row');
    const uid = row.dataset.uid;
    const node = this.model.node(uid);
    if (!node) return;
    // A group's checkbox selects what the filter shows below it.
    let uids = this.model.testcasesUnder(uid).map((testcase) => testcase.uid);
    if (this.visible !== null && node.kind !== 'testcase') uids = uids.filter((candidate) => this.visible.has(candidate));
    this.setChecked(uids, input.checked);
  }

  onKey(event) {
    const row = event.target.closest('.row');
    if (!row || event.target !== row || event.altKey || event.ctrlKey || event.metaKey) return;
    const uid = row.dataset.uid;
    const entry = this.rows.get(uid);
    const group = !!(entry && entry.group);
    const index = this.indexOf.get(uid);
    let next = null;
    switch (event.key) {
      case 'ArrowDown':
        if (index !== undefined) next = this.shown[index + 1] || null;
        break;
      case 'ArrowUp':
        if (index !== undefined && index > 0) next = this.shown[index - 1];
        break;
      case 'Home':
        next = this.shown[0] || null;
        break;
      case 'End':
        next = this.shown[this.shown.length - 1] || null;
        break;
      case 'ArrowRight':
        if (group && !this.isOpen(uid)) this.toggle(uid);
        else if (group && index !== undefined) {
          const child = this.shown[index + 1];
          if (child !== undefined && this.model.parentOf(child)?.uid === uid) next = child;
        }
        break;
      case 'ArrowLeft': {
        if (group && this.isOpen(uid)) {
          this.toggle(uid);
        } else {
          const parent = this.model.parentOf(uid);
          if (parent && this.indexOf.has(parent.uid)) next = parent.uid;
        }
        break;
      }
      case 'Enter':
        if (this.staticMode) this.callbacks.onSelect(uid);
        else this.callbacks.onRun(uid);
        break;
      case ' ':
        if (this.staticMode) {
          this.callbacks.onSelect(uid);
        } else if (entry) {
          entry.checkbox.checked = !entry.checkbox.checked;
          entry.checkbox.dispatchEvent(new Event('change', { bubbles: true }));
        }
        break;
      default:
        return;
    }
    event.preventDefault();
    if (next !== null) {
      this.setTabStop(next);
      const target = this.revealRow(next);
      if (target) target.focus({ preventScroll: true });
      this.callbacks.onSelect(next);
    }
  }
}
