// The driver connection graph in a test's environment panel (Testplan's `--driver-info` flow
// chart), drawn as SVG from the test's `connections` (`{listening: [{driver, address}],
// connections: [{from, to, address, count}]}`, read just before its environment stopped).
//
// One box per driver (its name, kind and status, coloured as the driver list colours it, and
// its listening addresses in a tray under it), a `testcases` box (the plan's own process) and
// an `another process` box when a connection comes from them, and one arrow per connecting
// party and driver, labelled with the addresses (×count when more than one). A self
// connection is a line of its driver's tray.
//
// Layout, left to right and deterministic (the same report draws the same picture): cycles
// broken by a depth-first walk in party order, columns by longest path (parties nobody
// connects to on the left), an arrow spanning columns passes through a slot of each column
// it crosses (where its label goes), and the order in each column follows the mean position
// of the neighbours (a few sweeps each way, ties kept in party order: testcases, the drivers
// as declared, others, another process).

import { h } from './util.js';

const GRAPH_SVG_NS = 'http://www.w3.org/2000/svg';
const GRAPH_TESTCASES = 'testcases';
const GRAPH_OTHER_PROCESS = 'another process';
const GRAPH_PAD = 12;
const GRAPH_HEAD_H = 42;
const GRAPH_TRAY_LINE_H = 15;
const GRAPH_ROW_GAP = 22;
const GRAPH_LABEL_LINE_H = 14;
// The fonts of the boxes' names and kinds and of addresses, as style.css sets them on the
// graph's text, for measuring; and an estimated advance of a character when there is no
// canvas to measure with.
const GRAPH_FONTS = {
  name: ['600 13px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', 7.8],
  kind: ['11px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', 6.4],
  mono: ['11px ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace', 6.7],
};
let graphMeasure;
const GRAPH_SWEEPS = 4;
const GRAPH_BOX_MIN_W = 130;
const GRAPH_BOX_MAX_W = 220;
// A graph wider than the panel shrinks down to this share of its size, then scrolls.
const GRAPH_MIN_SCALE = 0.75;

// Builds an SVG element: attributes (null, undefined and false left out; `dataset` and
// `style` objects), then children (elements, strings, arrays, null).
function svgNode(tag, attributes, ...children) {
  const element = document.createElementNS(GRAPH_SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(element.dataset, value);
    // Through the CSSOM: the UI's Content-Security-Policy refuses `style` attributes.
    else if (key === 'style') for (const [name, style] of Object.entries(value)) element.style.setProperty(name, String(style));
    else element.setAttribute(key, String(value));
  }
  const add = (child) => {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(add);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  };
  children.forEach(add);
  return element;
}

// The width of a line of text in one of GRAPH_FONTS, in pixels.
function graphTextWidth(text, font) {
  if (graphMeasure === undefined) {
    graphMeasure = null;
    try {
      graphMeasure = document.createElement('canvas').getContext('2d');
    } catch (problem) {
      graphMeasure = null;
    }
  }
  const [css, advance] = GRAPH_FONTS[font];
  if (!graphMeasure) return text.length * advance;
  graphMeasure.font = css;
  return graphMeasure.measureText(text).width;
}

// Cuts text to fit `width` pixels in a font of GRAPH_FONTS, with an ellipsis.
function graphFit(text, font, width) {
  if (graphTextWidth(text, font) <= width) return text;
  let keep = text.length - 1;
  while (keep > 1 && graphTextWidth(`${text.slice(0, keep)}…`, font) > width) keep -= 1;
  return `${text.slice(0, keep)}…`;
}

function graphCompare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function edgeLabelLine(item) {
  return item.count > 1 ? `${item.address} ×${item.count}` : item.address;
}

