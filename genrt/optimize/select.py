"""Choosing rewrites by measurement, like an autotuner: a rewrite stays only where it is faster.

Whether a sub-pixel form beats onnxruntime's own ConvTranspose depends on channels,
sizes, batch and machine (on a 28x28 generator the fused form can win 1.5x at batch 64
and lose at batch 1), so `choose_plan` times candidate graphs side by side on the
target provider at the batch sizes the user will run, and keeps the fastest:

1. the dense first layer: off, Gemm, Gemm with the labels folded;
2. the strided layers in graph order, each with a look at the next one (a form that
   loses alone may win with the fused form it enables after it): every valid pair of
   forms for layers i and i+1 is timed and layer i takes the winner's form.

A candidate's score is the geometric mean, over the batch sizes, of its time over
the original graph's; a candidate slower than the original at any batch size
(beyond `NOISE`) is out, and one far slower is dropped early (`Timer.time`). All
candidates of a step run in one process in shuffled, interleaved rounds with thread
spinning off (genrt.timing), medians per batch size.
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

NOISE = 0.03  # timing noise tolerated while searching; the final comparison allows none
SAMPLE_SECONDS = 0.01  # each timed sample repeats a call until it lasts about this long
RACE_ROUNDS, RACE_LIMIT = 3, 1.15  # after 3 rounds, a candidate 15% slower than the original is out


@dataclass
class Tuning:
    """The measured search: every candidate's times, and the plan chosen."""

    plan: Plan
    batch_sizes: tuple[int, ...]
    candidates: list[dict] = field(default_factory=list)  # {"step", "plan", "ms", "score"} per timed candidate


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


def search_steps(model) -> int:
    """How many timing steps choose_plan takes for `model` (for a progress bar)."""
    g = OnnxGraph(model)
    return (dense_candidate(g, infer_shapes(model)) is not None) + len(strided_layers(g))


def choose_plan(model, timer: Timer, log=lambda m: None) -> Tuning:
    """The fastest plan for `model` (batch norm already folded), timed with `timer` (see the module docstring)."""
    g = OnnxGraph(model)
    batches = tuple(timer.feeds)
    tuning = Tuning(Plan(), batches)

    def pick(plans: list[Plan], step: str) -> Plan:
        built = {f"c{i}": apply_plan(model, p).SerializeToString() for i, p in enumerate(plans)}
        times = timer.time(built)
        best, best_score = None, math.inf
        for i, plan in enumerate(plans):
            t = times[f"c{i}"]
            ratios = [t[b] / times["original"][b] for b in batches]
            score = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            tuning.candidates.append({"step": step, "plan": plan.describe(), "score": round(score, 4),
                                      "ms": {b: round(t[b] * 1e3, 4) for b in batches}})
            if max(ratios) <= 1 + NOISE and score < best_score:
                best, best_score = plan, score
        return best or plans[0]

    plan = Plan()
    dense = dense_candidate(g, infer_shapes(model))
    if dense is not None:
        options = [Plan(), Plan(dense=True)]
        if has_label_embedding(g, dense):
            options.append(Plan(dense=True, fold_labels=True))
        plan = pick(options, "dense first layer")
        log(f"dense first layer: {plan.describe()['dense_first_layer']}"
            + (", labels folded" if plan.fold_labels else ""))

    layers = [n.name for n in strided_layers(g)]
    previous = fusable_predecessors(g)
    for i, name in enumerate(layers):
        pairs = []
        for first in _options(plan.layers, previous.get(name)):
            chosen = {**plan.layers, name: first}
            if i + 1 < len(layers):
                following = layers[i + 1]
                pairs += [{**chosen, following: second} for second in _options(chosen, previous.get(following))]
            else:
                pairs.append(chosen)
        winner = pick([Plan(plan.dense, plan.fold_labels, layers) for layers in pairs], f"layer {name}")
        plan = Plan(plan.dense, plan.fold_labels, {**plan.layers, name: winner.layers[name]})
        log(f"{name}: {plan.layers[name].describe()}")
    tuning.plan = plan
    return tuning


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
