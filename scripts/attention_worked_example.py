"""The worked example of docs/attention.md, section 5, computed from the definitions alone.

One image, one head, a 2x3 map (H = 2, W = 3, N = 6 positions), head dimension d = 2, global
attention. Plain Python in double precision: every logit is formed pair by pair and every
gradient by its own sum, a different route from the engine's GEMMs. The backward is checked
against central differences of the loss L = sum(dO * O) before anything is printed.

    python3 scripts/attention_worked_example.py    # prints the blocks pasted into the doc

The test tests/test_attention_worked_example.cc reads those blocks back out of the doc and runs
the engine on them.
"""
import math

H, W, d = 2, 3, 2
N = H * W
s = 1.0 / math.sqrt(d)

# Inputs (exact decimals). Rows are positions n = x*W + y.
q = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5], [0.5, 0.5], [2.0, -1.0], [0.0, -0.5]]
k = [[0.5, 1.0], [1.0, -0.5], [0.0, 0.5], [-1.0, 0.0], [0.5, 0.5], [1.5, 0.0]]
v = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5], [0.5, -1.0], [2.0, 0.0]]
rel_h = [[0.1, 0.0], [0.0, 0.0], [-0.2, 0.3]]                           # [2H-1, d]
rel_w = [[0.2, -0.1], [0.0, 0.2], [0.0, 0.0], [0.1, 0.1], [-0.3, 0.0]]  # [2W-1, d]
dO = [[1.0, 0.0], [0.0, -1.0], [0.5, 0.5], [-0.5, 0.0], [-1.0, 1.0], [0.2, 0.0]]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def rows(n, m):
    """Table rows that query n and key m read: (row of rel_h, row of rel_w)."""
    x, y, x2, y2 = n // W, n % W, m // W, m % W
    return x2 - x + H - 1, y2 - y + W - 1


def forward(q, k, v, rel_h, rel_w):
    # logit[n][m] = s * q_n . (k_m + rel_h[x'-x+H-1] + rel_w[y'-y+W-1])
    logit = [[0.0] * N for _ in range(N)]
    for n in range(N):
        for m in range(N):
            a, b = rows(n, m)
            logit[n][m] = s * dot(q[n], [k[m][c] + rel_h[a][c] + rel_w[b][c] for c in range(d)])
    P = []
    for n in range(N):
        mx = max(logit[n])
        e = [math.exp(t - mx) for t in logit[n]]
        P.append([t / sum(e) for t in e])
    O = [[sum(P[n][m] * v[m][c] for m in range(N)) for c in range(d)] for n in range(N)]
    return logit, P, O


def backward(q, k, v, rel_h, rel_w, P, dO):
    R_rows = (2 * H - 1) + (2 * W - 1)
    dV = [[sum(P[n][m] * dO[n][c] for n in range(N)) for c in range(d)] for m in range(N)]
    dP = [[dot(dO[n], v[m]) for m in range(N)] for n in range(N)]
    dlogit = []
    for n in range(N):
        rowdot = sum(P[n][m] * dP[n][m] for m in range(N))
        dlogit.append([P[n][m] * (dP[n][m] - rowdot) for m in range(N)])
    dT = [[s * g for g in row] for row in dlogit]  # gradient of the unscaled T = logit / s
    # dR: each table slot collects the dT of every key that read it.
    dR = [[0.0] * R_rows for _ in range(N)]
    for n in range(N):
        for m in range(N):
            a, b = rows(n, m)
            dR[n][a] += dT[n][m]
            dR[n][2 * H - 1 + b] += dT[n][m]
    E = rel_h + rel_w  # the tables stacked, [R_rows, d]
    dQ = [[sum(dT[n][m] * k[m][c] for m in range(N)) + sum(dR[n][t] * E[t][c] for t in range(R_rows))
           for c in range(d)] for n in range(N)]
    dK = [[sum(dT[n][m] * q[n][c] for n in range(N)) for c in range(d)] for m in range(N)]
    dE = [[sum(dR[n][t] * q[n][c] for n in range(N)) for c in range(d)] for t in range(R_rows)]
    return dict(dV=dV, dP=dP, dlogit=dlogit, dT=dT, dR=dR, dQ=dQ, dK=dK,
                drel_h=dE[:2 * H - 1], drel_w=dE[2 * H - 1:])


def check_by_differences(grads):
    """Central differences of L = sum(dO * O) against every input gradient."""
    inputs = dict(dQ=q, dK=k, dV=v, drel_h=rel_h, drel_w=rel_w)
    h = 1e-6
    for name, mat in inputs.items():
        for i in range(len(mat)):
            for c in range(d):
                keep = mat[i][c]
                mat[i][c] = keep + h
                up = dot(sum(forward(q, k, v, rel_h, rel_w)[2], []), sum(dO, []))
                mat[i][c] = keep - h
                down = dot(sum(forward(q, k, v, rel_h, rel_w)[2], []), sum(dO, []))
                mat[i][c] = keep
                numeric = (up - down) / (2 * h)
                assert abs(numeric - grads[name][i][c]) < 1e-8, (name, i, c, numeric)


def block(name, mat, decimals):
    out = [f"{name} [{len(mat)} x {len(mat[0])}]"]
    for row in mat:
        out.append(" ".join(f"{x:{decimals + 4}.{decimals}f}" for x in row))
    return "\n".join(out)


def main():
    logit, P, O = forward(q, k, v, rel_h, rel_w)
    g = backward(q, k, v, rel_h, rel_w, P, dO)
    check_by_differences(g)
    for name, mat in [("q", q), ("k", k), ("v", v), ("rel_h", rel_h), ("rel_w", rel_w), ("dO", dO)]:
        print(block(name, mat, 1), end="\n\n")
    for name, mat in [("logit", logit), ("P", P), ("O", O)]:
        print(block(name, mat, 4), end="\n\n")
    for name in ["dV", "dP", "dlogit", "dT", "dR", "dQ", "dK", "drel_h", "drel_w"]:
        print(block(name, g[name], 4), end="\n\n")


if __name__ == "__main__":
    main()
