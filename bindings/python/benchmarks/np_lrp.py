"""A plain numpy implementation of LRP (epsilon, z+, flat) and the gradient: the reference the
benchmark compares libdtd against.

Straightforward vectorised numpy: the whole batch at once, dense layers as one matrix product,
conv layers as im2col (a strided window view, copied to a (K, N*P) matrix) and one matrix
product, the transpose by one product and a col2im scatter-add over the kernel taps. Rule-modified
weights (W+, W-, all-ones) and the flat rule's input-independent denominator are computed once
per network, as libdtd does per rule set; z+ skips its a- branch when the layer input has no
negative entries. Definitions as Include/dtd.h section 5 / Zennit: stab(d) = d + eps * sign(d), sign(0) = +1;
max-pool routes to the first maximum of its window.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _stab(d, eps):
    return d + np.where(d >= 0, eps, -eps).astype(d.dtype)


class _Layer:
    def __init__(self, spec: dict, ishape, oshape, dtype):
        self.type = spec["type"]
        self.ishape, self.oshape = tuple(ishape), tuple(oshape)
        if self.type in ("dense", "conv2d"):
            self.w = np.ascontiguousarray(spec["weight"], dtype=dtype)
            self.b = None if spec.get("bias") is None else np.asarray(spec["bias"], dtype=dtype)
            self.w2 = self.w.reshape(self.w.shape[0], -1)  # (out, fan-in)
            self.pad = int(spec.get("padding", 0)) if self.type == "conv2d" else 0
            if self.type == "conv2d" and int(spec.get("stride", 1)) != 1:
                raise NotImplementedError("the numpy reference supports stride 1 only")
        elif self.type == "maxpool2d":
            self.k = int(spec["kernel"])
            if int(spec.get("stride") or self.k) != self.k or spec.get("padding", 0):
                raise NotImplementedError("the numpy reference supports non-overlapping pools only")
        self._cache: dict = {}

    # --- the linear map and its transpose -----------------------------------------------------

    def im2col(self, x):
        """(N, C, H, W) -> (K, N*P) with K = C*kh*kw, P = Ho*Wo."""
        _, _, kh, kw = self.w.shape
        p = self.pad
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, Ho, Wo, kh, kw)
        n, c, ho, wo = win.shape[:4]
        return win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * ho * wo)

    def col2im(self, cols, n):
        """The transpose of im2col: (K, N*P) -> (N, C, H, W), overlapping taps added."""
        _, c, kh, kw = self.w.shape
        _, h, w = self.ishape
        _, ho, wo = self.oshape
        p = self.pad
        cols = cols.reshape(c, kh, kw, n, ho, wo)
        out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + ho, j:j + wo] += cols[:, i, j].transpose(1, 0, 2, 3)
        return out[:, :, p:p + h, p:p + w] if p else out

    def fwd(self, w2, x):
        """W' x for the batch (no bias)."""
        n = x.shape[0]
        if self.type == "dense":
            return x @ w2.T
        y = w2 @ self.im2col(x)  # (Cout, N*P)
        return y.reshape(w2.shape[0], n, -1).transpose(1, 0, 2).reshape(n, *self.oshape)

    def bwd(self, w2, s):
        """W'^T s for the batch."""
        n = s.shape[0]
        if self.type == "dense":
            return s @ w2
        s2 = s.reshape(n, w2.shape[0], -1).transpose(1, 0, 2).reshape(w2.shape[0], -1)
        return self.col2im(w2.T @ s2, n)

    def modified(self, key):
        if key not in self._cache:
            if key == "+":
                self._cache[key] = np.maximum(self.w2, 0)
            elif key == "-":
                self._cache[key] = np.minimum(self.w2, 0)
            elif key == "1":
                self._cache[key] = np.ones_like(self.w2)
            elif key == "b+":
                self._cache[key] = None if self.b is None else np.maximum(self.b, 0)
            elif key == "flat-d":  # the flat rule's denominator: all-ones weights and input
                ones = np.ones((1, *self.ishape), dtype=self.w.dtype)
                self._cache[key] = self.fwd(self.modified("1"), ones)[0]
        return self._cache[key]

    def bias_shape(self, b):
        return b if self.type == "dense" else b[:, None, None]


