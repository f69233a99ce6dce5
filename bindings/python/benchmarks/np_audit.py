"""A straightforward numpy implementation of the root audit (Include/dtd.h section 6) for dense ReLU
networks, the reference for libdtd's ``dtd_audit_roots_*`` throughput.

Same definitions as the library, everything batched over samples x roots as matrix products:
  - forward trace of the batch (network dtype); the study's top-down pass: seed f_k(x) e_k,
    every dense layer above the audited one in z+ root form (bias excluded, no stabiliser,
    a share of 0 at a zero denominator), ReLUs pass relevance;
  - z+ roots of the audited layer with relevance placement, in float64: v_j = a * [a w_j > 0],
    wv_j = w_j . v_j, no root if |wv_j| <= tol, root = a if R_j = 0, else t_j = R_j / wv_j and
    root_j = a - t_j v_j (cast to the network dtype);
  - region exit along each root's line: the local model of a (ReLU states frozen) evaluated at
    a - v_j; per ReLU unit the first crossing mu; segment_inside = min(1, exit / |t|),
    admissible_t = sign(t) exit, unexplained = R_j (1 - segment_inside);
  - g and its input gradient (ReLU'(0) = 0) at every root and at a; same_gradient
    (max |grad g(root) - grad g(a)| <= 1e-5), same_pattern (every ReLU state matches, units within
    1e-9 x the layer's largest |pre-activation| at the root match either), output_change,
    taylor_residual;
  - the summary: fraction of samples with a root outside (by gradient, by pattern), fraction of
    pairs with |output change| < 1e-6, mean segment_inside, max conservation error,
    unexplained fraction.
"""
from __future__ import annotations

import numpy as np


