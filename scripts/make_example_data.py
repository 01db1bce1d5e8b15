"""Write the embedded example: synthetic transfer runs for 8 distributions.

SYNTHETIC DATA. Parameters below are made up to be of realistic size (losses 1-5
nats/token, pre-training 1e8-1e11 tokens, fine-tuning 1e5-1e8 tokens), in the units of the
transfer-gap law as written, L(p, f) = E + (A p^-alpha + G) f^-beta. True transfer gaps span
two orders of magnitude (1.5 to 150). Run with `make example-data`; it rewrites
bayes_scaling/datasets/example_runs.csv and example_truth.csv.
"""

from pathlib import Path

import pandas as pd

from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs

OUT = Path(__file__).resolve().parents[1] / "bayes_scaling" / "datasets"

# distribution, E, A, alpha, beta, G, runs kept (of the 49-point grid)
TRUTH = pd.DataFrame(
    [
        ("code", 1.10, 9.0e3, 0.30, 0.32, 1.5, 30),
        ("math", 1.35, 1.1e4, 0.30, 0.34, 4.0, 24),
        ("wiki_en", 1.80, 8.0e3, 0.30, 0.30, 2.5, 30),
        ("legal", 1.60, 1.2e4, 0.30, 0.36, 12.0, 20),
        ("medical", 1.70, 1.0e4, 0.30, 0.35, 30.0, 16),
        ("chat", 2.00, 9.5e3, 0.30, 0.33, 8.0, 24),
        ("poetry", 2.30, 1.3e4, 0.30, 0.38, 150.0, 12),
        ("low_resource_lang", 2.10, 1.1e4, 0.30, 0.37, 70.0, 8),
    ],
    columns=["distribution", "E", "A", "alpha", "beta", "G", "runs"],
)

if __name__ == "__main__":
    runs = simulate_runs(
        TRUTH,
        DEFAULT_GRID,
        runs_per_distribution=dict(zip(TRUTH.distribution, TRUTH.runs, strict=True)),
        noise=0.01,
        outlier_fraction=0.02,  # the odd diverged run, which the Student-t likelihood absorbs
        seed=2024,
    )
    runs.insert(0, "run_id", [f"run{i:03d}" for i in range(len(runs))])
    OUT.mkdir(parents=True, exist_ok=True)
    runs.to_csv(OUT / "example_runs.csv", index=False, float_format="%.6g")
    TRUTH.drop(columns="runs").to_csv(OUT / "example_truth.csv", index=False)
    print(f"wrote {len(runs)} runs of {TRUTH.shape[0]} distributions to {OUT}")
    print(runs.groupby("distribution").loss.describe().round(3))
