// app.js: the page.  Files come in through the drop zone or the file
// picker (or the sample, made by sample.js); the package's Web Worker
// (onnx-cle/worker) does all the work, so the page stays responsive on
// large models, with a progress bar and a cancel button beside the button
// that started it; reports come out as DOM (render.js), the graph as SVG
// (graph-view.js), downloads as blob: URLs.  After Equalize, the proof runs
// the original and the equalized model in onnxruntime-web, in the same
// worker (loaded from the page's own origin, only then), on seeded inputs
// and, for an image model, on a picture the user picks or drops on the
// proof (image.js).  Nothing is fetched besides the page's own files.
import { createWorker } from '../wasm/worker.js';
import { FORM_OPTIONS } from './options.js';
import {
  h, formatBytes, took, plural, renderFacts, renderFindings, renderMap, renderTotals, renderEqLayers, redrawOpenPlots,
} from './render.js';
import { createGraphView } from './graph-view.js';
import { renderNodeDetails, renderProof } from './details.js';
import { sampleModel } from '../wasm/sample.js';
import { openDims, chooseSizes, shapesFor } from '../wasm/verify.js';
import { imageInputOf, imageTensor, sidesOf, SCALINGS, scaleImage } from './image.js';

// the proof runs by itself after Equalize up to this size (model and data), on a button above it
const AUTO_PROOF_BYTES = 100e6;

// wasm32 addresses 4 GiB: a model with its external data must fit in that
// beside the memory to work on it.  Bigger files are refused before the
// browser reads them; below that the library says whether it fits.
const MAX_TOTAL_BYTES = 4 * 2 ** 30;

// equalize's progress stages → [label, where the bar starts, how much it spans]
const STAGES = {
  read: ['Measuring weights', 0, 0.15],
  balance: ['Balancing ranges', 0.15, 0.6],
  write: ['Writing the equalized model', 0.75, 0.25],
  done: ['Finishing', 1, 0],
};

const stemOf = (name) => name.replace(/\.onnx$/i, '');
const sentence = (s) => String(s).replace(/^onnx-cle: /, '').replace(/[.\s]+$/, '');

/** One sentence for a failure, or null when the user cancelled. */
function explain(e, what) {
  if (e && e.name === 'AbortError') return null;
  const why = sentence(e && e.message ? e.message : e);
  if ((e && e.code === 'CLE_E_NOMEM') || (e && e.name === 'RangeError'))
    return `${what}: ${why}. It is too big for this browser's memory; close other tabs, or use the command line (onnx-cle).`;
  return `${what}: ${why}.`;
}

function tooBig(file, extra) {
  const total = extra.reduce((n, f) => n + f.size, file.size);
  if (total < MAX_TOTAL_BYTES) return null;
  const what = extra.length ? `${file.name} and its external data are ${formatBytes(total)} together` : `${file.name} is ${formatBytes(total)}`;
  return `${what}, too big for this page: onnx-cle's WebAssembly memory holds 4 GiB in all, ` +
    'the model and the memory to work on it. Use the command line (onnx-cle) for it.';
}

async function readFile(file) {
  if (file.made) return file.made.slice(); // the sample: made in the page, handed out as a copy
  try {
    return new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    const err = new Error(`the browser could not read ${file.name} into memory (${e.name}); it may be too big for this tab`);
    err.name = e.name === 'NotReadableError' ? 'RangeError' : e.name;
    throw err;
  }
}

/**
 * Starts the page.  options.worker: createWorker()'s options (the served
 * page passes ortUrl; the one-file demo its inlined worker script and .wasm
 * and no ortUrl: there the proof says it needs the served page).
 */
