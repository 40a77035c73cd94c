"""Choosing rewrites by measurement, like an autotuner: the plan that is fastest over the batch sizes asked for.

Whether a sub-pixel form beats onnxruntime's own ConvTranspose depends on channels,
sizes, batch and machine (on a 28x28 generator the fused form can win at batch 64 and
lose at batch 1), and a layer's best form depends on its neighbours' (a fused layer
reads the phase-domain output of the layer before it). So `choose_plan` searches whole
plans, timed side by side on the target provider at the user's batch sizes:

- a plan's score is the geometric mean, over the batch sizes, of its time over the
  original graph's (timed in the same rounds), lower is better;
- it starts from the best of a few whole plans (nothing rewritten, every layer in each
  form, fused where it can), then visits each site in turn (the dense first layer, each
  strided layer in graph order) and times every form that site can take with the rest of
  the plan held, keeping the best; passes repeat until one changes nothing (at most
  `PASSES`);
- the best plans seen are timed once more together with the original graph, with
  `CONFIRM_ROUNDS` rounds and no early drops, and the lowest score wins: the plan
  returned is never slower, by the objective, than another plan of that final round,
  the original graph included.

All candidates of a step run in one process in shuffled, interleaved rounds with thread
spinning off (genrt.timing), medians per batch size; one far slower than the original
is dropped early (`Timer.time`). The report keeps, per site, every form's score.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from genrt.optimize.dense import dense_candidate, has_label_embedding
from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
from genrt.optimize.passes import LayerChoice, Plan, apply_plan, fusable_predecessors, strided_layers
from genrt.runtime.session import open_session
from genrt.timing import sample_interleaved, time_interleaved

SAMPLE_SECONDS = 0.01  # each timed sample repeats a call until it lasts about this long
RACE_ROUNDS, RACE_LIMIT = 3, 1.15  # after 3 rounds, a candidate 15% slower than the original is out
PASSES = 2  # passes over the sites; a pass that changes nothing ends the search
FINALISTS = 3  # plans timed again against each other and the original
CONFIRM_ROUNDS = 15


@dataclass
class Tuning:
    """The measured search: every candidate's times, the plan chosen and why, and the final round's times."""

    plan: Plan
    batch_sizes: tuple[int, ...]
    candidates: list[dict] = field(default_factory=list)  # {"step", "plan", "ms", "score"} per timed candidate
    reasons: dict[str, dict[str, float | None]] = field(default_factory=dict)  # site -> {form: score or None
    # when dropped early}, from the site's last visit
    final: dict[str, dict[int, float]] = field(default_factory=dict)  # "original", "chosen" -> {batch: seconds}
    original_wins: bool = True  # the untouched graph scored best in the final round


class Timer:
    """Times ONNX candidates against the original graph on one provider with fixed inputs per batch size."""

    def __init__(self, original: bytes, feeds: dict[int, dict], providers, threads, rounds: int, progress=None):
        self.feeds, self.providers, self.threads, self.rounds = feeds, providers, threads, rounds
        self.progress = progress or (lambda: None)
        self.original = self._session(original)
        self.numbers = {}
        for batch, feed in feeds.items():  # calls per timed sample, from the original's speed
            single = time_interleaved({"o": lambda f=feed: self.original.run(None, f)}, repeats=3, warmup=1)["o"]
            self.numbers[batch] = max(1, int(SAMPLE_SECONDS / max(single, 1e-6)))

    def skip(self) -> None:
        """Advance the progress by one step not taken."""
        for _ in self.feeds:
            self.progress()

    def _session(self, model: bytes):
        return open_session(model, self.providers, threads=self.threads, spinning=False, name="a candidate graph")

    def time(self, candidates: dict[str, bytes], rounds: int | None = None, race: bool = True
             ) -> dict[str, dict[int, float]]:
        """{name: {batch: median seconds}} for each candidate, and for "original".

        Batch sizes go smallest first. With `race`, after `RACE_ROUNDS` rounds a candidate
        more than `RACE_LIMIT` times slower than the original is dropped (its time is
        infinite from then on): it could not be chosen, and large batches are where it
        would cost the most to keep timing it.
        """
        rounds = rounds or self.rounds
        sessions = {"original": self.original, **{k: self._session(m) for k, m in candidates.items()}}
        times = {name: {b: math.inf for b in self.feeds} for name in sessions}
        for batch in sorted(self.feeds):
            feed = self.feeds[batch]
            funcs = {name: (lambda s=s, f=feed: s.run(None, f)) for name, s in sessions.items()}
            first = min(rounds, RACE_ROUNDS)
            samples = sample_interleaved(funcs, first, number=self.numbers[batch], warmup=1)
            base = statistics.median(samples["original"])
            if race:
                funcs = {k: f for k, f in funcs.items() if statistics.median(samples[k]) <= RACE_LIMIT * base}
            if rounds > first:
                for name, more in sample_interleaved(funcs, rounds - first, number=self.numbers[batch],
                                                     warmup=0).items():
                    samples[name] += more
            for name in funcs:
                times[name][batch] = statistics.median(samples[name])
            sessions = {k: s for k, s in sessions.items() if k in funcs}
            self.progress()
        return times


def sites(model) -> list[str]:
    """The places a plan decides something: "dense first layer" (when the graph has one) and each strided layer."""
    g = OnnxGraph(model)
    dense = ["dense first layer"] if dense_candidate(g, infer_shapes(model)) is not None else []
    return dense + [n.name for n in strided_layers(g)]


def search_steps(model) -> int:
    """How many timing steps choose_plan takes at most for `model` (for a progress bar)."""
    found = sites(model)
    return len(found) * PASSES + 2 if found else 0


def score(times: dict[int, float], original: dict[int, float]) -> float:
    """The objective: the geometric mean over the batch sizes of time over the original's time."""
    return math.exp(sum(math.log(times[b] / original[b]) for b in original) / len(original))


