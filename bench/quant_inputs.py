#!/usr/bin/python3
"""Inputs for the quality benchmark (bench/quant.mjs), made here, seeded, no
downloads: rendered text for PP-OCR, speech-like audio for Silero VAD,
photo crops for the vision fixtures, and Gaussian noise for every model.

usage: /usr/bin/python3 bench/quant_inputs.py OUTDIR FAMILY...

FAMILY is one of
  ocr-det           text pages, 640x640 RGB, ImageNet mean/std on 0..1
  ocr-rec           text lines, 48x320, (x/255 - 0.5) / 0.5
  ocr-cls           text lines, 48x192, (x/255 - 0.5) / 0.5, half of them upside down
  vad               16 kHz mono clips: espeak-ng speech, pauses, background noise
  vad-heldout       the same kind of clips, other voices and sentences, its own
                    seed: inputs a choice made on `vad` is not scored on
  photo:HxW         RGB photo crops resized to HxW, ImageNet mean/std on 0..1
  vec:BxN           B vectors of N values: grey 4x(N/4) photo patches, standardized
  calib:FAMILY      FAMILY's kind made with its own seed (other text, crops,
                    levels; for vad the held-out voices and sentences): the
                    inputs tune() chooses on, which the scores are not taken on
For each it writes OUTDIR/FAMILY.bin (float32, little-endian, the samples one
after another) and OUTDIR/FAMILY.json: {"realistic": [sample...], "noise":
[sample...]}, each sample {"offset" (in floats), "shape", "what"}. The
realistic samples come first in the order bench/quant.mjs takes them, so
--quick takes a prefix. A family is made again only when this script changed
(its hash is in the .json).

Needs python3-numpy and python3-pil; fonts-dejavu-core, fonts-liberation,
fonts-wqy-microhei (CJK), espeak-ng, and python3-skimage's sample photos where
present (bench/QUALITY.md says what stands in for a missing one).
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import wave

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = os.path.abspath(__file__)
with open(HERE, "rb") as f:
    SCRIPT_HASH = hashlib.sha256(f.read()).hexdigest()[:16]

FONTS_LATIN = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
]
FONT_CJK = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

LATIN = [
    "Invoice No. 20417 - due 30 days net",
    "The quick brown fox jumps over the lazy dog.",
    "Total amount: EUR 1,284.50 (VAT 19%)",
    "Cross-layer equalization keeps the function",
    "Meeting moved to Thursday, 14:30, room B2",
    "Please sign and return one copy by mail.",
    "Order #A-5531  Qty 12  Unit price 3.99",
    "Quantization noise reaches the output",
    "Warranty: two years from the date of purchase",
    "www.example.org/help  support@example.org",
    "Station 7 -> Central Park: 12 min",
    "Batch normalization statistics, folded",
]
CJK = [
    "今天天气很好，我们去公园散步。",
    "发票号码 20417 合计金额 1284.50 元",
    "请在三十天内付款",
    "光学字符识别测试文本",
    "北京市海淀区中关村大街",
    "会议改到星期四下午两点半",
    "量化噪声会传到输出",
    "欢迎光临 营业时间 9:00-21:00",
]
SPEECH = [
    ("en-us", "The quick brown fox jumps over the lazy dog."),
    ("de", "Heute ist das Wetter schön, wir gehen in den Park."),
    ("cmn", "今天天气很好，我们去公园。"),
    ("en-gb", "Please leave a message after the tone."),
]
SPEECH_HELDOUT = [
    ("en-gb", "The train to Edinburgh leaves from platform nine in ten minutes."),
    ("fr", "Nous avons rendez-vous demain matin devant la gare."),
    ("es", "Mañana vamos a visitar a mis abuelos en el campo."),
    ("en-us", "Could you turn the music down a little, please?"),
    ("it", "La cena è pronta, venite a tavola."),
]
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "ihc.png"]
PHOTO_DIRS = ["/usr/lib/python3/dist-packages/skimage/data"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def rng_for(name):
    """A generator seeded by the family's name: each family is reproducible alone."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"))


# ---------------------------------------------------------------- images


