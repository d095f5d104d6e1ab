// options.js — what the page does with each of equalize's options: the
// form control that sets it (id in index.html), or why the page sets it
// itself or leaves it out.  Every option of the C library's table is in
// exactly one of these, and tests/js/options.test.mjs holds this file,
// index.html's controls (type, default, range, choices) and that table to
// each other: an option added in C fails the test until the page says
// what it does with it.

/** Option → the id of the form control that sets it (checkbox, select or number). */
export const FORM_OPTIONS = {
  objective: 'opt-objective',
  batchNorm: 'opt-batch-norm',
  hbf: 'opt-hbf',
  relu6: 'opt-relu6',
  reference: 'opt-reference',
  pow2Scales: 'opt-pow2',
  iterations: 'opt-iterations',
  tolerance: 'opt-tolerance',
  maxScale: 'opt-max-scale',
};

/** Options the page sets on every equalize, and why. */
export const PAGE_SETS = {
  ranges: 'the layer table plots every layer\'s ranges',
  externalDataName: 'the data file is named after the equalized model',
};

/** Options the page does not offer, and why. */
export const PAGE_OMITS = {
  strength: 'a choice for tune() to make on the user\'s inputs (the npm package), not a number to guess in a form',
  inlineExternal: 'the page hands back the data file for the user to save beside the model',
  allowInvalid: 'the page shows the findings that make a model invalid and equalizes only valid ones',
};
