// app.js: the page.  Files come in through the drop zone or the file
// picker; the package's Web Worker (onnx-cle/worker) does all the work, so
// the page stays responsive on large models, with a progress bar and a
// cancel button; reports come out as DOM (render.js), downloads as blob:
// URLs.  Nothing is fetched besides the page's own files.
import { createWorker } from '../wasm/worker.js';
import { FORM_OPTIONS } from './options.js';
import {
  h, formatBytes, took, renderFacts, renderFindings, renderMap, renderTotals, renderEqLayers, redrawOpenPlots,
} from './render.js';

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
  try {
    return new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    const err = new Error(`the browser could not read ${file.name} into memory (${e.name}); it may be too big for this tab`);
    err.name = e.name === 'NotReadableError' ? 'RangeError' : e.name;
    throw err;
  }
}

/**
 * Starts the page.  options.worker: createWorker()'s options (the one-file
 * demo passes its inlined worker script and .wasm there).
 */
export function start(options = {}) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    drop: $('drop'), input: $('file-input'), message: $('message'), progress: $('progress'), cancel: $('cancel'),
    report: $('report'), name: $('model-name'), facts: $('model-facts'), dlCheck: $('dl-check'), dlSarif: $('dl-sarif'),
    findings: $('findings'), counts: $('findings-counts'),
    mapSummary: $('map-summary'), mapLayers: $('map-layers'), mapRegions: $('map-regions'), mapFilter: $('map-filter'),
    form: $('eq-form'), equalize: $('equalize'), eqResult: $('eq-result'), eqTotals: $('eq-totals'),
    dlModel: $('dl-model'), dlData: $('dl-data'), dlEqReport: $('dl-eq-report'), eqOrder: $('eq-order'), eqLayers: $('eq-layers'),
  };
  // equalize's options, each from its control (options.js)
  const form = Object.entries(FORM_OPTIONS).map(([key, id]) => [key, $(id)]);
  const reference = $(FORM_OPTIONS.reference);
  const relu6 = $(FORM_OPTIONS.relu6);
  const worker = createWorker(options.worker);

  let model = null; // { file, extra, stem, check, sarifUrl, eq }
  let job = 0; // the running job's number: a result for an older one is dropped
  let busy = false;
  let filter = () => {};
  let urls = { check: [], eq: [] };

  const say = (text, error = false) => {
    ui.message.textContent = text;
    ui.message.classList.toggle('is-error', error);
  };
  const setBusy = (text, fraction = null) => {
    busy = true;
    document.body.dataset.state = 'busy';
    say(text);
    if (fraction === null) ui.progress.removeAttribute('value');
    else ui.progress.value = fraction;
    ui.cancel.disabled = false;
    ui.equalize.disabled = true;
    ui.dlSarif.disabled = true;
  };
  const setIdle = (text, error = false) => {
    busy = false;
    document.body.dataset.state = error ? 'error' : 'ready';
    say(text, error);
    ui.progress.value = error ? 0 : 1;
    ui.cancel.disabled = true;
    ui.equalize.disabled = !model;
    ui.dlSarif.disabled = !model;
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

  // Stops whatever runs: the worker ends (its pending calls reject with
  // AbortError, which the job ignores since its number is old) and the next
  // call starts a fresh one.
  const stop = () => {
    job++;
    if (busy) worker.cancel();
  };

  function clear() {
    model = null;
    revoke('check');
    revoke('eq');
    ui.report.hidden = true;
    ui.eqResult.hidden = true;
    ui.mapFilter.value = '';
    for (const a of [ui.dlCheck, ui.dlModel, ui.dlEqReport]) a.removeAttribute('href');
    ui.dlData.replaceChildren();
  }

  function showReport(m, info) {
    ui.name.textContent = m.file.name;
    renderFacts(ui.facts, { info, check: m.check, extra: m.extra.map((f) => f.name) });
    renderFindings(ui.findings, ui.counts, m.check, info.op_counts);
    filter = renderMap({ summary: ui.mapSummary, layers: ui.mapLayers, regions: ui.mapRegions }, m.check);
    setLink(ui.dlCheck, blobUrl('check', [JSON.stringify(m.check, null, 2)], 'application/json'), `${m.stem}.check.json`);
    ui.eqResult.hidden = true;
    ui.report.hidden = false;
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
      setIdle(big, true);
      return;
    }
    setBusy(`Reading ${file.name} (${formatBytes(file.size)})…`);
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
      setIdle(`Checked ${file.name} in ${took(performance.now() - t0)}: ${s.errors} errors, ${s.warnings} warnings; ` +
        `CLE pairs ${s.paired} of ${s.layers} layers${more}.`);
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

  async function equalize() {
    if (!model || busy) return;
    const m = model;
    stop();
    const id = job;
    const opts = equalizeOptions();
    setBusy(`Reading ${m.file.name}…`, 0);
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
      revoke('eq');
      m.eq = report;
      setLink(ui.dlModel, blobUrl('eq', [out], 'application/octet-stream'), name);
      ui.dlModel.textContent = `Download ${name} (${formatBytes(out.length)})`;
      ui.dlData.replaceChildren(...Object.entries(data ?? {}).map(([file, b]) =>
        h('a', { class: 'button', href: blobUrl('eq', [b], 'application/octet-stream'), download: file,
          title: 'the weights the model keeps outside itself: save it in the same folder' },
        `Download ${file} (${formatBytes(b.length)})`)));
      setLink(ui.dlEqReport, blobUrl('eq', [JSON.stringify(report, null, 2)], 'application/json'), `${m.stem}.equalize.json`);
      ui.eqResult.hidden = false;
      renderTotals(ui.eqTotals, report.totals, ms);
      renderEqLayers(ui.eqLayers, report.layers, ui.eqOrder.value, 1);
      const t = report.totals;
      const gain = t.estimated_sqnr_db_before == null ? ''
        : `; estimated INT8 output SQNR ${t.estimated_sqnr_db_before.toFixed(1)} → ${t.estimated_sqnr_db_after.toFixed(1)} dB`;
      setIdle(`Equalized ${t.equalized} of ${t.layers} layers in ${took(ms)}${gain}.`);
    } catch (e) {
      if (id !== job) return;
      setIdle(explain(e, `Cannot equalize ${m.file.name}`) ?? 'Cancelled.', true);
    } finally {
      cancelAnimationFrame(frame);
    }
  }

  // SARIF is asked for only when wanted: it is a second pass over the model.
  async function sarif() {
    if (!model || busy) return;
    const m = model;
    if (!m.sarifUrl) {
      stop();
      const id = job;
      setBusy('Writing SARIF…');
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
    }
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    ui.drop.classList.remove('over');
    load(e.dataTransfer.files);
  });

  ui.drop.addEventListener('click', () => ui.input.click());
  ui.input.addEventListener('change', () => {
    const files = [...ui.input.files];
    ui.input.value = ''; // the same file picked again is a change too
    load(files);
  });
  ui.cancel.addEventListener('click', () => {
    if (!busy) return;
    stop();
    setIdle(model ? 'Cancelled. The report above is still the last one.' : 'Cancelled. Drop a model to start again.');
  });
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    equalize();
  });
  ui.dlSarif.addEventListener('click', sarif);
  reference.addEventListener('change', referenceMode);
  ui.mapFilter.addEventListener('input', () => filter(ui.mapFilter.value));
  ui.eqOrder.addEventListener('change', () => {
    if (model?.eq) renderEqLayers(ui.eqLayers, model.eq.layers, ui.eqOrder.value, 1);
  });
  let resize = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(() => redrawOpenPlots(ui.eqLayers), 150);
  });

  ui.cancel.disabled = true;
  ui.equalize.disabled = true;
  // start the worker and compile the .wasm now, so the first model is quick
  worker.init().catch((e) => {
    const text = explain(e, 'onnx-cle could not start');
    if (text && !busy) setIdle(text, true);
  });
}
