#!/usr/bin/python3
"""Issue 16 study: can the balance (--objective=balance) be solved in a few
passes over the weights instead of Gauss-Seidel rounds?  Prints, per pass,
the largest imbalance left (|log2| of producer range over consumer range,
over channels not held at the clamp).  Nothing in src/ uses this; the
equalizer's own solver is cle_balance.c's Gauss-Seidel (bench/RESULTS.md,
notes, says what this found).

usage: /usr/bin/python3 bench/balance_study.py [--warmup=K] [--sweeps=S]
           [--passes=P] [--newton | --anderson=M | --coarse=E [--quiet] |
           --oracle=K1,K2.. | --probe | --profile] MODEL.onnx...

  --warmup=K  K Gauss-Seidel rounds first (ref_cle.py's, as balance mode does)
  --newton    each pass: the argmax entries of every row and column fixed
              (policy), the linear system of the balance equations in log
              scales, 2 d_i - d_a(i) - d_b(i) = log(rp_i / rq_i), solved by
              Jacobi sweeps to 1e-13 (plain policy iteration)
  default     each pass: a two-level step on that system: S Jacobi sweeps,
              one shift per region (least squares over the region-level
              system, which is singular where residual cycles leave free
              directions), S sweeps again
  --anderson=M  no linear model: Gauss-Seidel rounds (each a pass),
              Anderson-accelerated over the last M rounds (log scales)
  --coarse=E  two-level: Gauss-Seidel rounds, and after every E-th one a
              coarse shift, one unknown per region (coarse_shift); E = 0:
              plain Gauss-Seidel.  --quiet: only the passes that reach
              1e-3 and 1e-6 log2 (P passes at most)
  --oracle=K1,K2  the best a per-region shift can do: after K rounds,
              every region shifted by the mean of the error left there
              (against the point P rounds reach), then 8 rounds
  --smooth=MU  after K (--warmup) rounds, damped Newton steps with softened
              maxima (smooth_newton), MU the first damping (0.25)
  --probe     how far the policy's linear model holds: random moves of the
              log scales of size 1e-5 .. 1e-1, the share of channels whose
              argmax entry changes and the model's largest error
  --profile   the error Gauss-Seidel leaves after K (--warmup) rounds, per
              region (mean, spread), against the point 200 rounds reach
A pass = one read of every layer's weights (ranges with their argmax).
"""
import math
import sys

import numpy as np
import onnx
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ref_cle import Ref, usable


def ranges_arg(ref, l):
    """((output ranges, input feature of each one's maximum),
    (input ranges, output channel of each one's maximum)), as Ref.ranges."""
    kf = np.abs(l.kf) if l.kf is not None else 1.0
    fo = (kf / ref.out_scale(l)).astype(np.float32)
    fi = ref.in_scale(l).astype(np.float32)
    a, b = (fo, fi) if l.lead_out else (fi, fo)
    m = l.m.reshape(l.groups, l.per, l.d1)
    p = m * b.reshape(l.groups, 1, l.d1)
    r0 = p.max(axis=2).reshape(-1) * a
    c0 = (p.argmax(axis=2) + (np.arange(l.groups) * l.d1)[:, None]).reshape(-1)
    q = m * a.reshape(l.groups, l.per, 1)
    r1 = q.max(axis=1).reshape(-1) * b
    c1 = (q.argmax(axis=1) + (np.arange(l.groups) * l.per)[:, None]).reshape(-1)
    return ((r0, c0), (r1, c1)) if l.lead_out else ((r1, c1), (r0, c0))