def paper(rng, h, w):
    """An off-white page: a tint, slow shading, fibre-like noise. uint8 HxWx3."""
    tint = np.array([rng.uniform(225, 250), rng.uniform(220, 245), rng.uniform(205, 240)])
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    shade = 12 * np.sin(2 * np.pi * (rng.uniform(0.2, 0.8) * yy + rng.uniform(0.2, 0.8) * xx) + rng.uniform(0, 6))
    img = tint[None, None, :] + shade[..., None] + rng.normal(0, 4, (h, w, 1)) + rng.normal(0, 2, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def ink(rng):
    dark = rng.uniform(0, 70)
    return tuple(int(dark + rng.uniform(-15, 15)) for _ in range(3)) if rng.uniform() < 0.7 else \
        tuple(int(v) for v in rng.choice([[20, 40, 140], [140, 20, 20], [30, 90, 40]]))


def font(path, size):
    if not os.path.exists(path):
        raise SystemExit(f"quant_inputs.py: font {path} is missing (npm run bootstrap installs it)")
    return ImageFont.truetype(path, size)


def finish(rng, img, blur):
    """Blur and sensor noise on an RGB PIL image; float32 HxWx3 in 0..255."""
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    a = np.asarray(img, np.float32) + rng.normal(0, 3, (img.height, img.width, 3))
    return np.clip(a, 0, 255)


def text_page(rng, h, w):
    """A page of text lines (Latin and CJK, several fonts and sizes), and the ink mask."""
    img = Image.fromarray(paper(rng, h, w))
    mask = Image.new("L", (w, h), 0)
    d, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    y = int(rng.uniform(10, 40))
    while y < h - 30:
        cjk = rng.uniform() < 0.35
        size = int(rng.uniform(16, 40))
        f = font(FONT_CJK if cjk else FONTS_LATIN[rng.integers(len(FONTS_LATIN))], size)
        text = (CJK if cjk else LATIN)[rng.integers(len(CJK) if cjk else len(LATIN))]
        x = int(rng.uniform(8, w * 0.3))
        d.text((x, y), text, font=f, fill=ink(rng))
        dm.text((x, y), text, font=f, fill=255)
        y += int(size * rng.uniform(1.3, 2.2))
    pix = finish(rng, img, rng.uniform(0.3, 1.0))
    return pix, np.asarray(mask) > 0


def text_line(rng, h, w, i, fit=True):
    """One text line scaled to height h and padded to width w as PaddleOCR's
    recognizer and classifier preprocessing does (aspect kept; wider lines
    squeezed to w). With fit, the text is cut to what fits at its aspect."""
    cjk = i % 2 == 1
    text = (CJK if cjk else LATIN)[(i // 2) % (len(CJK) if cjk else len(LATIN))]
    f = font(FONT_CJK if cjk else FONTS_LATIN[i % len(FONTS_LATIN)], 64)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = 10
    while True:
        x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=f)
        cw, ch = x1 - x0 + 2 * pad, 64 + 2 * pad
        cut = text[:-1] if cjk else text.rsplit(" ", 1)[0]
        if not fit or cw * h <= w * ch or not cut or cut == text:
            break
        text = cut
    img = Image.fromarray(paper(rng, ch, cw))
    ImageDraw.Draw(img).text((pad - x0, pad - y0 + (64 - (y1 - y0)) // 2), text, font=f, fill=ink(rng))
    tw = min(w, max(1, round(cw * h / ch)))
    out = Image.new("RGB", (w, h), (128, 128, 128))
    out.paste(img.resize((tw, h), Image.BILINEAR), (0, 0))
    a = finish(rng, out, rng.uniform(0.2, 0.7))
    a[:, tw:, :] = 127.5  # PaddleOCR pads with 0 after normalization
    return a, text


def chw(a):
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


def norm_imagenet(pix):
    return chw((pix / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def norm_half(pix):
    return chw(pix / 127.5 - 1.0).astype(np.float32)


def fam_ocr_det(rng):
    real = []
    for i in range(4):
        pix, _ = text_page(rng, 640, 640)
        real.append((norm_imagenet(pix), "text page 640x640"))
    noise = [(rng.standard_normal((1, 3, 320, 320)).astype(np.float32), "N(0,1) 320x320")]
    return real, noise


def fam_ocr_rec(rng):
    real = []
    for i in range(12):
        a, text = text_line(rng, 48, 320, i)
        real.append((norm_half(a), f"text line 48x320: {text}"))
    noise = [(rng.standard_normal((1, 3, 48, 320)).astype(np.float32), "N(0,1) 48x320") for _ in range(2)]
    return real, noise


def fam_ocr_cls(rng):
    real = []
    for i in range(16):
        a, text = text_line(rng, 48, 192, i, fit=False)
        flip = (i // 2) % 2 == 1
        if flip:
            a = a[::-1, ::-1, :]
        real.append((norm_half(a), f"text line 48x192{' upside down' if flip else ''}: {text}"))
    noise = [(rng.standard_normal((1, 3, 48, 192)).astype(np.float32), "N(0,1) 48x192") for _ in range(4)]
    return real, noise


def load_photos():
    out = []
    for name in PHOTOS:
        for d in PHOTO_DIRS:
            p = os.path.join(d, name)
            if os.path.exists(p):
                out.append((name, Image.open(p).convert("RGB")))
                break
    return out


def one_over_f(rng, h, w):
    """An RGB image with a 1/f amplitude spectrum (natural-image-like), 0..255."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(h, w))
    chans = []
    base = np.fft.irfft2(amp * np.exp(2j * np.pi * rng.uniform(size=amp.shape)), s=(h, w))
    for _ in range(3):
        own = np.fft.irfft2(amp * np.exp(2j * np.pi * rng.uniform(size=amp.shape)), s=(h, w))
        chans.append(0.8 * base + 0.2 * own)
    a = np.stack(chans, -1)
    a = (a - a.mean()) / (a.std() + 1e-12)
    return np.clip(128 + 50 * a, 0, 255)


def photo_crops(rng, h, w, n):
    photos = load_photos()
    out = []
    for i in range(n):
        if photos:
            name, im = photos[i % len(photos)]
            side = int(min(im.width, im.height) * rng.uniform(0.25, 1.0))
            x = int(rng.uniform(0, im.width - side + 1))
            y = int(rng.uniform(0, im.height - side + 1))
            crop = im.crop((x, y, x + side, y + side * h // w)).resize((w, h), Image.LANCZOS)
            if rng.uniform() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            out.append((np.asarray(crop, np.float32), f"crop of {name}"))
        else:
            out.append((one_over_f(rng, h, w), "1/f-spectrum noise image"))
    return out


def fam_photo(rng, h, w):
    real = [(norm_imagenet(a), f"{what} {h}x{w}") for a, what in photo_crops(rng, h, w, 16)]
    noise = [(rng.standard_normal((1, 3, h, w)).astype(np.float32), f"N(0,1) {h}x{w}") for _ in range(8)]
    return real, noise


def fam_vec(rng, b, n):
    """Rows of grey photo patches (4 x n/4), standardized over the whole set."""
    pw = max(1, n // 4)
    rows = []
    for _ in range(8):
        crops = photo_crops(rng, 4 * 8, pw * 8, b)
        block = []
        for a, what in crops:
            g = a.mean(-1)
            y, x = int(rng.integers(0, g.shape[0] - 4 + 1)), int(rng.integers(0, g.shape[1] - pw + 1))
            patch = g[y:y + 4, x:x + pw].reshape(-1)
            block.append(np.resize(patch, n))
        rows.append((np.stack(block), "grey photo patches"))
    allv = np.concatenate([r for r, _ in rows])
    mu, sd = allv.mean(), allv.std() + 1e-6
    real = [(((r - mu) / sd).astype(np.float32), f"{what}, {b}x{n}") for r, what in rows]
    noise = [(rng.standard_normal((b, n)).astype(np.float32), f"N(0,1) {b}x{n}") for _ in range(4)]
    return real, noise


# ---------------------------------------------------------------- audio

SR = 16000


def espeak(voice, text, speed, pitch):
    """espeak-ng's speech for text, resampled to 16 kHz, float in -1..1."""
    try:
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                             check=True, capture_output=True).stdout
    except FileNotFoundError:
        raise SystemExit("quant_inputs.py: espeak-ng is missing (npm run bootstrap installs it)")
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64) / 32768.0
    # band-limited resampling: keep the spectrum below 8 kHz
    n_out = int(round(len(x) * SR / rate))
    spec = np.fft.rfft(x)
    y = np.fft.irfft(spec[: n_out // 2 + 1], n_out) * (n_out / len(x))
    return y


def pink(rng, n):
    f = np.fft.rfftfreq(n)
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) / np.sqrt(np.maximum(f, 1.0 / n))
    y = np.fft.irfft(spec, n)
    return y / (y.std() + 1e-12)


def clip(rng, voice, text):
    """One utterance between pauses, at a random level, over pink noise and a mains hum."""
    s = espeak(voice, text, int(rng.uniform(150, 190)), int(rng.uniform(30, 70)))
    s = s * rng.uniform(0.3, 0.8) / (np.abs(s).max() + 1e-9)
    x = np.concatenate([np.zeros(int(SR * rng.uniform(0.3, 0.6))), s, np.zeros(int(SR * rng.uniform(0.3, 0.6)))])
    t = np.arange(len(x)) / SR
    x = x + 0.01 * rng.uniform(0.3, 1.5) * pink(rng, len(x)) + 0.003 * np.sin(2 * np.pi * 50 * t)
    return np.clip(x, -1, 1).astype(np.float32)


def fam_vad(rng, speech):
    real = []
    for voice, text in speech:
        x = clip(rng, voice, text)
        real.append((x[None], f"{len(x) / SR:.1f} s: espeak-ng {voice} speech between pauses, pink noise, 50 Hz hum"))
    noise = [((0.05 * rng.standard_normal(SR * 2)).astype(np.float32)[None], "2.0 s white noise, std 0.05")]
    return real, noise


# ---------------------------------------------------------------- main


def make(family):
    rng = rng_for(family)
    calib = family.startswith("calib:")
    if calib:  # the same kind, its own seed (other text, crops, levels); for VAD the held-out voices
        family = family[len("calib:"):]
        if family == "vad":
            family = "vad-heldout"
    if family == "ocr-det":
        return fam_ocr_det(rng)
    if family == "ocr-rec":
        return fam_ocr_rec(rng)
    if family == "ocr-cls":
        return fam_ocr_cls(rng)
    if family == "vad":
        return fam_vad(rng, SPEECH)
    if family == "vad-heldout":
        return fam_vad(rng, SPEECH_HELDOUT)
    kind, _, size = family.partition(":")
    a, _, b = size.partition("x")
    if kind == "photo" and a.isdigit() and b.isdigit():
        return fam_photo(rng, int(a), int(b))
    if kind == "vec" and a.isdigit() and b.isdigit():
        return fam_vec(rng, int(a), int(b))
    raise SystemExit(f"quant_inputs.py: unknown family '{family}'")


def write(outdir, family):
    stem = os.path.join(outdir, family.replace(":", "_"))
    try:
        with open(stem + ".json") as f:
            if json.load(f).get("script") == SCRIPT_HASH and os.path.exists(stem + ".bin"):
                return
    except (OSError, ValueError):
        pass
    real, noise = make(family)
    index = {"script": SCRIPT_HASH, "family": family, "realistic": [], "noise": []}
    offset = 0
    tmp = f".tmp-{os.getpid()}"  # two processes may make the same family: each writes its own, then renames
    with open(stem + ".bin" + tmp, "wb") as f:
        for key, samples in (("realistic", real), ("noise", noise)):
            for a, what in samples:
                a = np.ascontiguousarray(a, "<f4")
                f.write(a.tobytes())
                index[key].append({"offset": offset, "shape": list(a.shape), "what": what})
                offset += a.size
    os.replace(stem + ".bin" + tmp, stem + ".bin")
    with open(stem + ".json" + tmp, "w") as f:
        json.dump(index, f, indent=1)
    os.replace(stem + ".json" + tmp, stem + ".json")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for fam in sys.argv[2:]:
        write(sys.argv[1], fam)


if __name__ == "__main__":
    main()
