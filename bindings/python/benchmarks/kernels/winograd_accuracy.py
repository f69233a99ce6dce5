import numpy as np
rng = np.random.default_rng(0)
C, H = 64, 32
W = rng.uniform(-1, 1, (C, C, 3, 3)) * np.sqrt(6 / (9 * C))
z = rng.standard_normal((C, H, H))
R = np.abs(rng.standard_normal((C, H, H))) * (z > 0)   # relevance of active units
s = R / (z + 1e-6 * np.where(z >= 0, 1, -1))           # epsilon shares: heavy-tailed (1/z)
Wt = np.flip(W, (2, 3)).transpose(1, 0, 2, 3)            # transposed conv = conv with flipped, swapped kernel

def direct(x, w, dtype):
    x = x.astype(dtype); w = w.astype(dtype)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], H, H), dtype)
    for ky in range(3):
        for kx in range(3):
            out += np.einsum('oc,chw->ohw', w[:, :, ky, kx], xp[:, ky:ky + H, kx:kx + H])
    return out

def winograd(x, w, dtype):
    Bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype)
    G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype)
    At = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype)
    x = x.astype(dtype); w = w.astype(dtype)
    U = np.einsum('ij,ocjk,lk->ocil', G, w, G)                      # (O, C, 4, 4)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], H, H), dtype)
    for ty in range(H // 2):
        for tx in range(H // 2):
            d = xp[:, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4]
            V = np.einsum('ij,cjk,lk->cil', Bt, d, Bt)
            M = np.einsum('ocil,cil->oil', U, V)
            out[:, 2 * ty:2 * ty + 2, 2 * tx:2 * tx + 2] = np.einsum('ij,ojk,lk->oil', At, M, At)
    return out

ref = direct(s, Wt, np.float64)
a = np.random.default_rng(1).uniform(0, 1, ref.shape)   # the layer input a (after a ReLU)
Rin = a * ref
for name, f in (("im2col/direct float32", direct), ("Winograd F(2x2,3x3) float32", winograd)):
    got = a * f(s, Wt, np.float32).astype(np.float64)
    err = np.abs(got - Rin)
    rel = err / np.maximum(np.abs(Rin), 1e-300)
    big = np.abs(Rin) > 1e-6 * np.abs(Rin).max()
    print(f"{name:28s} max|err|/max|R| {err.max() / np.abs(Rin).max():.1e}; per element: median {np.median(rel[big]):.1e}, "
          f"99.9% {np.quantile(rel[big], 0.999):.1e}, max {rel[big].max():.1e}; elements off by > 1e-4: {(rel[big] > 1e-4).mean():.2%}")
print("shares: max|s| / median|s| =", f"{np.abs(s).max() / np.median(np.abs(s[s != 0])):.1e}")