def gather(ref, base, n):
    """rp, rq over all balanced channels (equal to Ref.region_ranges), and
    each one's upstream (pa) and downstream (qb) channel; n: none (a
    region not balanced)."""
    rp, rq = np.zeros(n), np.zeros(n)
    pa, qb = np.full(n, n), np.full(n, n)
    cache = {id(l): ranges_arg(ref, l) for l in ref.layers if l.active}
    for r, o in base.items():
        R = ref.regions[r]
        for l in R["producers"]:
            (ro, fi), _ = cache[id(l)]
            sl = slice(o + l.out_off, o + l.out_off + l.c_out)
            up = base[l.in_region] + l.in_off + fi // l.in_rep if l.in_region in base else np.full(l.c_out, n)
            better = ro > rp[sl]
            rp[sl] = np.where(better, ro, rp[sl])
            pa[sl] = np.where(better, up, pa[sl])
        for l in R["consumers"]:
            _, (ri, oc) = cache[id(l)]
            k = l.c_in // l.in_rep
            rr = ri.reshape(k, l.in_rep)
            at = rr.argmax(axis=1)
            v = rr.max(axis=1)
            oo = oc.reshape(k, l.in_rep)[np.arange(k), at]
            dn = base[l.out_region] + l.out_off + oo if l.out_region in base else np.full(k, n)
            sl = slice(o + l.in_off, o + l.in_off + k)
            better = v > rq[sl]
            rq[sl] = np.where(better, v, rq[sl])
            qb[sl] = np.where(better, dn, qb[sl])
    return rp, rq, pa, qb


def closed(pa, qb, free, n):
    """Channels whose upstream and downstream links never reach a region
    that is not balanced (nor a channel that does not move): on them the
    pass's linear system is singular, a free direction of the balance."""
    reach = np.zeros(n + 1, bool)
    reach[n] = True
    reach[:n] = ~free
    while True:
        nxt = reach.copy()
        nxt[:n] |= reach[pa] | reach[qb]
        if (nxt == reach).all():
            return int(n - reach[:n].sum())
        reach = nxt


def jacobi(r, pa, qb, free, n, d, sweeps, tol=0.0):
    for _ in range(sweeps):
        nd = np.where(free, (r + d[pa] + d[qb]) * 0.5, 0.0)
        moved = np.abs(nd - d[:n]).max(initial=0.0)
        d[:n] = nd
        if moved <= tol:
            break
    return d


def two_level(ref, base, n, r, pa, qb, free, sweeps):
    regs = sorted(base)
    k = len(regs)
    reg_of = np.full(n + 1, -1)
    for i, g in enumerate(regs):
        reg_of[base[g]:base[g] + ref.regions[g]["n_ch"]] = i
    d = jacobi(r, pa, qb, free, n, np.zeros(n + 1), sweeps)
    rho = np.where(free, r - (2 * d[:n] - d[pa] - d[qb]), 0.0)
    c, rhs = np.zeros((k, k)), np.zeros(k)
    fi = np.nonzero(free)[0]
    rr, ra, rb = reg_of[fi], reg_of[pa[fi]], reg_of[qb[fi]]
    np.add.at(c, (rr, rr), 2.0)
    np.add.at(c, (rr[ra >= 0], ra[ra >= 0]), -1.0)
    np.add.at(c, (rr[rb >= 0], rb[rb >= 0]), -1.0)
    np.add.at(rhs, rr, rho[fi])
    g = c.T @ c
    t = np.linalg.solve(g + 1e-10 * np.trace(g) / max(k, 1) * np.eye(k), c.T @ rhs)
    d[:n] += np.where(free, t[reg_of[:n]], 0.0)
    return jacobi(r, pa, qb, free, n, d, sweeps)[:n]


def imbalance(ref, base, n):
    """Largest |log2(rp / rq)| over usable channels not held at the clamp,
    what cle_balance.c reports as max_imbalance_log2; and the pieces of
    the balance equations (residual, upstream and downstream channel,
    which channels move) under the current scales."""
    rp, rq, pa, qb = gather(ref, base, n)
    x = np.concatenate([np.log(ref.s[r]) for r in base]) if n else np.zeros(0)
    lim = math.log(ref.max_scale)
    ok = usable(rp) & usable(rq)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = np.where(ok, np.log(rp / np.where(ok, rq, 1.0)), 0.0)
    held = lim * (1 - 1e-12)  # at the clamp, up to the rounding of log(exp(x))
    free = ok & ~((x >= held) & (res > 0)) & ~((x <= -held) & (res < 0))
    return np.abs(res[free]).max(initial=0.0) / math.log(2), x, res, pa, qb, free


