"""torch.einsum over the core's bmm: the equation's subscripts are resolved once ('...'
spelled out, the implicit output), then the operands are contracted pairwise, left to
right, each pair as one batched matrix product with permutes around it."""
import string

import numpy as np

from anneal import _C


def _einsum_terms(equation, operands):
    """The subscripts of each operand and of the output, with '...' spelled out as letters
    the equation does not use (aligned on the right, as broadcasting is), and PyTorch's
    implicit output (the letters that occur once, in alphabetical order) where no '->'."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum(): {len(ins)} operands in the equation but {len(operands)} tensors were given")
    for term in ins + ([rhs] if arrow else []):
        rest = term.replace("...", "")
        if "." in rest or not all(c.isalpha() for c in rest):
            raise ValueError(f"einsum(): invalid subscript in '{equation}': use letters and '...'")
    free = [c for c in string.ascii_letters if c not in eq]
    ell_dims = [x.dim() - (len(t) - 3) if "..." in t else 0 for t, x in zip(ins, operands)]
    n_ell = max(ell_dims + [0])
    ell = "".join(free[:n_ell])
    terms = []
    for i, (t, x, n) in enumerate(zip(ins, operands, ell_dims)):
        t = t.replace("...", ell[n_ell - n:]) if "..." in t else t
        if len(t) != x.dim():
            raise ValueError(f"einsum(): the number of subscripts in the equation ({len(t)}) does not match the number "
                             f"of dimensions ({x.dim()}) for operand {i}" + ("" if "..." in ins[i] else
                                                                              " and no ellipsis was given"))
        if len(set(t)) != len(t):
            raise NotImplementedError(f"einsum: a subscript repeated within one operand ('{ins[i]}': a diagonal) is "
                                      "not supported yet")
        terms.append(t)
    if arrow:
        out = rhs.replace("...", ell)
        if len(set(out)) != len(out):
            raise ValueError(f"einsum(): output subscript repeated in '{equation}'")
        for c in out:
            if not any(c in t for t in terms):
                raise ValueError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    else:
        joined = "".join(terms)
        out = ell + "".join(sorted(c for c in set(joined) if c not in ell and joined.count(c) == 1))
    return terms, out


def _einsum_pair(a, x, b, y, keep):
    """x (subscripts a) and y (b) contracted to the subscripts `keep` (in any order), as one
    bmm: indices in both are batch (kept) or contracted; the others stay or are summed."""
    def sum_own(t, v, other):
        gone = [i for i, c in enumerate(t) if c not in other and c not in keep]
        return ("".join(c for c in t if c in other or c in keep), v.sum(tuple(gone)) if gone else v)
    a, x = sum_own(a, x, b)
    b, y = sum_own(b, y, a)
    size = dict(zip(a, x.shape))
    for c, n in zip(b, y.shape):
        if c in size and size[c] != n and 1 not in (size[c], n):
            raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (subscript {c}: "
                               f"{size[c]} and {n})")
        size[c] = max(size.get(c, 1), n)
    batch = [c for c in a if c in b and c in keep]
    contract = [c for c in a if c in b and c not in keep]
    only_a = [c for c in a if c not in b]
    only_b = [c for c in b if c not in a]
    xs = x.permute(*[a.index(c) for c in batch + only_a + contract])
    ys = y.permute(*[b.index(c) for c in batch + contract + only_b])
    # (a size-1 dim broadcast against the other operand's)
    xs = xs.expand(*[size[c] for c in batch + only_a + contract])
    ys = ys.expand(*[size[c] for c in batch + contract + only_b])
    prod = lambda cs: int(np.prod([size[c] for c in cs])) if cs else 1  # noqa: E731
    nb = prod(batch)
    r = _C.bmm(xs.reshape(nb, prod(only_a), prod(contract)), ys.reshape(nb, prod(contract), prod(only_b)))
    return "".join(batch + only_a + only_b), r.reshape(*[size[c] for c in batch + only_a + only_b])


def einsum(equation, *operands):
    """torch.einsum: any number of operands, '...', implicit output, broadcasting of size-1
    dims; operands are contracted left to right, each pair as one bmm (indices no later
    operand or the output needs are summed as early as possible)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    terms, out = _einsum_terms(equation, operands)
    t, r = terms[0], operands[0]
    for i in range(1, len(terms)):
        later = set(out).union(*terms[i + 1:])
        t, r = _einsum_pair(t, r, terms[i], operands[i], later)
    gone = [i for i, c in enumerate(t) if c not in out]
    if gone:
        r = r.sum(tuple(gone))
        t = "".join(c for c in t if c in out)
    return r.permute(*[t.index(c) for c in out]) if t else r