def choose_plan(model, timer: Timer, log=lambda m: None) -> Tuning:
    """The fastest plan for `model` (batch norm already folded), timed with `timer` (see the module docstring)."""
    g = OnnxGraph(model)
    batches = tuple(timer.feeds)
    tuning = Tuning(Plan(), batches)
    steps = search_steps(model)
    if not steps:
        return tuning
    dense = dense_candidate(g, infer_shapes(model))
    labels = dense is not None and has_label_embedding(g, dense)
    layers = [n.name for n in strided_layers(g)]
    previous = fusable_predecessors(g)
    scores: dict[str, float] = {}  # plan key -> best score seen
    plans: dict[str, Plan] = {}
    taken = [0]

    def timed(candidates: list[Plan], step: str) -> dict[str, float]:
        fresh = {_key(p): p for p in candidates}
        built = {k: apply_plan(model, p).SerializeToString() for k, p in fresh.items()}
        times = timer.time(built)
        taken[0] += 1
        found = {}
        for k, p in fresh.items():
            found[k] = score(times[k], times["original"])
            scores[k], plans[k] = min(found[k], scores.get(k, math.inf)), p
            tuning.candidates.append({"step": step, "plan": p.describe(), "score": round(found[k], 4),
                                      "ms": {b: round(times[k][b] * 1e3, 4) for b in batches}})
        return found

    def whole(form: str) -> Plan:  # every strided layer in `form`, each fused to the one before it where it can be
        return Plan(dense is not None, labels,
                    {name: LayerChoice(form, previous.get(name) is not None) for name in layers})

    seeds = [Plan(), whole("single"), whole("phases")]
    found = timed(seeds, "whole plans")
    best = plans[min(found, key=found.get)]
    for _ in range(PASSES):
        changed = False
        for site in sites(model):
            options = _site_options(best, site, labels, layers, previous)
            found = timed(options, f"site {site}")
            winner = plans[min(found, key=found.get)]
            tuning.reasons[site] = {_describe_site(plans[k], site): round(v, 4) if math.isfinite(v) else None
                                    for k, v in found.items()}
            changed |= _key(winner) != _key(best)
            best = winner
        if not changed:
            break
    for _ in range(taken[0], steps - 1):
        timer.skip()

    finalists = sorted(scores, key=scores.get)[:FINALISTS]
    if _key(best) not in finalists:
        finalists.append(_key(best))
    built = {k: apply_plan(model, plans[k]).SerializeToString() for k in finalists}
    times = timer.time(built, rounds=max(timer.rounds, CONFIRM_ROUNDS), race=False)
    final = {k: score(times[k], times["original"]) for k in finalists}
    chosen = min(final, key=final.get)
    tuning.plan = plans[chosen]
    tuning.original_wins = final[chosen] >= 1.0
    tuning.final = {"original": times["original"], "chosen": times[chosen]}
    for site, why in tuning.reasons.items():
        form = _describe_site(tuning.plan, site)
        ranked = sorted(why.items(), key=lambda kv: math.inf if kv[1] is None else kv[1])
        others = ", ".join(f"{k} {v:.2f}x" if v is not None else f"{k} over {RACE_LIMIT:.2f}x (dropped)"
                           for k, v in ranked if k != form)
        log(f"{site}: {form}" + (f" ({why[form]:.2f}x the original with the rest of the plan; {others})"
                                 if why.get(form) is not None else ""))
    return tuning