def set_scales(ref, base, x):
    for r, o in base.items():
        ref.s[r][:] = np.exp(x[o:o + len(ref.s[r])])
    for l in ref.layers:
        l.dirty = True


def gs_round(ref):
    done = [False] * len(ref.regions)
    for r in range(len(ref.regions)):
        if ref.s[r] is not None and not done[r]:
            ref.balance(r, done)


def anderson(ref, base, n, passes, mem):
    """Type-II Anderson mixing of the Gauss-Seidel map over log scales."""
    lim = math.log(ref.max_scale)
    xs, fs = [], []
    x = imbalance(ref, base, n)[1]
    for p in range(passes):
        gs_round(ref)
        f = imbalance(ref, base, n)[1] - x
        xs.append(x.copy())
        fs.append(f)
        del xs[:-(mem + 1)], fs[:-(mem + 1)]
        if len(xs) > 1:
            df = np.stack([fs[i + 1] - fs[i] for i in range(len(fs) - 1)], 1)
            dx = np.stack([xs[i + 1] - xs[i] for i in range(len(xs) - 1)], 1)
            gam = np.linalg.lstsq(df, f, rcond=None)[0]
            x = np.clip(x + f - (dx + df) @ gam, -lim, lim)
        else:
            x = x + f
        set_scales(ref, base, x)
        worst = imbalance(ref, base, n)[0]
        print(f"  round {p + 1}: imbalance {worst:.3e} log2")
        if worst <= 1e-6:
            break


def region_of(ref, base, n):
    """Each channel's region index (into sorted(base)); -1 at n (none)."""
    reg_of = np.full(n + 1, -1)
    for i, g in enumerate(sorted(base)):
        reg_of[base[g]:base[g] + ref.regions[g]["n_ch"]] = i
    return reg_of


def coarse_shift(ref, base, n, res, pa, qb, free):
    """One shift per region, d_r, least squares of the balance residuals
    after the shift, res_i - 2 d_R(i) + d_R(pa_i) + d_R(qb_i), over the
    free channels.  A uniform shift of a region's log scales scales every
    producer row and consumer column over it alike: no argmax inside a
    layer changes, so this model is exact (up to which of several
    producers or consumers wins).  Tikhonov 1e-12 relative keeps the free
    directions (shifts that change no residual) where they are."""
    reg_of = region_of(ref, base, n)
    k = len(base)
    fi = np.nonzero(free)[0]
    rows = np.zeros((len(fi), k))
    at = np.arange(len(fi))
    rows[at, reg_of[fi]] += 2.0
    for nb in (pa, qb):
        g = reg_of[nb[fi]]
        np.add.at(rows, (at[g >= 0], g[g >= 0]), -1.0)
    g = rows.T @ rows
    t = np.linalg.solve(g + 1e-12 * max(np.trace(g), 1.0) / max(k, 1) * np.eye(k), rows.T @ res[fi])
    return t[reg_of[:n]]