// The parties (boxes) and the arrows of a test's connections, in a stable order.
export function connectionGraphModel(test) {
  const connections = test.connections || {};
  const listening = connections.listening || [];
  const links = connections.connections || [];
  const drivers = new Map();
  (test.drivers || []).forEach((driver, index) => drivers.set(driver.name, { driver, index }));
  const names = new Set(drivers.keys());
  for (const socket of listening) names.add(socket.driver);
  for (const link of links) {
    names.add(link.from);
    names.add(link.to);
  }
  const rank = (name) => {
    if (drivers.has(name)) return drivers.get(name).index;
    if (name === GRAPH_TESTCASES) return -1;
    if (name === GRAPH_OTHER_PROCESS) return Number.MAX_SAFE_INTEGER;
    return Number.MAX_SAFE_INTEGER - 1;
  };
  const order = [...names].sort((a, b) => rank(a) - rank(b) || graphCompare(a, b));
  const parties = order.map((name, index) => {
    const known = drivers.get(name);
    const role = known ? 'driver' : name === GRAPH_TESTCASES ? 'testcases' : 'process';
    return {
      name,
      index,
      role,
      kind: known ? known.driver.kind : name === GRAPH_TESTCASES ? "the plan's process" : 'outside the environment',
      status: known ? known.driver.status || 'not_started' : null,
      listening: [],
      loops: [],
    };
  });
  const byName = new Map(parties.map((party) => [party.name, party]));
  for (const socket of listening) {
    const party = byName.get(socket.driver);
    if (!party.listening.includes(socket.address)) party.listening.push(socket.address);
  }
  const grouped = new Map();
  for (const link of links) {
    const item = { address: link.address, count: link.count || 1 };
    if (link.from === link.to) {
      byName.get(link.from).loops.push(item);
      continue;
    }
    const key = `${link.from}\n${link.to}`;
    if (!grouped.has(key)) grouped.set(key, { from: byName.get(link.from), to: byName.get(link.to), items: [] });
    grouped.get(key).items.push(item);
  }
  const edges = [...grouped.values()]
    .sort((a, b) => a.from.index - b.from.index || a.to.index - b.to.index)
    .map((edge, index) => {
      edge.items.sort((a, b) => graphCompare(a.address, b.address));
      return Object.assign(edge, { index, count: edge.items.reduce((sum, item) => sum + item.count, 0) });
    });
  for (const party of parties) party.loops.sort((a, b) => graphCompare(a.address, b.address));
  return { parties, edges };
}

