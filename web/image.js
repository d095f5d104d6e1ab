// image.js — the proof on a picture of the user's: which models take one
// (one float input of rank 4 with 1 or 3 channels, NCHW, or NHWC when the
// last axis is 1 or 3 and the second is not), and the picture as that
// input's tensor: decoded by the browser, stretched to the input's H × W on
// a canvas, RGB (or its luma for 1 channel) scaled to [0, 1], repeated over
// the batch.  No mean or std: both models see the same values, so the
// comparison holds whatever normalization the model was trained with.

const FLOATS = ['float32', 'float16', 'float64'];
const isChannels = (d) => d === 1 || d === 3;
// larger canvases fail in some browsers, and such an input is no picture
const MAX_SIDE = 8192;

/**
 * The model's image input, from the check report's inputs ([{ name,
 * elem_type, shape }]): { name, layout: 'NCHW' | 'NHWC', channels }, or
 * null when the model does not take one.
 */
export function imageInputOf(inputs) {
  if (!inputs || inputs.length !== 1) return null;
  const [inp] = inputs;
  const s = inp.shape;
  if (!FLOATS.includes(inp.elem_type ?? inp.type) || !Array.isArray(s) || s.length !== 4) return null;
  if (isChannels(s[1])) return { name: inp.name, layout: 'NCHW', channels: s[1] };
  if (isChannels(s[3])) return { name: inp.name, layout: 'NHWC', channels: s[3] };
  return null;
}

/** [batch, height, width] of a concrete input shape in the given layout. */
export function sidesOf(shape, layout) {
  return layout === 'NCHW' ? [shape[0], shape[2], shape[3]] : [shape[0], shape[1], shape[2]];
}

/**
 * The picture (an ImageBitmap) as the input's tensor { data, dims } for the
 * concrete shape; drawn on canvas (which is left showing what the model
 * sees).  Throws when the sides are too big for a canvas.
 */
export function imageTensor(bitmap, shape, { layout, channels }, canvas) {
  const [n, height, width] = sidesOf(shape, layout);
  if (width > MAX_SIDE || height > MAX_SIDE)
    throw new Error(`an input of ${width} × ${height} pixels is more than a canvas takes here (${MAX_SIDE} a side)`);
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  // transparent parts on white, as a viewer shows them
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0, width, height);
  const px = ctx.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const one = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    const r = px[4 * i] / 255;
    const g = px[4 * i + 1] / 255;
    const b = px[4 * i + 2] / 255;
    if (channels === 1) one[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    else if (layout === 'NCHW') {
      one[i] = r;
      one[plane + i] = g;
      one[2 * plane + i] = b;
    } else {
      one[3 * i] = r;
      one[3 * i + 1] = g;
      one[3 * i + 2] = b;
    }
  }
  const data = new Float32Array(n * one.length);
  for (let k = 0; k < n; k++) data.set(one, k * one.length);
  return { data, dims: [...shape] };
}

/** How the picture's [0, 1] values are scaled for tuning, where the input's statistics matter. */
export const SCALINGS = {
  unit: { label: '[0, 1]', mean: [0, 0, 0], std: [1, 1, 1] },
  imagenet: { label: 'ImageNet mean and std', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  signed: { label: '[-1, 1]', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
};

/** t ({ data, dims } from imageTensor) scaled in place as SCALINGS[how] says, per channel. */
export function scaleImage(t, { layout, channels }, how) {
  const { mean, std } = SCALINGS[how];
  const [, height, width] = sidesOf(t.dims, layout);
  const plane = height * width;
  for (let i = 0; i < t.data.length; i++) {
    // the channel of element i: NCHW planes of H·W, NHWC interleaved; one channel: the mean of the three
    const c = channels === 1 ? -1 : layout === 'NCHW' ? Math.floor(i / plane) % channels : i % channels;
    const m = c < 0 ? (mean[0] + mean[1] + mean[2]) / 3 : mean[c];
    const s = c < 0 ? (std[0] + std[1] + std[2]) / 3 : std[c];
    t.data[i] = (t.data[i] - m) / s;
  }
  return t;
}
