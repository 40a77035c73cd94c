"""`genrt eval`'s text report, and the speed column of `genrt eval --variants`."""

from __future__ import annotations


def speed(path: str, device: str, threads) -> dict:
    """p50 latency and images/s of Generator.sample at batch 64 (genrt bench, 20 calls)."""
    from genrt.bench import BenchConfig, run_bench

    result = run_bench(BenchConfig(path, device=device, batches=(64,), iters=20, warmup=3, threads=threads))
    row = result["results"][0]
    return {"batch": 64, "p50_ms": row["latency_ms"]["p50"], "images_per_s": 64 / (row["latency_ms"]["p50"] / 1e3)}


def lines(reports: list[dict]) -> list[str]:
    """The scores of one or more models (all under the same extractor and data), as text."""
    ex, data = reports[0]["extractor"], reports[0]["data"]
    out = [f"extractor  {ex['path']} (sha256 {ex['sha256'][:16]}, held-out accuracy {ex['holdout_accuracy']:.2%})",
           f"reference  {data['source']}, held-out part: {data['images']} real images ({data['split']})"]
    for r in reports:
        m = r["metrics"]
        precision = f", {r['model']['precision']}" if "precision" in r["model"] else ""
        out += ["", f"model      {r['model']['path']} ({r['model']['kind']}{precision}), {r['n']} images",
                f"FID        {m['fid']:.2f}",
                f"KID        {m['kid'] * 1e3:.2f} ± {m['kid_se'] * 1e3:.2f} x 1e-3 (standard error over 100 subsets)",
                f"IS         {m['inception_score']:.3f} ± {m['inception_score_std']:.3f} (classifier probabilities)",
                f"precision  {m['precision']:.3f}, recall {m['recall']:.3f} (k = 3 nearest neighbours)"]
        if "class_accuracy" in m:
            per = ", ".join(f"{k}: {v:.1%}" for k, v in enumerate(m["per_class_accuracy"]))
            out.append(f"accuracy   {m['class_accuracy']:.2%} of samples classified as their class ({per})")
    if any("speed" in r for r in reports):
        out += ["", f"{'variant':<9}{'FID':>8}{'KID x1e3':>10}{'accuracy':>10}{'p50 @64':>11}{'images/s':>10}"]
        for r in reports:
            m, s = r["metrics"], r["speed"]
            accuracy = f"{m['class_accuracy']:.2%}" if "class_accuracy" in m else "-"
            out.append(f"{r['model']['precision']:<9}{m['fid']:>8.2f}{m['kid'] * 1e3:>10.2f}{accuracy:>10}"
                       f"{s['p50_ms']:>9.2f}ms{s['images_per_s']:>10.0f}")
    return out