def two_grid(ref, base, n, passes, every, quiet):
    """Gauss-Seidel rounds, each `every` rounds followed by one coarse
    shift (coarse_shift; every 0: plain Gauss-Seidel); a pass is a
    Gauss-Seidel round or the read of every layer's ranges the coarse
    shift needs.  quiet: only the passes that first reach 1e-3 and 1e-6."""
    lim = math.log(ref.max_scale)
    used, rounds, hit = 0, 0, {}

    def note(worst, what):
        for t in (1e-3, 1e-6):
            if worst <= t and t not in hit:
                hit[t] = used
        if not quiet:
            print(f"  pass {used}: {what}, imbalance {worst:.3e} log2")

    while used < passes and 1e-6 not in hit:
        gs_round(ref)
        used, rounds = used + 1, rounds + 1
        worst, x, res, pa, qb, free = imbalance(ref, base, n)
        note(worst, f"round {rounds}")
        if every and rounds % every == 0 and worst > 1e-6 and used < passes:
            used += 1
            set_scales(ref, base, np.clip(x + coarse_shift(ref, base, n, res, pa, qb, free), -lim, lim))
            worst = imbalance(ref, base, n)[0]
            note(worst, "coarse shift")
    print(f"  {'plain Gauss-Seidel' if not every else f'coarse shift every {every} rounds'}: "
          f"1e-3 log2 at pass {hit.get(1e-3, '>' + str(used))}, 1e-6 at pass {hit.get(1e-6, '>' + str(used))}, "
          f"{worst:.3e} left after {used} passes")


def oracle(ref, base, n, at, total):
    """The best any one-shift-per-region coarse step could do: after K
    Gauss-Seidel rounds (each K in `at`), shift every region by the mean
    of the error left there (against the point `total` rounds reach),
    then 8 more rounds; beside it, plain Gauss-Seidel at the same rounds."""
    reg_of = region_of(ref, base, n)[:n]
    hist, plain = {}, {}
    for k in range(1, total + 1):
        gs_round(ref)
        worst, x = imbalance(ref, base, n)[:2]
        plain[k] = worst
        if k in at:
            hist[k] = x
    star = imbalance(ref, base, n)[1]
    print(f"  after {total} rounds: imbalance {plain[total]:.3e} log2")
    for k in sorted(hist):
        e, shift = star - hist[k], np.zeros(n)
        for i in range(len(base)):
            shift[reg_of == i] = e[reg_of == i].mean()
        set_scales(ref, base, hist[k] + shift)
        seen = [imbalance(ref, base, n)[0]]
        for _ in range(8):
            gs_round(ref)
            seen.append(imbalance(ref, base, n)[0])
        print(f"  {k} rounds + oracle shift, + 0..8 rounds: " + " ".join(f"{w:.1e}" for w in seen))
        print(f"  {k} rounds,  plain Gauss-Seidel, + 0..8 rounds: " +
              " ".join(f"{plain.get(k + j, float('nan')):.1e}" for j in range(9)))