export function start(options = {}) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    drop: $('drop'), input: $('file-input'), sample: $('sample'),
    report: $('report'), name: $('model-name'), facts: $('model-facts'), dlCheck: $('dl-check'), dlSarif: $('dl-sarif'),
    findings: $('findings'), counts: $('findings-counts'),
    mapSummary: $('map-summary'), mapLayers: $('map-layers'), mapRegions: $('map-regions'), mapFilter: $('map-filter'),
    tabs: [$('tab-graph'), $('tab-lists')], graph: $('graph'), graphDetails: $('graph-details'), graphSearch: $('graph-search'),
    graphFound: $('graph-found'), graphSaid: $('graph-said'),
    form: $('eq-form'), equalize: $('equalize'), eqStatus: $('eq-status'), eqResult: $('eq-result'), eqTotals: $('eq-totals'),
    eqNothing: $('eq-nothing'), eqDownloads: $('eq-downloads'),
    dlModel: $('dl-model'), dlData: $('dl-data'), dlEqReport: $('dl-eq-report'), eqOrder: $('eq-order'), eqLayers: $('eq-layers'), eqLayersHead: $('eq-layers-head'),
    proof: $('proof'), proofNote: $('proof-note'), proofForm: $('proof-form'), proofSizes: $('proof-sizes'),
    proofRun: $('proof-run'), proofResult: $('proof-result'),
    proofImage: $('proof-image'), imagePick: $('proof-image-pick'), imageInput: $('proof-image-input'),
    imageHelp: $('proof-image-help'), imagePreview: $('proof-image-preview'),
    tune: $('proof-tune'), tunePick: $('tune-pick'), tuneInput: $('tune-input'), tuneScale: $('tune-scale'), tuneBias: $('tune-bias'), tuneHelp: $('tune-help'),
  };
  ui.tuneScale.replaceChildren(...Object.entries(SCALINGS).map(([value, { label }]) => h('option', { value }, label)));
  // two status boxes: at the top for reading and checking, in the Equalize card for its work and the proof
  const boxes = {
    top: { message: $('message'), progress: $('progress'), cancel: $('cancel') },
    eq: { message: $('eq-message'), progress: $('eq-progress'), cancel: $('eq-cancel') },
  };
  // equalize's options, each from its control (options.js)
  const form = Object.entries(FORM_OPTIONS).map(([key, id]) => [key, $(id)]);
  const reference = $(FORM_OPTIONS.reference);
  const relu6 = $(FORM_OPTIONS.relu6);
  const canProve = Boolean(options.worker?.ortUrl);
  const worker = createWorker(options.worker);
  const view = createGraphView(ui.graph, {
    onSelect: (node) => showNode(node),
    say: (text) => { ui.graphSaid.textContent = text; },
  });

  let model = null; // { file, extra, stem, check, sarifUrl, eq, out, data, limit, sizes, image }
  let job = 0; // the running job's number: a result for an older one is dropped
  let busy = false;
  let box = boxes.top;
  let filter = () => {};
  let urls = { check: [], eq: [] };

  const say = (text, error = false) => {
    box.message.textContent = text;
    box.message.classList.toggle('is-error', error);
    document.body.dataset.status = box.message.id;
  };
  const setBusy = (text, fraction = null, where = box) => {
    if (where !== box) {
      box.cancel.disabled = true;
      box = where;
    }
    busy = true;
    document.body.dataset.state = 'busy';
    if (box === boxes.eq) ui.eqStatus.hidden = false;
    say(text);
    if (fraction === null) box.progress.removeAttribute('value');
    else box.progress.value = fraction;
    box.cancel.disabled = false;
    // the button that started the work disables itself: focus goes to Cancel beside the bar, not to <body>
    if (document.activeElement === ui.equalize || document.activeElement === ui.proofRun || document.activeElement === document.body)
      box.cancel.focus();
    ui.equalize.disabled = true;
    ui.proofRun.disabled = true;
    ui.imagePick.disabled = true;
    ui.tunePick.disabled = true;
    ui.dlSarif.disabled = true;
  };
  const setIdle = (text, error = false) => {
    busy = false;
    document.body.dataset.state = error ? 'error' : 'ready';
    say(text, error);
    box.progress.value = error ? 0 : 1;
    const hadFocus = document.activeElement === box.cancel;
    box.cancel.disabled = true;
    ui.equalize.disabled = !model;
    ui.proofRun.disabled = !model?.out;
    ui.imagePick.disabled = !model?.out;
    ui.tunePick.disabled = !model?.out;
    ui.dlSarif.disabled = !model;
    if (hadFocus) (box === boxes.eq ? box.message : ui.drop).focus();
  };

  const revoke = (kind) => {
    for (const u of urls[kind]) URL.revokeObjectURL(u);
    urls[kind] = [];
  };
  const blobUrl = (kind, parts, type) => {
    const url = URL.createObjectURL(new Blob(parts, { type }));
    urls[kind].push(url);
    return url;
  };
  const setLink = (a, url, name) => {
    a.href = url;
    a.download = name;
  };

  const inputs = async (m) => {
    const bytes = await readFile(m.file);
    const externalData = {};
    for (const f of m.extra) externalData[f.name] = await readFile(f);
    return { bytes, externalData };
  };
  const sizeOf = (m) => m.extra.reduce((n, f) => n + f.size, m.file.size);

  // Stops whatever runs: the worker ends (its pending calls reject with
  // AbortError, which the job ignores since its number is old) and the next
  // call starts a fresh one.
  const stop = () => {
    job++;
    if (busy) worker.cancel();
  };

  function clear() {
    model?.image?.bitmap.close();
    model = null;
    revoke('check');
    revoke('eq');
    ui.report.hidden = true;
    ui.eqResult.hidden = true;
    ui.eqStatus.hidden = true;
    ui.mapFilter.value = '';
    ui.graphSearch.value = '';
    ui.graphFound.textContent = '';
    view.clear();
    for (const a of [ui.dlCheck, ui.dlModel, ui.dlEqReport]) a.removeAttribute('href');
    ui.dlData.replaceChildren();
  }

  function showNode(node) {
    renderNodeDetails(ui.graphDetails, node, {
      graph: view.graph, overlay: view.overlay, eqLayers: model?.eq ? new Map(model.eq.layers.map((l) => [l.node, l])) : null,
    });
    if (!node) return;
    const o = view.overlay;
    const layer = o?.layers.get(node.name);
    const what = layer ? (layer.group === null ? 'layer, not paired' : `layer in group ${layer.group}`)
      : o?.stops.has(node.name) ? 'stops a chain' : o?.through.has(node.name) ? 'passes a group\'s channels' : node.kind;
    ui.graphSaid.textContent = `${node.op} ${node.name}: ${what}.`;
  }

  function showReport(m, info) {
    ui.name.textContent = m.file.name;
    renderFacts(ui.facts, { info, check: m.check, extra: m.extra.map((f) => f.name) });
    renderFindings(ui.findings, ui.counts, m.check, info.op_counts);
    filter = renderMap({ summary: ui.mapSummary, layers: ui.mapLayers, regions: ui.mapRegions }, m.check);
    setLink(ui.dlCheck, blobUrl('check', [JSON.stringify(m.check, null, 2)], 'application/json'), `${m.stem}.check.json`);
    ui.eqResult.hidden = true;
    ui.report.hidden = false;
    showProofForm(m);
  }

  function showGraph(m, graph) {
    view.show(graph, m.check);
    ui.graph.setAttribute('aria-label', `Model graph: ${graph.nodes.length} boxes (inputs, ops, outputs), ` +
      `${m.check.summary.layers} layers. Arrow keys go from node to node.`);
    renderNodeDetails(ui.graphDetails, null, {});
    ui.graphDetails.firstChild.textContent = 'Select a node (click it, or focus the graph and use the arrow keys) to see its attributes, shapes and weight ranges.';
  }

  async function load(list) {
    const files = [...list];
    if (files.length === 0) return;
    stop();
    const id = job;
    clear();
    // the model is the .onnx file; the others are its external data, by file name
    const onnx = files.filter((f) => /\.onnx$/i.test(f.name));
    const file = onnx[0] ?? files[0];
    const extra = files.filter((f) => f !== file);
    const big = tooBig(file, extra);
    if (big) {
      box = boxes.top;
      setIdle(big, true);
      return;
    }
    setBusy(`Reading ${file.name} (${formatBytes(file.size)})…`, null, boxes.top);
    try {
      const t0 = performance.now();
      const { bytes, externalData } = await inputs({ file, extra });
      if (id !== job) return;
      setBusy(`Checking ${file.name}…`);
      const check = await worker.check(bytes, { externalData });
      if (id !== job) return;
      model = { file, extra, stem: stemOf(file.name), check, sarifUrl: null };
      showReport(model, check.model);
      const s = check.summary;
      const more = onnx.length > 1 ? ` (${onnx.length} .onnx files were dropped; this is the first, the others were offered as external data)` : '';
      const checked = `Checked ${file.name} in ${took(performance.now() - t0)}: ${s.errors} errors, ${s.warnings} warnings; ` +
        `CLE pairs ${s.paired} of ${s.layers} layers${more}.`;
      setBusy('Drawing the graph…');
      try {
        // read again rather than kept: the bytes went to the worker, and a big model is not held twice
        const again = await inputs(model);
        if (id !== job) return;
        const graph = await worker.graph(again.bytes, { externalData: again.externalData });
        if (id !== job) return;
        showGraph(model, graph);
      } catch (e) {
        if (id !== job) return;
        ui.graphDetails.replaceChildren(h('p', { class: 'loss' }, explain(e, 'Cannot draw the graph') ?? 'Cancelled.'));
      }
      setIdle(checked);
      // while the user reads the report, the worker readies itself for the
      // Equalize that usually follows (its code optimized, its memory
      // touched), so that runs about as fast as a second one would
      if (s.paired > 0) worker.prepare(file.size + extra.reduce((n, f) => n + f.size, 0)).catch(() => {});
    } catch (e) {
      if (id !== job) return;
      setIdle(explain(e, `Cannot check ${file.name}`) ?? 'Cancelled.', true);
    }
  }

  // the balancing fields: rounds, tolerance, largest scale
  const balancing = form.filter(([, input]) => input.type === 'number');

  function equalizeOptions() {
    const o = {};
    for (const [key, input] of form) {
      if (input.type === 'checkbox') o[key] = input.checked;
      else if (input.type !== 'number') o[key] = input.value;
    }
    // the reference balances in one pass with no clamp and folds batch norm:
    // its aim, batch norm and rounds are not ours to set
    if (o.reference) {
      delete o.objective;
      delete o.batchNorm;
      return o;
    }
    // an empty field means the default; the library checks the ranges and says what is wrong
    for (const [key, input] of balancing) {
      if (Number.isFinite(input.valueAsNumber)) o[key] = input.valueAsNumber;
    }
    return o;
  }

  // Reference only: what AIMET does, ReLU6 replaced by ReLU unless chosen
  // otherwise, and one pass (the rounds fields do not apply).
  function referenceMode() {
    const on = reference.checked;
    relu6.value = on ? 'relu' : 'exact';
    for (const [, input] of balancing) input.disabled = on;
  }

  // nothing to equalize: the report says why (its nothing_to_equalize, a sentence: e.g. the
  // model is already quantized), or, from a library without that field, no layer was equalized
  const nothingToDo = (report) => {
    if (typeof report.nothing_to_equalize === 'string') return sentence(report.nothing_to_equalize);
    const t = report.totals;
    if (t.equalized > 0) return null;
    return t.layers === 0 ? 'it has no Conv, ConvTranspose, Gemm or MatMul layer to equalize'
      : `none of its ${t.layers} layers can be equalized (the CLE map says why for each)`;
  };

  // an equalized model and its report, offered for download and shown; returns why there is
  // nothing to download, or null.  A report with no totals is tune()'s where the model as
  // shipped won and only its biases were corrected: no equalization to show.
  function offer(m, { out, report, data, name, reportName, ms, limit }) {
    revoke('eq');
    const equalized = report.totals ? report : null;
    m.eq = equalized;
    const none = equalized && nothingToDo(equalized);
    m.out = none ? null : out;
    m.data = none ? null : data;
    ui.eqNothing.hidden = !none;
    ui.eqDownloads.hidden = Boolean(none);
    if (none) {
      ui.eqNothing.textContent = `Nothing to download: ${none}. The model is best quantized as it is.`;
    } else {
      setLink(ui.dlModel, blobUrl('eq', [out], 'application/octet-stream'), name);
      ui.dlModel.textContent = `Download ${name} (${formatBytes(out.length)})`;
      ui.dlData.replaceChildren(...Object.entries(data ?? {}).map(([file, b]) =>
        h('a', { class: 'button', href: blobUrl('eq', [b], 'application/octet-stream'), download: file,
          title: 'the weights the model keeps outside itself: save it in the same folder' },
        `Download ${file} (${formatBytes(b.length)})`)));
      setLink(ui.dlEqReport, blobUrl('eq', [JSON.stringify(report, null, 2)], 'application/json'), reportName);
    }
    ui.eqResult.hidden = false;
    ui.eqLayersHead.hidden = ui.eqLayers.hidden = !equalized;
    renderTotals(ui.eqTotals, equalized?.totals ?? null, ms, limit);
    renderEqLayers(ui.eqLayers, equalized?.layers ?? [], ui.eqOrder.value, 1);
    if (view.selected >= 0) showNode(view.graph.nodes[view.selected]);
    return none;
  }

  async function equalize() {
    if (!model || busy) return;
    const m = model;
    stop();
    const id = job;
    const opts = equalizeOptions();
    setBusy(`Reading ${m.file.name}…`, 0, boxes.eq);
    let frame = 0;
    let latest = null;
    const onProgress = (stage, fraction) => {
      latest = [stage, fraction];
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        if (id !== job || !latest) return;
        const [label, from, span] = STAGES[latest[0]] ?? [latest[0], 0, 1];
        setBusy(`${label}…`, Math.min(1, from + span * latest[1]));
      });
    };
    try {
      const t0 = performance.now();
      const { bytes, externalData } = await inputs(m);
      if (id !== job) return;
      setBusy('Equalizing…', 0);
      const name = `${m.stem}.equalized.onnx`;
      // a model with external data gets a new data file, named after it, to save beside it
      const dataName = `${name}.data`;
      const { model: out, report, externalData: data } = await worker.equalize(bytes, {
        ...opts, ranges: true, externalData, externalDataName: dataName, onProgress,
      });
      if (id !== job) return;
      const ms = performance.now() - t0;
      const none = offer(m, { out, report, data, name, reportName: `${m.stem}.equalize.json`, ms, limit: opts.reference ? null : report.totals.max_rounds });
      const t = report.totals;
      const gain = t.estimated_sqnr_db_before == null ? ''
        : `; estimated INT8 output SQNR ${t.estimated_sqnr_db_before.toFixed(1)} → ${t.estimated_sqnr_db_after.toFixed(1)} dB`;
      const text = `Equalized ${t.equalized} of ${t.layers} layers in ${took(ms)}${gain}.`;
      showProofForm(m);
      if (!none && canProve && sizeOf(m) + out.length <= AUTO_PROOF_BYTES) {
        // the proof goes on in the same job: the bar and Cancel stay where they are
        say(text);
        await prove(id, text);
      } else {
        setIdle(text + (none ? ` Nothing to download: ${none}.` : ''));
      }
    } catch (e) {
      if (id !== job) return;
      setIdle(explain(e, `Cannot equalize ${m.file.name}`) ?? 'Cancelled.', true);
      ui.equalize.focus();
    } finally {
      cancelAnimationFrame(frame);
    }
  }

  // ---------------------------------------------------------------- proof

  function showProofForm(m) {
    ui.proof.hidden = !m.out;
    ui.proofResult.hidden = true;
    delete ui.proofResult.dataset.maxRelErr;
    if (!canProve) {
      ui.proofNote.textContent = 'The proof runs onnxruntime-web, which this one-file page does not carry: ' +
        'open the served page (npm start) for it, or use verify() of the npm package.';
      ui.proofForm.hidden = true;
      return;
    }
    const ins = m.check.model.inputs;
    const open = openDims(ins);
    const sizes = chooseSizes(ins, m.sizes ?? {});
    m.sizes = sizes;
    const seen = new Set();
    ui.proofSizes.replaceChildren(...open.filter((d) => !seen.has(d.key) && seen.add(d.key)).map((d) =>
      h('label', { class: 'field' }, d.name ? `${d.name}` : `${d.input}, axis ${d.axis}`,
        h('input', { type: 'number', min: 1, max: 100000, step: 1, value: sizes[d.key], dataset: { key: d.key } }))));
    const big = sizeOf(m) + (m.out?.length ?? 0) > AUTO_PROOF_BYTES;
    ui.proofNote.textContent = (open.length ? 'Sizes for the inputs\' dynamic dimensions: ' : '') +
      (big ? `The model is over ${formatBytes(AUTO_PROOF_BYTES)}: the proof runs when asked (it loads both models in this tab).` : '');
    ui.proofForm.hidden = false;
    showImageHelp(m);
  }

  // ---------------------------------------------------------------- an image for the proof

  // what the image becomes, said before and after one is chosen
  function showImageHelp(m) {
    const img = imageInputOf(m.check.model.inputs);
    ui.proofImage.hidden = !img || !m.out;
    ui.tune.hidden = !img || !m.out;
    if (!img) return;
    ui.tuneHelp.textContent = 'Or choose the equalization by the outcome: pick a few images like those the model will see ' +
      '(more is better; they stay on this computer), scaled as the model was trained. Up to 30 equalizations of different ' +
      'strength run on them with INT8 weights, and the one whose outputs come closest to the original\'s per tensor, keeping ' +
      'per channel within 1.5 dB of the model as shipped, becomes the download. Correcting biases then takes the mean ' +
      'error of INT8 weights off each layer\'s bias, measured on the images: for a deployment with per-tensor INT8 weights ' +
      'only, as its FP32 outputs move.';
    const [, height, width] = sidesOf(shapesFor(m.check.model.inputs, m.sizes)[0].shape, img.layout);
    const as = `stretched to ${width} × ${height} pixels (the input '${img.name}', ${img.layout}), ` +
      `${img.channels === 3 ? 'its RGB values' : 'its grey level'} scaled to [0, 1]. No mean or standard deviation is applied: ` +
      'both models see the same input, so the comparison holds for a model trained on normalized images too.';
    ui.imageHelp.textContent = m.image
      ? `${m.image.file.name} (${m.image.bitmap.width} × ${m.image.bitmap.height}) runs in the proof with the seeded inputs, ${as}`
      : `Or drop one on this area. It is decoded here, never uploaded, and runs in the proof with the seeded inputs, ${as}`;
    ui.imagePreview.hidden = !m.image;
  }

  // a picked or dropped file: decoded now (a file that is no image is said at once), run in the proof;
  // none is taken while work runs (the button is disabled then too)
  async function useImage(file) {
    const m = model;
    if (!m?.out || !file || busy) return;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (e) {
      if (m !== model || busy) return;
      box = boxes.eq;
      ui.eqStatus.hidden = false;
      setIdle(`Cannot use ${file.name}: this browser cannot decode it as an image (${e.name}).`, true);
      return;
    }
    if (m !== model || busy) {
      bitmap.close();
      return;
    }
    m.image?.bitmap.close();
    m.image = { file, bitmap };
    showImageHelp(m);
    await prove();
  }

  // Tuning: the equalization chosen by the outcome on the user's images (tune() in the worker).
  // The chosen model replaces the download, and the proof runs on it.
  async function tuneOn(files) {
    const m = model;
    if (!m?.out || !files.length || busy || !canProve) return;
    stop();
    const id = job;
    const img = imageInputOf(m.check.model.inputs);
    const shape = shapesFor(m.check.model.inputs, m.sizes)[0].shape;
    const canvas = document.createElement('canvas');
    const scale = ui.tuneScale.value;
    const samples = [];
    setBusy(`Tuning: reading ${files.length === 1 ? 'the image' : `${files.length} images`}…`, 0, boxes.eq);
    try {
      for (const file of files) {
        let bitmap;
        try {
          bitmap = await createImageBitmap(file);
        } catch (e) {
          throw new TypeError(`this browser cannot decode ${file.name} as an image (${e.name})`);
        }
        try {
          samples.push({ [img.name]: scaleImage(imageTensor(bitmap, shape, img, canvas), img, scale) });
        } finally {
          bitmap.close();
        }
      }
      const { bytes, externalData } = await inputs(m);
      if (id !== job) return;
      const t0 = performance.now();
      const name = `${m.stem}.tuned.onnx`;
      const LABELS = {
        runtime: 'loading onnxruntime-web', shipped: 'the model as shipped', default: 'the default', search: 'trying strengths',
        bias: 'correcting biases', done: 'done',
      };
      const r = await worker.tune(bytes, {
        inputs: samples, externalData, transfer: false, equalize: { ranges: true, externalDataName: `${name}.data` },
        biasCorrection: ui.tuneBias.checked,
        onProgress: (stage, f) => { if (id === job) setBusy(`Tuning on ${plural(samples.length, 'image')}: ${LABELS[stage] ?? stage}…`, f); },
      });
      if (id !== job) return;
      const ms = performance.now() - t0;
      const { shipped, default: def, chosen } = r.scores;
      const both = (s) => `${s.tensor.toFixed(1)} per tensor, ${s.channel.toFixed(1)} per channel`;
      const scores = `INT8 output SQNR on them: as shipped ${both(shipped)}; default ${both(def)}`;
      const corrected = r.bias?.kept;
      const biasText = !r.bias ? '' : corrected
        ? ` Biases corrected for per-tensor INT8 on ${plural(r.bias.layers, 'layer')}: use this model only with per-tensor ` +
          `INT8 weights (its FP32 outputs are ${r.bias.fp32.toFixed(1)} dB from the original's).`
        : ` Correcting biases did not help on them (${r.bias.layers ? `${both(r.bias.scores)} dB` : 'no layer could take it'}).`;
      if (!r.choice && !corrected) {
        setIdle(`Tuned on ${plural(samples.length, 'image')} in ${took(ms)}: no equalization beats the model as shipped on them ` +
          `(${scores}, dB).${biasText} The download is still the default's: on inputs like these, keep the model as it is.`);
        return;
      }
      const flags = r.choice ? `onnx-cle equalize --objective=${r.choice.objective}${r.choice.iterations ? ` --iterations=${r.choice.iterations}` : ''} ` +
        `--strength=${r.choice.strength} --batch-norm=${r.choice.batchNorm}` : 'the model as shipped';
      const report = {
        ...r.report,
        tune: { images: files.map((f) => f.name), scaled: SCALINGS[scale].label, choice: r.choice, bias: r.bias, scores: r.scores, tried: r.tried },
      };
      offer(m, { out: r.model, report, data: r.externalData, name, reportName: `${m.stem}.tune.json`, ms, limit: null });
      const text = `Tuned on ${plural(samples.length, 'image')} in ${took(ms)}: ${scores}; chosen ${both(chosen)} dB ` +
        `(${flags}${corrected ? ', biases corrected' : ''}).${biasText}`;
      showProofForm(m);
      say(text);
      await prove(id, text);
    } catch (e) {
      if (id !== job) return;
      setIdle(explain(e, 'Cannot tune') ?? 'Cancelled.', true);
    }
  }

  // the image as the image input's tensor, at the sizes the proof runs with
  function imageFeed(m) {
    const img = imageInputOf(m.check.model.inputs);
    if (!img || !m.image) return null;
    const shape = shapesFor(m.check.model.inputs, m.sizes)[0].shape;
    const t = imageTensor(m.image.bitmap, shape, img, ui.imagePreview);
    const [, height, width] = sidesOf(shape, img.layout);
    ui.imagePreview.setAttribute('aria-label', `${m.image.file.name} as the model sees it, ${width} × ${height} pixels`);
    return { [img.name]: t };
  }

  async function prove(id = null, prefix = '') {
    const m = model;
    if (!m?.out || !canProve) return;
    if (id === null) {
      if (busy) return;
      stop();
      id = job;
    }
    for (const input of ui.proofSizes.querySelectorAll('input')) {
      if (Number.isInteger(input.valueAsNumber) && input.valueAsNumber >= 1) m.sizes[input.dataset.key] = input.valueAsNumber;
    }
    const lead = prefix ? `${prefix} ` : '';
    setBusy(`${lead}Proof: loading onnxruntime-web…`, 0, boxes.eq);
    const LABELS = {
      runtime: 'loading onnxruntime-web', original: 'running the original', equalized: 'running the equalized model',
      'before-tensor': 'the original with INT8 weights per tensor', 'after-tensor': 'the equalized model with INT8 weights per tensor',
      'before-channel': 'the original with INT8 weights per channel', 'after-channel': 'the equalized model with INT8 weights per channel',
    };
    try {
      showImageHelp(m);
      const given = imageFeed(m);
      const { bytes, externalData } = await inputs(m);
      if (id !== job) return;
      const r = await worker.verify(bytes, m.out, {
        sizes: m.sizes, externalData, equalizedExternalData: m.data ?? undefined, transfer: false,
        ...(given && { inputs: given }),
        onProgress: (stage, f) => { if (id === job) setBusy(`${lead}Proof: ${LABELS[stage] ?? stage}…`, f); },
      });
      if (id !== job) return;
      renderProof(ui.proofResult, r, given && m.image.file.name);
      const t = r.sqnrDb.perTensor;
      const g = r.given;
      const onImage = g ? `; on ${m.image.file.name}: within ${g.maxRelErr.toExponential(1)}, ` +
        `per tensor ${g.sqnrDb.perTensor.before.toFixed(1)} → ${g.sqnrDb.perTensor.after.toFixed(1)} dB` : '';
      setIdle(`${lead}Proof: outputs within ${r.maxRelErr.toExponential(1)}; INT8 output SQNR per tensor ` +
        `${t.before.toFixed(1)} → ${t.after.toFixed(1)} dB${onImage}.`);
    } catch (e) {
      if (id !== job) return;
      setIdle(`${lead}${explain(e, 'The proof failed') ?? 'Proof cancelled.'}`, !prefix);
    }
  }

  // SARIF is asked for only when wanted: it is a second pass over the model.
  async function sarif() {
    if (!model || busy) return;
    const m = model;
    if (!m.sarifUrl) {
      stop();
      const id = job;
      setBusy('Writing SARIF…', null, boxes.top);
      try {
        const { bytes, externalData } = await inputs(m);
        const log = await worker.check(bytes, { sarif: true, externalData });
        if (id !== job) return;
        // the library names the artifact 'model.onnx'; the page knows the file's name
        const text = JSON.stringify(log, null, 2).replaceAll('"uri": "model.onnx"', `"uri": ${JSON.stringify(m.file.name)}`);
        m.sarifUrl = blobUrl('check', [text], 'application/sarif+json');
        setIdle(`SARIF for ${m.file.name} is downloading.`);
      } catch (e) {
        if (id !== job) return;
        setIdle(explain(e, `Cannot write SARIF for ${m.file.name}`) ?? 'Cancelled.', true);
        return;
      }
    }
    const a = h('a', { href: m.sarifUrl, download: `${m.stem}.sarif`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  }

  function exportGraph() {
    if (!view.graph || !model) return;
    const url = URL.createObjectURL(new Blob([view.exportSvg()], { type: 'image/svg+xml' }));
    const a = h('a', { href: url, download: `${model.stem}.graph.svg`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // drop anywhere: a file dropped outside the zone must not replace the page
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth++;
    ui.drop.classList.add('over');
  });
  window.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      ui.drop.classList.remove('over');
      ui.proof.classList.remove('over');
    }
  });
  // files dropped on the proof, when it offers an image, are an image for it; anywhere else, a model
  const forImage = (e) => !ui.proofImage.hidden && !ui.proof.hidden && ui.proof.contains(e.target);
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    ui.proof.classList.toggle('over', forImage(e));
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    ui.drop.classList.remove('over');
    ui.proof.classList.remove('over');
    if (forImage(e)) useImage(e.dataTransfer.files[0]);
    else load(e.dataTransfer.files);
  });

  ui.drop.addEventListener('click', () => ui.input.click());
  ui.input.addEventListener('change', () => {
    const files = [...ui.input.files];
    ui.input.value = ''; // the same file picked again is a change too
    load(files);
  });
  ui.sample.addEventListener('click', () => {
    const { name, bytes } = sampleModel();
    load([{ name, size: bytes.length, made: bytes }]);
  });
  for (const b of Object.values(boxes)) {
    b.cancel.addEventListener('click', () => {
      if (!busy) return;
      stop();
      const inCard = box === boxes.eq;
      setIdle(model ? 'Cancelled. The report above is still the last one.' : 'Cancelled. Drop a model to start again.');
      if (inCard) ui.equalize.focus();
    });
  }
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    equalize();
  });
  // the image's size follows the dynamic dimensions as they are typed
  ui.proofSizes.addEventListener('input', (e) => {
    const f = e.target;
    if (!model?.sizes || !Number.isInteger(f.valueAsNumber) || f.valueAsNumber < 1) return;
    model.sizes[f.dataset.key] = f.valueAsNumber;
    showImageHelp(model);
  });
  ui.imagePick.addEventListener('click', () => ui.imageInput.click());
  ui.imageInput.addEventListener('change', () => {
    const [file] = ui.imageInput.files;
    ui.imageInput.value = '';
    useImage(file);
  });
  ui.tunePick.addEventListener('click', () => ui.tuneInput.click());
  ui.tuneInput.addEventListener('change', () => {
    const files = [...ui.tuneInput.files];
    ui.tuneInput.value = '';
    tuneOn(files);
  });
  ui.proofForm.addEventListener('submit', (e) => {
    e.preventDefault();
    prove();
  });
  ui.dlSarif.addEventListener('click', sarif);
  reference.addEventListener('change', referenceMode);
  ui.mapFilter.addEventListener('input', () => filter(ui.mapFilter.value));
  ui.eqOrder.addEventListener('change', () => {
    if (model?.eq) renderEqLayers(ui.eqLayers, model.eq.layers, ui.eqOrder.value, 1);
  });

  // tabs: Graph and Lists (arrow keys move between them, as the ARIA pattern has it)
  const choose = (tab, focus = false) => {
    for (const t of ui.tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
  };
  ui.tabs.forEach((t, i) => {
    t.addEventListener('click', () => choose(t));
    t.addEventListener('keydown', (e) => {
      const k = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!k) return;
      e.preventDefault();
      choose(ui.tabs[(i + k + ui.tabs.length) % ui.tabs.length], true);
    });
  });
  // long lists on a phone flow in the page, the first rows shown, the rest on request
  for (const b of document.querySelectorAll('.more-rows')) {
    b.addEventListener('click', () => {
      $(b.dataset.for).classList.remove('capped');
      b.hidden = true;
    });
  }

  ui.graphSearch.addEventListener('input', () => {
    const n = view.graph ? view.search(ui.graphSearch.value) : 0;
    ui.graphFound.textContent = ui.graphSearch.value.trim() ? (n ? `${n} found: Enter goes to the next` : 'none found') : '';
  });
  ui.graphSearch.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const at = view.nextMatch(e.shiftKey ? -1 : 1);
    if (at) ui.graphFound.textContent = `${at.at} of ${at.of}`;
  });
  $('graph-zoom-in').addEventListener('click', () => view.zoom(1.25));
  $('graph-zoom-out').addEventListener('click', () => view.zoom(0.8));
  $('graph-fit').addEventListener('click', () => view.fit());
  $('graph-export').addEventListener('click', exportGraph);

  let resize = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(() => redrawOpenPlots(ui.eqLayers), 150);
  });

  ui.cancel = boxes.top.cancel;
  for (const b of Object.values(boxes)) b.cancel.disabled = true;
  ui.equalize.disabled = true;
  ui.proofRun.disabled = true;
  ui.imagePick.disabled = true;
  ui.tunePick.disabled = true;
  // start the worker and compile the .wasm now, so the first model is quick
  worker.init().catch((e) => {
    const text = explain(e, 'onnx-cle could not start');
    if (text && !busy) setIdle(text, true);
  });
}
