"""L-BFGS as torch.optim.LBFGS: the same two-loop recursion, history, tolerances and
closure protocol, and `line_search_fn="strong_wolfe"` (the bracketing and zooming line
search of Nocedal & Wright, Algorithms 3.5 and 3.6, with safeguarded cubic interpolation as
in Schmidt's minFunc), so a program's `optimizer.step(closure)` takes the same steps. Pure
Python over the core's tensor ops: its state lives here, not in a C++ optimizer."""
import math

from anneal import _C
from anneal._grad import NoGrad


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clamped to
    bounds (default: between the two points); their midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


class _Point:
    """A trial step of the line search: step length, loss, gradient, directional slope."""
    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease c1,
    curvature c2). evaluate(t) -> (loss, flat gradient) at the parameters + t·d. Returns
    (loss, gradient, t, evaluations)."""
    d_norm = float(d.abs().max())
    start = _Point(0.0, f, g.clone(), gtd)

    def trial(step):
        loss, grad = evaluate(step)
        return _Point(step, loss, grad, float((grad * d).sum()))

    prev, cur = start, trial(t)
    evals, iters = 1, 0
    bracket, done = None, False
    # 1. grow the step until an interval holds an acceptable one (or the current one is)
    while iters < max_ls:
        if cur.f > f + c1 * cur.t * gtd or (iters > 1 and cur.f >= prev.f):
            bracket = [prev, _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)]
            break
        if abs(cur.gtd) <= -c2 * gtd:  # (before the slope's sign: an acceptable step ends it)
            bracket, done = [cur], True
            break
        if cur.gtd >= 0:
            bracket = [prev, _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)]
            break
        # extrapolate: the cubic's minimum between 1.01x and 10x the current step
        step = _cubic_minimum(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd,
                              bounds=(cur.t + 0.01 * (cur.t - prev.t), cur.t * 10))
        prev = _Point(cur.t, cur.f, cur.g.clone(), cur.gtd)
        cur = trial(step)
        evals += 1
        iters += 1
    if iters == max_ls:
        bracket = [start, cur]
    # 2. zoom: shrink the interval around the acceptable steps
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    stalled = False
    while not done and iters < max_ls:
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        step = _cubic_minimum(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        # keep away from the interval's ends (0.1 of its width), at once when the last
        # try also ended up near one
        top, bottom = max(a.t, b.t), min(a.t, b.t)
        margin = 0.1 * (top - bottom)
        if min(top - step, step - bottom) < margin:
            if stalled or step >= top or step <= bottom:
                step = top - margin if abs(step - top) < abs(step - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        new = trial(step)
        evals += 1
        iters += 1
        if new.f > f + c1 * new.t * gtd or new.f >= bracket[low].f:
            bracket[high] = _Point(new.t, new.f, new.g.clone(), new.gtd)
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -c2 * gtd:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = _Point(new.t, new.f, new.g.clone(), new.gtd)
    best = bracket[low]
    return best.f, best.g, best.t, evals


class LBFGS:
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        self.defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                             tolerance_change=tolerance_change, history_size=history_size,
                             line_search_fn=line_search_fn)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if isinstance(groups[0], dict):
            if len(groups) != 1:
                raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
            group = dict(self.defaults, **groups[0])
            group["params"] = list(group["params"])
        else:
            group = dict(self.defaults, params=groups)
        self.param_groups = [group]
        self._params = group["params"]
        self.state = {"func_evals": 0, "n_iter": 0}

    def zero_grad(self, set_to_none=True):
        for p in self._params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def _flat_grad(self):
        return _C.cat([(p.grad if p.grad is not None else _C.zeros_like(p)).reshape(-1) for p in self._params])

    def _add(self, step, direction):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(direction[offset:offset + n].reshape(*p.shape), alpha=step)
            offset += n

    def step(self, closure):
        import anneal
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        st = self.state
        with anneal.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        st["func_evals"] += 1
        flat = self._flat_grad()
        if float(flat.abs().max()) <= tol_grad:
            return orig_loss
        d, t = st.get("d"), st.get("t")
        old_dirs, old_stps, ro = st.setdefault("old_dirs", []), st.setdefault("old_stps", []), st.setdefault("ro", [])
        h_diag = st.get("H_diag", 1.0)
        prev_flat, prev_loss = st.get("prev_flat_grad"), st.get("prev_loss")
        n_iter = 0
        with NoGrad():
            while n_iter < max_iter:
                n_iter += 1
                st["n_iter"] += 1
                if st["n_iter"] == 1:
                    d = -flat
                    old_dirs.clear(), old_stps.clear(), ro.clear()
                    h_diag = 1.0
                else:
                    y = flat - prev_flat
                    s = d * t
                    ys = float((y * s).sum())
                    if ys > 1e-10:
                        if len(old_dirs) == history:
                            old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        h_diag = ys / float((y * y).sum())
                    al = [0.0] * len(old_dirs)
                    q = -flat
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = float((old_stps[i] * q).sum()) * ro[i]
                        q = q - old_dirs[i] * al[i]
                    d = q * h_diag
                    for i in range(len(old_dirs)):
                        be_i = float((old_dirs[i] * d).sum()) * ro[i]
                        d = d + old_stps[i] * (al[i] - be_i)
                prev_flat = flat.clone()
                prev_loss = loss
                t = min(1.0, 1.0 / float(flat.abs().sum())) * lr if st["n_iter"] == 1 else lr
                gtd = float((flat * d).sum())
                if gtd > -tol_change:
                    break
                ls_evals = 0
                if group["line_search_fn"] == "strong_wolfe":
                    start = [p.clone() for p in self._params]

                    def evaluate(step):
                        self._add(step, d)
                        with anneal.enable_grad():
                            value = float(closure())
                        grad = self._flat_grad()
                        for p, x0 in zip(self._params, start):
                            p.copy_(x0)
                        return value, grad
                    loss, flat, t, ls_evals = _strong_wolfe(evaluate, t, d, loss, flat, gtd,
                                                            tolerance_change=tol_change)
                    self._add(t, d)
                else:
                    self._add(t, d)
                    if n_iter != max_iter:
                        with anneal.enable_grad():
                            loss = float(closure())
                        flat = self._flat_grad()
                        ls_evals = 1
                evals += ls_evals
                st["func_evals"] += ls_evals
                if n_iter == max_iter or evals >= max_eval:
                    break
                if float(flat.abs().max()) <= tol_grad:
                    break
                if float((d * t).abs().max()) <= tol_change:
                    break
                if abs(loss - prev_loss) < tol_change:
                    break
        st.update(d=d, t=t, H_diag=h_diag, prev_flat_grad=prev_flat, prev_loss=prev_loss)
        return orig_loss

    def state_dict(self):
        raise NotImplementedError("LBFGS.state_dict is not supported yet")
