"""L-BFGS as torch.optim.LBFGS (without a line search; `line_search_fn="strong_wolfe"` is
not offered yet): the same two-loop recursion, history, tolerances and closure protocol,
so a program's `optimizer.step(closure)` takes the same steps. Pure Python over the core's
tensor ops: its state lives here, not in a C++ optimizer."""
from anneal import _C
from anneal._grad import NoGrad


class LBFGS:
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn is not None:
            raise NotImplementedError("LBFGS(line_search_fn='strong_wolfe') is not supported yet")
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
                self._add(t, d)
                ls_evals = 0
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