def entries(ref, base, n):
    """Every weight entry (the abs-max over its kernel window) of every
    active layer: its output and input channel (n: a region not scaled)
    and log(|w| |batch-norm factor|); with the scales x (log), an entry's
    product is c - x[out] + x[in], a row's maximum the producer range of
    its output channel, a column's the consumer range of its input
    channel (in log)."""
    oc, ic, c0 = [], [], []
    for l in ref.layers:
        if not l.active:
            continue
        m = l.m.reshape(l.groups, l.per, l.d1).astype(np.float64)
        g, a, b = np.meshgrid(np.arange(l.groups), np.arange(l.per), np.arange(l.d1), indexing="ij")
        o, i = (g * l.per + a, g * l.d1 + b) if l.lead_out else (g * l.d1 + b, g * l.per + a)
        o, i, mv = o.reshape(-1), i.reshape(-1), m.reshape(-1)
        o, i, mv = o[mv > 0], i[mv > 0], mv[mv > 0]
        kf = np.abs(l.kf) if l.kf is not None else np.ones(l.c_out)
        c0.append(np.log(mv) + np.log(kf[o]))
        oc.append(base[l.out_region] + l.out_off + o if l.out_region in base else np.full(len(o), n))
        ic.append(base[l.in_region] + l.in_off + i // l.in_rep if l.in_region in base else np.full(len(o), n))
    oc, ic, c0 = np.concatenate(oc), np.concatenate(ic), np.concatenate(c0)
    sides = []
    for key, other in ((oc, ic), (ic, oc)):
        perm = np.argsort(key, kind="stable")
        perm = perm[key[perm] < n]
        k = key[perm]
        st = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        sides.append((perm, st, k[st], other))
    return oc, ic, c0, sides


def soft_eval(ent, n, x, lim, temp):
    """One pass at log scales x: the residuals log(rp / rq), which channels
    move (as imbalance()), and the Jacobian of the residuals with each
    maximum's derivative spread over its entries by softmax at temperature
    temp (0: the argmax entry alone, the policy's linear model)."""
    oc, ic, c0, sides = ent
    xe = np.append(x, 0.0)
    v = c0 - xe[oc] + xe[ic]
    top = []
    for perm, st, keys, _ in sides:
        t = np.full(n, -np.inf)
        t[keys] = np.maximum.reduceat(v[perm], st)
        top.append(t)
    ok = np.isfinite(top[0]) & np.isfinite(top[1])
    res = np.where(ok, top[0] - top[1], 0.0)
    held = lim * (1 - 1e-12)
    free = ok & ~((x >= held) & (res > 0)) & ~((x <= -held) & (res < 0))
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.where(free, -2.0, 1.0)]
    for (perm, st, keys, other), t in zip(sides, top):
        vv = v[perm]
        grp = np.repeat(keys, np.diff(np.r_[st, len(vv)]))
        z = (vv - t[grp]) / temp if temp > 0 else np.where(vv == t[grp], 0.0, -np.inf)
        sel = z > -30
        w, gg, oo = np.exp(z[sel]), grp[sel], other[perm][sel]
        w = w / np.bincount(gg, weights=w, minlength=n)[gg]
        keep = (oo < n) & free[gg]
        rows.append(gg[keep]), cols.append(oo[keep]), vals.append(w[keep])
    jac = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return res, free, jac


def smooth_newton(ref, base, n, warmup, passes, mu, quiet):
    """After the warmup's Gauss-Seidel rounds: Newton steps on the balance
    equations, (J - mu I) d = -res, J with each maximum's derivative
    softened over its near-ties (softmax at 0.5x the largest imbalance, in
    log), mu a Levenberg-like damping (mu large: a Gauss-Seidel-like step
    res / (2 + mu); 0: Newton) divided by 4 after a step that lowers the
    largest imbalance, else the step is undone and mu times 4.  A pass is
    a Gauss-Seidel round or one evaluation at a new point."""
    lim = math.log(ref.max_scale)
    ent = entries(ref, base, n)
    x = imbalance(ref, base, n)[1]
    res, free, _ = soft_eval(ent, n, x, lim, 0)
    worst, used, hit = np.abs(res[free]).max(initial=0.0) / math.log(2), warmup, {}
    while True:
        for t in (1e-3, 1e-6):
            if worst <= t and t not in hit:
                hit[t] = used
        if worst <= 1e-6 or used >= passes:
            break
        jac = soft_eval(ent, n, x, lim, 0.5 * worst * math.log(2))[2]
        d = sla.spsolve(jac - mu * sp.diags(free.astype(float)).tocsc(), -np.where(free, res, 0.0))
        xn = np.clip(x + d, -lim, lim)
        rn, fn, _ = soft_eval(ent, n, xn, lim, 0)
        wn, used = np.abs(rn[fn]).max(initial=0.0) / math.log(2), used + 1
        if not quiet:
            print(f"  pass {used}: mu {mu:.1e}, step {np.abs(d).max(initial=0.0):.3f}, imbalance {wn:.3e} log2"
                  + ("" if wn < worst else ", undone"))
        if wn < worst:
            x, res, free, worst, mu = xn, rn, fn, wn, mu / 4
        else:
            mu *= 4
    set_scales(ref, base, x)
    print(f"  smoothed Newton after {warmup} Gauss-Seidel rounds: 1e-3 log2 at pass "
          f"{hit.get(1e-3, '>' + str(used))}, 1e-6 at pass {hit.get(1e-6, '>' + str(used))}, "
          f"{worst:.3e} left after {used} passes (imbalance() says {imbalance(ref, base, n)[0]:.3e})")