def _key(plan: Plan) -> str:
    return repr(sorted(plan.describe().items()))


def _describe_site(plan: Plan, site: str) -> str:
    if site == "dense first layer":
        return ("Gemm, labels folded" if plan.fold_labels else "Gemm") if plan.dense else "ConvTranspose"
    return plan.layers.get(site, LayerChoice()).describe()


def _site_options(plan: Plan, site: str, labels: bool, layers: list[str], previous: dict) -> list[Plan]:
    """`plan` with every form `site` can take, the rest held (a fused layer after a kept one is unfused)."""
    if site == "dense first layer":
        options = [Plan(False, False, plan.layers), Plan(True, False, plan.layers)]
        return options + ([Plan(True, True, plan.layers)] if labels else [])
    found = []
    for choice in _options(plan.layers, previous.get(site)):
        chosen = {**plan.layers, site: choice}
        for name in layers:  # a layer fused to its predecessor needs the predecessor rewritten (split: as phases)
            c, before = chosen.get(name), chosen.get(previous.get(name) or "")
            if c is not None and c.fuse and (before is None or before.form == "keep"):
                chosen[name] = LayerChoice("single" if c.form == "split" else c.form)
            elif c is not None and c.form == "split" and before is not None and before.form != "phases":
                chosen[name] = LayerChoice("single", True)
        found.append(Plan(plan.dense, plan.fold_labels, chosen))
    return found


def _options(chosen: dict[str, LayerChoice], predecessor: str | None) -> list[LayerChoice]:
    """The forms a layer may take, given the choice made for the layer before it."""
    options = [LayerChoice("keep"), LayerChoice("single"), LayerChoice("phases")]
    before = chosen.get(predecessor) if predecessor else None
    if before is not None and before.form != "keep":
        options.append(LayerChoice("single", fuse=True))
        if before.form == "phases":
            options.append(LayerChoice("split", fuse=True))
    return options


def feeds_for(contract, batch_sizes, seed: int = 0) -> dict[int, dict]:
    """Inputs per batch size, drawn the way the runtime draws them (latents N(0, 1), labels cycling)."""
    feeds = {}
    for batch in batch_sizes:
        rng = np.random.default_rng([seed, batch])
        z = rng.standard_normal((batch, contract.latent_dim), dtype=np.float32)
        feed = {contract.latent_name: z.astype(np.float16) if contract.latent_float16 else z}
        if contract.conditional:
            feed[contract.label_name] = (np.arange(batch) % max(contract.num_classes, 1)).astype(contract.label_dtype)
        feeds[batch] = feed
    return feeds