// Columns, order and coordinates of the graph's boxes and arrows.
export function connectionGraphLayout(graph) {
  const { parties, edges } = graph;
  const outgoing = new Map(parties.map((party) => [party, []]));
  for (const edge of edges) outgoing.get(edge.from).push(edge);
  // Cycles: an arrow back to a party on the walk's stack is laid out reversed.
  const walk = new Map();
  const visit = (party) => {
    walk.set(party, 1);
    for (const edge of outgoing.get(party)) {
      const state = walk.get(edge.to) || 0;
      if (state === 1) edge.reversed = true;
      else if (state === 0) visit(edge.to);
    }
    walk.set(party, 2);
  };
  for (const edge of edges) edge.reversed = false;
  for (const party of parties) if (!walk.has(party)) visit(party);
  for (const edge of edges) {
    edge.left = edge.reversed ? edge.to : edge.from;
    edge.right = edge.reversed ? edge.from : edge.to;
  }
  // Columns by longest path, in topological order (Kahn's, ties in party order).
  const preds = new Map(parties.map((party) => [party, []]));
  const succs = new Map(parties.map((party) => [party, []]));
  for (const edge of edges) {
    succs.get(edge.left).push(edge);
    preds.get(edge.right).push(edge);
  }
  const waiting = new Map(parties.map((party) => [party, preds.get(party).length]));
  const ready = parties.filter((party) => waiting.get(party) === 0);
  for (const party of parties) party.layer = 0;
  while (ready.length) {
    ready.sort((a, b) => a.index - b.index);
    const party = ready.shift();
    for (const edge of succs.get(party)) {
      edge.right.layer = Math.max(edge.right.layer, party.layer + 1);
      waiting.set(edge.right, waiting.get(edge.right) - 1);
      if (waiting.get(edge.right) === 0) ready.push(edge.right);
    }
  }
  const layerCount = parties.reduce((most, party) => Math.max(most, party.layer + 1), 1);
  const layers = Array.from({ length: layerCount }, () => []);
  for (const party of parties) {
    party.slot = 'party';
    party.up = [];
    party.down = [];
    layers[party.layer].push(party);
  }
  // A slot in every column an arrow crosses; the first one carries its label.
  for (const edge of edges) {
    edge.chain = [edge.left];
    for (let layer = edge.left.layer + 1; layer < edge.right.layer; layer += 1) {
      const dummy = { slot: 'dummy', edge, layer, index: parties.length + edge.index, labelled: layer === edge.left.layer + 1, up: [], down: [] };
      layers[layer].push(dummy);
      edge.chain.push(dummy);
    }
    edge.chain.push(edge.right);
    for (let step = 1; step < edge.chain.length; step += 1) {
      edge.chain[step - 1].down.push(edge.chain[step]);
      edge.chain[step].up.push(edge.chain[step - 1]);
    }
  }
  // Order in each column: the mean position of the neighbours, sweeping down and up.
  const positions = () => {
    for (const layer of layers) layer.forEach((item, position) => { item.position = position; });
  };
  const sortLayer = (layer, side) => {
    const keyed = layer.map((item) => {
      const near = item[side];
      const key = near.length ? near.reduce((sum, other) => sum + other.position, 0) / near.length : item.position;
      return { item, key };
    });
    keyed.sort((a, b) => a.key - b.key || a.item.position - b.item.position);
    keyed.forEach((entry, position) => {
      layer[position] = entry.item;
      entry.item.position = position;
    });
  };
  for (const layer of layers) layer.sort((a, b) => a.index - b.index);
  positions();
  for (let sweep = 0; sweep < GRAPH_SWEEPS; sweep += 1) {
    for (let layer = layers.length - 2; layer >= 0; layer -= 1) sortLayer(layers[layer], 'down');
    for (let layer = 1; layer < layers.length; layer += 1) sortLayer(layers[layer], 'up');
  }
  // Sizes: each column as wide as its widest box (or label it carries), each gap as wide as
  // the widest label halfway across it.
  for (const edge of edges) {
    edge.labelLines = edge.items.map(edgeLabelLine);
    edge.labelWidth = Math.ceil(edge.labelLines.reduce((most, line) => Math.max(most, graphTextWidth(line, 'mono')), 0) + 10);
  }
  const trayLines = (party) => party.listening.map((address) => `listens ${address}`)
    .concat(party.loops.map((item) => `self ${edgeLabelLine(item)}`));
  for (const party of parties) {
    party.tray = trayLines(party);
    party.kindLine = party.status ? `${party.kind} · ${party.status.replace('_', ' ')}` : party.kind;
    const tray = party.tray.reduce((most, line) => Math.max(most, graphTextWidth(line, 'mono')), 0);
    party.need = Math.max(36 + graphTextWidth(party.name, 'name'), 22 + graphTextWidth(party.kindLine, 'kind'), 22 + tray);
  }
  const columnWidths = layers.map((layer) => Math.round(layer.reduce((most, item) => {
    // Longer names are cut (the box's title has them whole).
    if (item.slot === 'party') return Math.max(most, Math.min(item.need, GRAPH_BOX_MAX_W));
    return item.labelled ? Math.max(most, item.edge.labelWidth + 12) : most;
  }, GRAPH_BOX_MIN_W)));
  const gaps = layers.slice(1).map((layer, gap) => edges
    .filter((edge) => edge.left.layer === gap && edge.chain.length === 2)
    .reduce((most, edge) => Math.max(most, edge.labelWidth + 34), 80));
  for (const layer of layers) {
    for (const item of layer) {
      if (item.slot === 'party') item.height = GRAPH_HEAD_H + (item.tray.length ? item.tray.length * GRAPH_TRAY_LINE_H + 8 : 0);
      else item.height = item.labelled ? item.edge.labelLines.length * GRAPH_LABEL_LINE_H + 6 : 10;
    }
  }
  const columnHeight = (layer) => layer.reduce((sum, item) => sum + item.height, 0) + GRAPH_ROW_GAP * Math.max(0, layer.length - 1);
  const tallest = layers.reduce((most, layer) => Math.max(most, columnHeight(layer)), 0);
  let x = GRAPH_PAD;
  layers.forEach((layer, column) => {
    let y = GRAPH_PAD + Math.round((tallest - columnHeight(layer)) / 2);
    for (const item of layer) {
      item.x = x;
      item.y = y;
      item.width = columnWidths[column];
      y += item.height + GRAPH_ROW_GAP;
    }
    x += columnWidths[column] + (gaps[column] || 0);
  });
  // Where arrows meet a box: spread along its side in the order of the other ends.
  const centre = (item) => item.y + item.height / 2;
  for (const party of parties) {
    const spread = (steps, side) => {
      steps.sort((a, b) => centre(a.other) - centre(b.other) || a.edge.index - b.edge.index);
      steps.forEach((step, position) => {
        step.edge[side] = Math.round(party.y + (party.height * (position + 1)) / (steps.length + 1));
      });
    };
    spread(edges.filter((edge) => edge.left === party).map((edge) => ({ edge, other: edge.chain[1] })), 'startY');
    spread(edges.filter((edge) => edge.right === party).map((edge) => ({ edge, other: edge.chain[edge.chain.length - 2] })), 'endY');
  }
  // Each arrow's path (cubic curves between columns, straight through crossed columns) and
  // its label: on its first crossed column's slot, else halfway.
  const labelsByGap = new Map();
  for (const edge of edges) {
    const points = [];
    edge.chain.forEach((item, step) => {
      if (step === 0) points.push([item.x + item.width, edge.startY]);
      else if (step === edge.chain.length - 1) points.push([item.x, edge.endY]);
      else points.push([item.x, Math.round(centre(item))], [item.x + item.width, Math.round(centre(item))]);
    });
    // Room for the arrowhead at the end the arrow points to.
    const tip = edge.reversed ? points[0].slice() : points[points.length - 1].slice();
    if (edge.reversed) points[0][0] += 7;
    else points[points.length - 1][0] -= 7;
    let d = `M${points[0][0]},${points[0][1]}`;
    for (let index = 1; index < points.length; index += 1) {
      const [x1, y1] = points[index - 1];
      const [x2, y2] = points[index];
      if (index % 2 === 0) {
        d += ` L${x2},${y2}`;
      } else {
        const bend = Math.round((x2 - x1) / 2);
        d += ` C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
      }
    }
    edge.path = d;
    edge.tip = tip;
    const height = edge.labelLines.length * GRAPH_LABEL_LINE_H + 4;
    const width = edge.labelWidth;
    if (edge.chain.length > 2) {
      const slot = edge.chain[1];
      edge.label = { x: Math.round(slot.x + (slot.width - width) / 2), y: Math.round(centre(slot) - height / 2), width, height };
    } else {
      const [x1, y1] = points[0];
      const [x2, y2] = points[1];
      edge.label = { x: Math.round((x1 + x2 - width) / 2), y: Math.round((y1 + y2 - height) / 2), width, height };
      const key = edge.left.layer;
      if (!labelsByGap.has(key)) labelsByGap.set(key, []);
      labelsByGap.get(key).push(edge.label);
    }
  }
  // Labels halfway that would overlap in a gap are pushed down, in order.
  for (const labels of labelsByGap.values()) {
    labels.sort((a, b) => a.y - b.y || a.x - b.x);
    for (let index = 1; index < labels.length; index += 1) {
      const before = labels[index - 1];
      if (labels[index].y < before.y + before.height + 2) labels[index].y = before.y + before.height + 2;
    }
  }
  let width = x + GRAPH_PAD;
  let height = GRAPH_PAD * 2 + tallest;
  for (const edge of edges) height = Math.max(height, edge.label.y + edge.label.height + GRAPH_PAD);
  width = Math.round(width);
  height = Math.round(height);
  return { parties, edges, width, height };
}

// The graph as text lines, as `--driver-info` prints it.
export function connectionGraphLines(graph) {
  const lines = [];
  for (const party of graph.parties) {
    if (party.listening.length) lines.push(`${party.name} listens on ${party.listening.join(', ')}`);
  }
  for (const edge of graph.edges) {
    for (const item of edge.items) lines.push(`${edge.from.name} → ${edge.to.name} (${item.address})${item.count > 1 ? ` ×${item.count}` : ''}`);
  }
  for (const party of graph.parties) {
    for (const item of party.loops) lines.push(`${party.name} → ${party.name} (${item.address})${item.count > 1 ? ` ×${item.count}` : ''}`);
  }
  return lines;
}

function graphPartyNode(party) {
  const { x, y, width, height } = party;
  const status = party.status ? party.status.replace('_', ' ') : null;
  const title = [party.name, party.kind, status].filter(Boolean).join(' · ')
    + party.tray.map((line) => `\n${line}`).join('');
  const classes = party.role === 'driver' ? `gnode gnode-driver gst-${party.status}` : `gnode gnode-${party.role}`;
  return svgNode('g', { class: classes, dataset: { testid: 'graph-node', party: party.name, role: party.role, status: party.status } },
    svgNode('title', null, title),
    svgNode('rect', { class: 'gbox', x, y, width, height, rx: 6 }),
    party.tray.length ? svgNode('path', { class: 'gsep', d: `M${x},${y + GRAPH_HEAD_H} H${x + width}` }) : null,
    party.role === 'driver'
      ? svgNode('rect', { class: 'gdot', x: x + 10, y: y + 10, width: 9, height: 9, rx: 2 })
      : svgNode('circle', { class: 'gdot', cx: x + 14, cy: y + 14, r: 4.5 }),
    svgNode('text', { class: 'gname', x: x + 26, y: y + 19 }, graphFit(party.name, 'name', width - 34)),
    svgNode('text', { class: 'gkind', x: x + 10, y: y + 34 }, graphFit(party.kindLine, 'kind', width - 18)),
    party.tray.map((line, index) => {
      const [word, ...rest] = line.split(' ');
      return svgNode('text', {
        class: 'gtray',
        x: x + 10,
        y: y + GRAPH_HEAD_H + 4 + GRAPH_TRAY_LINE_H * (index + 1) - 3,
        dataset: { testid: word === 'listens' ? 'graph-listen' : 'graph-self', driver: party.name },
      }, svgNode('tspan', { class: 'gtray-word' }, word), ` ${graphFit(rest.join(' '), 'mono', width - 18 - graphTextWidth(`${word} `, 'mono'))}`);
    }));
}

function graphEdgeNode(edge) {
  const [x, y] = edge.tip;
  // The arrowhead points right at the driver connected to, or left when laid out reversed.
  const back = edge.reversed ? 1 : -1;
  const head = `${x},${y} ${x + back * 8},${y - 4.5} ${x + back * 8},${y + 4.5}`;
  const title = `${edge.from.name} → ${edge.to.name}: ${edge.labelLines.join(', ')}`;
  return svgNode('g', { class: 'gedge', dataset: { testid: 'graph-edge', from: edge.from.name, to: edge.to.name, count: edge.count } },
    svgNode('title', null, title),
    svgNode('path', { class: 'gline', d: edge.path }),
    svgNode('polygon', { class: 'garrow', points: head }));
}

function graphLabelNode(edge) {
  const { x, y, width, height } = edge.label;
  return svgNode('g', { class: 'glabel', dataset: { testid: 'graph-edge-label', from: edge.from.name, to: edge.to.name } },
    svgNode('title', null, `${edge.from.name} → ${edge.to.name}: ${edge.labelLines.join(', ')}`),
    svgNode('rect', { class: 'glabel-bg', x, y, width, height, rx: 3 }),
    edge.labelLines.map((line, index) => svgNode('text', { class: 'glabel-text', x: x + 5, y: y + 2 + GRAPH_LABEL_LINE_H * (index + 1) - 3 }, line)));
}

// The SVG of a test's connection graph.
export function connectionGraphSvg(test) {
  const graph = connectionGraphModel(test);
  const layout = connectionGraphLayout(graph);
  const lines = connectionGraphLines(graph);
  const summary = `Driver connections of ${test.name}: ${graph.parties.length} parties, ${graph.edges.length} ${graph.edges.length === 1 ? 'arrow' : 'arrows'}`;
  return svgNode('svg', {
    class: 'conn-graph',
    xmlns: GRAPH_SVG_NS,
    role: 'img',
    'aria-label': `${summary}. ${lines.join('; ')}`,
    width: layout.width,
    height: layout.height,
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    dataset: { testid: 'driver-graph' },
    style: { 'min-width': `${Math.round(layout.width * GRAPH_MIN_SCALE)}px` },
  },
  svgNode('title', null, summary),
  svgNode('desc', null, lines.join('\n')),
  svgNode('g', { class: 'gedges' }, layout.edges.map(graphEdgeNode)),
  svgNode('g', { class: 'gnodes' }, layout.parties.map(graphPartyNode)),
  svgNode('g', { class: 'glabels' }, layout.edges.map(graphLabelNode)));
}

// The environment panel's "Connections" block: the graph, or a line saying why there is none.
export function connectionGraphBlock(test) {
  const connections = test.connections;
  const empty = !connections || (!(connections.listening || []).length && !(connections.connections || []).length);
  let body;
  if (!connections) body = h('div', { class: 'empty', dataset: { testid: 'driver-graph-empty' } }, 'Connections are read when the environment stops.');
  else if (empty) body = h('div', { class: 'empty', dataset: { testid: 'driver-graph-empty' } }, 'No listening sockets or connections were found when the environment stopped.');
  else body = h('div', { class: 'conn-graph-scroll' }, connectionGraphSvg(test));
  return h('div', { class: 'conn-graph-box', dataset: { testid: 'driver-graph-box' } },
    h('div', { class: 'conn-graph-head' },
      h('h4', null, 'Connections'),
      connections ? h('span', { class: 'note' }, 'as read when the environment last stopped') : null),
    body);
}