def probe(ref, base, n):
    worst, x, res, pa, qb, free = imbalance(ref, base, n)
    rng = np.random.default_rng(0)
    for eps in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1):
        d = rng.standard_normal(n) * eps
        set_scales(ref, base, x + d)
        _, _, res1, pa1, qb1, _ = imbalance(ref, base, n)
        dd = np.append(d, 0.0)
        err = np.abs((res1 - res) + (2 * d - dd[pa] - dd[qb]))[free]
        moved = ((pa1 != pa) | (qb1 != qb))[free].mean()
        print(f"  moves of {eps:g}: {moved:.1%} of the channels change their argmax entry, "
              f"model error up to {err.max(initial=0.0) / eps:.2f}x the move")
    set_scales(ref, base, x)


def profile(ref, base, n, done):
    x = imbalance(ref, base, n)[1]
    for _ in range(200 - done):
        gs_round(ref)
    e = x - imbalance(ref, base, n)[1]
    for r, o in base.items():
        seg = e[o:o + len(ref.s[r])]
        print(f"  region {r}: {len(seg)} channels, error {seg.mean():+.3f} mean, {seg.std():.3f} spread")


def study(path, warmup, sweeps, passes, newton, mem, probing, profiling, coarse, quiet, at, smooth):
    ref = Ref(onnx.load(path))
    ref.plan()
    for l in ref.layers:
        if l.why is None:
            ref.prepare(l)
            l.dirty = True
    ref.s = [np.ones(R["n_ch"]) if R["blocked"] is None and
             all(l.active for l in R["producers"] + R["consumers"]) else None for R in ref.regions]
    for _ in range(warmup):
        gs_round(ref)
    base, n = {}, 0
    for r, s in enumerate(ref.s):
        if s is not None:
            base[r], n = n, n + len(s)
    lim = math.log(ref.max_scale)
    print(f"{path}: {len(base)} regions, {n} channels, {warmup} Gauss-Seidel rounds first")
    if probing:
        return probe(ref, base, n)
    if profiling:
        return profile(ref, base, n, warmup)
    if mem:
        return anderson(ref, base, n, passes, mem)
    if smooth is not None:
        return smooth_newton(ref, base, n, warmup, passes, smooth, quiet)
    if at:
        return oracle(ref, base, n, at, passes)
    if coarse is not None:
        return two_grid(ref, base, n, passes, coarse, quiet)
    for p in range(passes):
        worst, x, res, pa, qb, free = imbalance(ref, base, n)
        print(f"  pass {p + 1}: imbalance {worst:.3e} log2, {n - free.sum()} channels held, "
              f"{closed(pa, qb, free, n)} in closed sets")
        if worst <= 1e-6:
            break
        if newton:
            d = jacobi(res, pa, qb, free, n, np.zeros(n + 1), 100000, 1e-13)[:n]
        else:
            d = two_level(ref, base, n, res, pa, qb, free, sweeps)
        set_scales(ref, base, np.clip(x + d, -lim, lim))


def main(argv):
    opt = {a.split("=")[0]: a.split("=")[1] if "=" in a else "1" for a in argv if a.startswith("--")}
    files = [a for a in argv if not a.startswith("--")]
    if not files:
        sys.exit(__doc__)
    for f in files:
        study(f, int(opt.get("--warmup", 0)), int(opt.get("--sweeps", 30)), int(opt.get("--passes", 8)),
              "--newton" in opt, int(opt.get("--anderson", 0)), "--probe" in opt,
              "--profile" in opt, int(opt["--coarse"]) if "--coarse" in opt else None, "--quiet" in opt,
              [int(k) for k in opt["--oracle"].split(",")] if "--oracle" in opt else [],
              float(opt["--smooth"]) if "--smooth" in opt else None)


if __name__ == "__main__":
    main(sys.argv[1:])