class NumpyAudit:
    def __init__(self, spec: dict, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.layers = []
        for l in spec["layers"]:
            if l["type"] == "dense":
                w = np.asarray(l["weight"], dtype=self.dtype)
                b = None if l.get("bias") is None else np.asarray(l["bias"], dtype=self.dtype)
                self.layers.append(("dense", w, b, np.maximum(w, 0), np.minimum(w, 0)))
            elif l["type"] == "relu":
                self.layers.append(("relu",))
            else:
                raise NotImplementedError("the numpy audit handles dense/relu networks")

    def _trace(self, x, start=0, masks=None):
        """acts[i] = input of layer start+i; with `masks` (reference pre-activations per ReLU,
        repeated to the batch) the ReLU states are frozen (the local model)."""
        acts = [x]
        for i in range(start, len(self.layers)):
            L, a = self.layers[i], acts[-1]
            if L[0] == "dense":
                z = a @ L[1].T
                if L[2] is not None:
                    z += L[2]
            else:
                z = np.where((masks[i] if masks is not None else a) > 0, a, 0).astype(a.dtype)
            acts.append(z)
        return acts

    def _gradient(self, acts, start, target):
        """d g_target / d (input of layer start), ReLU'(0) = 0."""
        n = acts[-1].shape[0]
        g = np.zeros_like(acts[-1])
        g[:, target] = 1
        for i in range(len(self.layers) - 1, start - 1, -1):
            L, a = self.layers[i], acts[i - start]
            g = g @ L[1] if L[0] == "dense" else np.where(a > 0, g, 0).astype(g.dtype)
        return g

    def _top_down(self, acts, layer, target):
        """R at the output of `layer`: z+ root form above it (no bias, no stabiliser)."""
        out = acts[-1]
        r = np.zeros_like(out)
        rows = np.arange(out.shape[0])
        r[rows, target] = out[rows, target]
        for i in range(len(self.layers) - 1, layer, -1):
            L, a = self.layers[i], acts[i]
            if L[0] == "relu":
                continue
            ap = np.maximum(a, 0)
            d = ap @ L[3].T
            neg = bool((a < 0).any())
            if neg:
                an = np.minimum(a, 0)
                d += an @ L[4].T
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(d == 0, 0, r / np.where(d == 0, 1, d)).astype(r.dtype)
            rin = ap * (s @ L[3])
            if neg:
                rin += an * (s @ L[4])
            r = rin
        return r

    def audit(self, x, layer=0, target=0, tol=1e-5):
        """Audits the z+ roots (relevance placement) of dense layer `layer`. Returns
        (records as a dict of arrays of shape (batch, neurons), summary dict)."""
        x = np.asarray(x, dtype=self.dtype)
        acts = self._trace(x)
        R = self._top_down(acts, layer, target).astype(np.float64)     # (N, J)
        a = acts[layer].astype(np.float64)                               # (N, I)
        w = self.layers[layer][1].astype(np.float64)                     # (J, I)
        z = acts[layer + 1].astype(np.float64)
        n, j_count = R.shape

        # Roots: v (N, J, I), wv (N, J), t (N, J).
        v = np.where(a[:, None, :] * w[None, :, :] > 0, a[:, None, :], 0.0)
        wv = np.einsum("nji,ji->nj", v, w)
        has_root = np.abs(wv) > tol
        at_input = has_root & (R == 0)
        moving = has_root & ~at_input
        t = np.where(moving, R / np.where(moving, wv, 1), 0.0)
        points = (a[:, None, :] - t[..., None] * v).astype(self.dtype).reshape(n * j_count, -1)

        # The reference pre-activations of every ReLU, repeated to one row per root.
        ref = {i: np.repeat(acts[i], j_count, axis=0) for i in range(layer, len(self.layers))
               if self.layers[i][0] == "relu"}

        # Region exit along a -> a - sign(t) mu v: the local model at a - v.
        q = (a[:, None, :] - v).astype(self.dtype).reshape(n * j_count, -1)
        frozen = self._trace(q, layer, masks=ref)
        sigma = np.where(t.reshape(-1) < 0, -1.0, 1.0)[:, None]
        exit_ = np.full(n * j_count, np.inf)
        for i, z0 in ref.items():
            a0 = z0.astype(np.float64)
            slope = sigma * (frozen[i - layer].astype(np.float64) - a0)
            with np.errstate(divide="ignore", invalid="ignore"):
                mu = np.where((a0 > 0) & (slope < 0), a0 / -slope,
                              np.where((a0 <= 0) & (slope > 0), -a0 / slope, np.inf))
            exit_ = np.minimum(exit_, mu.min(axis=1))
        tf = t.reshape(-1)
        hr = has_root.reshape(-1)
        segment = np.where(hr & (tf != 0), np.minimum(1.0, exit_ / np.where(tf != 0, np.abs(tf), 1)), 1.0)
        admissible = np.where(tf < 0, -1.0, 1.0) * exit_
        unexplained = np.where(hr, R.reshape(-1) * (1 - segment), 0.0)

        # g and its gradient at a and at every root.
        ref_acts = acts[layer:]
        grad_a = self._gradient(ref_acts, layer, target).astype(np.float64)
        g_a = acts[-1][:, target].astype(np.float64)
        traced = self._trace(points, layer)
        grad_p = self._gradient(traced, layer, target).astype(np.float64)
        g_p = traced[-1][:, target].astype(np.float64)
        same_gradient = np.abs(grad_p - np.repeat(grad_a, j_count, axis=0)).max(axis=1) <= 1e-5
        same_pattern = np.ones(n * j_count, dtype=bool)
        for i, z0 in ref.items():
            z1 = traced[i - layer]
            tol_p = 1e-9 * np.abs(z1).max(axis=1, keepdims=True).astype(np.float64)
            bad = ((z0 > 0) != (z1 > 0)) & (np.abs(z1) > tol_p)
            same_pattern &= ~bad.any(axis=1)
        a_rep = np.repeat(a, j_count, axis=0)
        output_change = g_p - np.repeat(g_a, j_count)
        taylor = np.einsum("pi,pi->p", grad_p, a_rep - points.astype(np.float64))
        residual = -output_change - taylor

        shape = (n, j_count)
        records = {"relevance": R, "z": z, "wv": wv, "t": t, "has_root": has_root,
                   "same_gradient": same_gradient.reshape(shape), "same_pattern": same_pattern.reshape(shape),
                   "output_change": output_change.reshape(shape), "taylor_residual": residual.reshape(shape),
                   "segment_inside": segment.reshape(shape), "admissible_t": admissible.reshape(shape),
                   "unexplained": unexplained.reshape(shape)}
        pairs = int(has_root.sum())
        hr2 = has_root
        summary = {
            "samples": n, "pairs": pairs,
            "outside_by_gradient": float((hr2 & ~records["same_gradient"]).any(axis=1).mean()),
            "outside_by_pattern": float((hr2 & ~records["same_pattern"]).any(axis=1).mean()),
            "unchanged_output": float((hr2 & (np.abs(records["output_change"]) < 1e-6)).sum() / max(pairs, 1)),
            "mean_segment_inside": float(records["segment_inside"][hr2].mean()) if pairs else 1.0,
            "max_conservation_error": float(np.abs(np.where(hr2, R, 0).sum(axis=1) - g_a).max()),
            "unexplained_fraction": float(np.abs(records["unexplained"][hr2]).sum() / max(np.abs(R[hr2]).sum(), 1e-300)),
        }
        return records, summary