class NumpyNet:
    """The network as numpy arrays; ``forward``, ``gradient`` and ``lrp``."""

    def __init__(self, spec: dict, dtype=np.float32):
        from models import layer_shapes
        self.dtype = np.dtype(dtype)
        self.layers = [_Layer(l, i, o, self.dtype) for l, (i, o) in zip(spec["layers"], layer_shapes(spec))]

    def trace(self, x):
        """Every activation (acts[l] = input of layer l) and the max-pool winners."""
        acts, winners = [np.asarray(x, dtype=self.dtype)], {}
        for i, L in enumerate(self.layers):
            a = acts[-1]
            if L.type in ("dense", "conv2d"):
                z = L.fwd(L.w2, a)
                if L.b is not None:
                    z += L.bias_shape(L.b)
            elif L.type == "relu":
                z = np.maximum(a, 0)
            elif L.type == "maxpool2d":
                n, c, h, w = a.shape
                k = L.k
                win = a.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)
                arg = win.argmax(axis=-1)  # the first maximum in row-major window order
                winners[i] = arg
                z = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
            elif L.type == "flatten":
                z = a.reshape(a.shape[0], -1)
            else:
                raise NotImplementedError(L.type)
            acts.append(z)
        return acts, winners

    def forward(self, x):
        return self.trace(x)[0][-1]

    @staticmethod
    def _route(L, r, a, arg):
        n, c, h, w = a.shape
        k = L.k
        out = np.zeros((n, c, h // k, w // k, k * k), dtype=r.dtype)
        np.put_along_axis(out, arg[..., None], r[..., None], axis=-1)
        return out.reshape(n, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)

    def _backward(self, x, seed, step):
        acts, winners = self.trace(x)
        r = np.asarray(seed, dtype=self.dtype).reshape(acts[-1].shape)
        for i in range(len(self.layers) - 1, -1, -1):
            L, a = self.layers[i], acts[i]
            if L.type in ("dense", "conv2d"):
                r = step(i, L, a, acts[i + 1], r)
            elif L.type == "relu":
                r = step(i, L, a, acts[i + 1], r)
            elif L.type == "maxpool2d":
                r = self._route(L, r, a, winners[i])
            elif L.type == "flatten":
                r = r.reshape(a.shape)
        return r

    def gradient(self, x, seed):
        def step(i, L, a, z, g):
            if L.type == "relu":
                return np.where(a > 0, g, 0).astype(g.dtype)
            return L.bwd(L.w2, g)
        return self._backward(x, seed, step)

    def lrp(self, x, seed, rules: dict[int, str], epsilon=1e-6, stabilizer=1e-6):
        """LRP with {layer index: "epsilon" | "zplus" | "flat"}; bias included (Zennit's default)."""
        def step(i, L, a, z, r):
            if L.type == "relu":
                return r  # relevance passes the ReLU
            rule = rules[i]
            if rule == "epsilon":
                return a * L.bwd(L.w2, r / _stab(z, epsilon))
            if rule == "zplus":
                ap = np.maximum(a, 0)
                neg = bool((a < 0).any())
                d = L.fwd(L.modified("+"), ap)
                if neg:
                    an = np.minimum(a, 0)
                    d += L.fwd(L.modified("-"), an)
                bp = L.modified("b+")
                if bp is not None:
                    d += L.bias_shape(bp)
                s = r / _stab(d, stabilizer)
                out = ap * L.bwd(L.modified("+"), s)
                if neg:
                    out += an * L.bwd(L.modified("-"), s)
                return out
            if rule == "flat":
                s = r / _stab(L.modified("flat-d"), stabilizer)
                return L.bwd(L.modified("1"), s)
            raise ValueError(rule)
        return self._backward(x, seed, step)
