#!/usr/bin/env python3
"""make_fid_fixtures.py - the golden file for the FID tests (tests/test_metrics.cpp).

Writes tests/golden/fid_features.safetensors: two seeded random feature sets and the statistics
and Frechet distance that pytorch-fid computes from them, all float64:

    features_a (300, 16), features_b (200, 16)   correlated Gaussian features, different means
    mu_a (16), sigma_a (16, 16), mu_b, sigma_b   np.mean(axis=0) and np.cov(rowvar=False) (divides by N-1)
    fid ()                                       pytorch-fid's calculate_frechet_distance

The FID is computed the way pytorch-fid's calculate_frechet_distance does it (pytorch_fid/fid_score.py):
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b)        (general, Schur-based square root)
    (with eps * I added to both covariances when covmean is not finite; the real part when complex)
    fid = |mu_a - mu_b|^2 + Tr sigma_a + Tr sigma_b - 2 Tr covmean
The engine computes Tr covmean differently (the eigenvalues of the symmetric sqrt(S_a) S_b sqrt(S_a),
src/metrics/fid.h), so this is an independent check of that route, not a copy of it.

    python3 tools/make_fid_fixtures.py          # needs numpy and scipy

The file is written here from the format's specification (src/io/safetensors.h) rather than with the
`safetensors` package, whose metadata order changes from run to run: this way the same NumPy and SciPy
give the same bytes, so a regenerated fixture shows up in git only when its numbers change.
"""
import argparse
import json
import os
import struct

import numpy as np
import scipy
import scipy.linalg

DIM = 16
SEED = 20240601


def correlated_features(rng, rows, mean_shift, scale):
    # x = z A + m: covariance A^T A, far from diagonal (a diagonal part keeps it well conditioned).
    mixing = rng.standard_normal((DIM, DIM)) * scale / np.sqrt(DIM)
    mixing += np.diag(np.linspace(0.1, 2.0, DIM))
    mean = mean_shift + rng.standard_normal(DIM)
    return rng.standard_normal((rows, DIM)) @ mixing + mean


def frechet_distance_pytorch_fid(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def save_safetensors(path, tensors, metadata):
    """Float64 tensors and string metadata as safetensors: u64 header length, JSON header, raw data."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F64", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for array in tensors.values():
            f.write(array.astype("<f8").tobytes())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "fid_features.safetensors"))
    args = parser.parse_args()
    args.out = os.path.normpath(args.out)

    rng = np.random.default_rng(SEED)
    features_a = correlated_features(rng, 300, mean_shift=0.0, scale=1.0)
    features_b = correlated_features(rng, 200, mean_shift=0.5, scale=1.5)
    mu_a, sigma_a = features_a.mean(axis=0), np.cov(features_a, rowvar=False)
    mu_b, sigma_b = features_b.mean(axis=0), np.cov(features_b, rowvar=False)
    fid = frechet_distance_pytorch_fid(mu_a, sigma_a, mu_b, sigma_b)

    # The symmetric route, as a cross-check printed for the record (the test compares the engine
    # with `fid` above, not with this).
    w, v = np.linalg.eigh(sigma_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(sqrt_a @ sigma_b @ sqrt_a)
    fid_sym = float((mu_a - mu_b) @ (mu_a - mu_b) + np.trace(sigma_a) + np.trace(sigma_b)
                    - 2 * np.sqrt(np.clip(lam, 0, None)).sum())

    tensors = {
        "features_a": features_a, "features_b": features_b,
        "mu_a": mu_a, "sigma_a": sigma_a, "mu_b": mu_b, "sigma_b": sigma_b,
        "fid": np.array(fid, dtype=np.float64),
    }
    tensors = {k: np.array(v, dtype=np.float64, order="C") for k, v in tensors.items()}  # fid keeps shape ()
    metadata = {
        "generator": "tools/make_fid_fixtures.py",
        "seed": str(SEED),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "fid_formula": "pytorch-fid calculate_frechet_distance (scipy.linalg.sqrtm)",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): FID {fid!r} "
          f"(symmetric route {fid_sym!r}, relative difference {abs(fid - fid_sym) / fid:.1e})")


if __name__ == "__main__":
    main()
