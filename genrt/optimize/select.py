"""Choosing rewrites by measurement, like an autotuner: for each batch size asked for, the plan fastest at it.

Whether a sub-pixel form beats onnxruntime's own ConvTranspose depends on channels,
sizes, batch and machine (on a 64x64 DCGAN the phase convolutions can win at batch 64
and lose at batch 1), and a layer's best form depends on its neighbours' (a fused layer
reads the phase-domain output of the layer before it). So `choose_plan` searches whole
plans, timed side by side on the target provider, once per batch size asked for:

- a plan's score is the geometric mean, over the batch sizes searched, of its time over
  the original graph's (timed in the same rounds), lower is better;
- a search starts from the best of a few whole plans (nothing rewritten, every layer in
  each form, fused where it can), then visits each site in turn (the dense first layer,
  each strided layer in graph order) and times every form that site can take with the
  rest of the plan held, keeping the best; passes repeat until one changes nothing (at
  most `PASSES`);
- the final round times the best plans of every search and the original graph together
  over all the batch sizes, with `CONFIRM_ROUNDS` rounds and no early drops, and the
  lowest score wins: the plan returned is never slower, by the objective, than another
  plan of that round, the original graph included;
- where that round shows another plan running some batch sizes in at most `DISPATCH_GAIN`
  times the winner's time, one graph runs each range of batch sizes its own plan
  (dispatch.py: an If on the batch dimension), timed in rounds of its own against the
  winner, and kept where it is that much faster at some batch size and at no batch size
  that much slower, judged at the batch sizes whose branch is another plan (elsewhere it
  runs the winner itself): each branch is the fastest plan of the final round at its
  batch sizes, and this round checks that the If graph delivers it (it costs the file
  every branch's weights). `per_range` is that rule; int8.py applies it too.

All candidates of a step run in one process in shuffled, interleaved rounds with thread
spinning off, medians per batch size; one far slower than the original is dropped early
(timer.py). The report keeps, per batch size and site, every form's score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx

from genrt.optimize.dense import dense_candidate, has_label_embedding
from genrt.optimize.dispatch import by_batch, range_starts
from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
from genrt.optimize.passes import LayerChoice, Plan, apply_plan, fusable_predecessors, strided_layers
from genrt.optimize.timer import RACE_LIMIT, Timer, score

PASSES = 2  # passes over the sites; a pass that changes nothing ends the search
FINALISTS = 2  # plans of each search timed again against each other and the original
CONFIRM_ROUNDS = 15
DISPATCH_GAIN = 0.95  # a batch size gets a plan of its own where that runs in at most this times the time of the
# plan of the range above it; the If graph is kept where it runs some batch size in at most this times the single
# plan's time and none in more than its inverse, judged where its branch is another plan


@dataclass
class Tuning:
    """The measured search: every candidate's times, the plan chosen and why, and the final round's times."""

    ranges: list[tuple[int, Plan]]  # (first batch size, plan) per range of batch sizes, the first from 1
    batch_sizes: tuple[int, ...]
    candidates: list[dict] = field(default_factory=list)  # {"step", "plan", "ms", "score"} per timed candidate
    reasons: dict[int, dict[str, dict[str, float | None]]] = field(default_factory=dict)  # batch -> site ->
    # {form: score, or None when dropped early}, from the site's last visit in that batch size's search
    final: dict[str, dict[int, float]] = field(default_factory=dict)  # "original", "chosen" -> {batch: seconds}
    original_wins: bool = True  # the untouched graph scored best in the final round

    @property
    def plan(self) -> Plan:
        """The plan for the largest batch sizes."""
        return self.ranges[-1][1]

    def describe(self) -> dict:
        """The plan's description, or with several ranges {"by_batch": [{"from_batch": n, **plan}, ...]}."""
        if len(self.ranges) == 1:
            return self.plan.describe()
        return {"by_batch": [{"from_batch": start, **plan.describe()} for start, plan in self.ranges]}

    def apply(self, model) -> onnx.ModelProto:
        """`model` rewritten by the plans, one If branch per range when there are several."""
        return by_batch([(start, apply_plan(model, plan)) for start, plan in self.ranges])


def sites(model) -> list[str]:
    """The places a plan decides something: "dense first layer" (when the graph has one) and each strided layer."""
    g = OnnxGraph(model)
    dense = ["dense first layer"] if dense_candidate(g, infer_shapes(model)) is not None else []
    return dense + [n.name for n in strided_layers(g)]


def search_steps(model) -> int:
    """How many timing steps choose_plan takes at most for `model`, each at every batch size (for a progress bar)."""
    found = sites(model)
    return len(found) * PASSES + 3 if found else 0  # + the whole plans, the final round, the If graph's round


def choose_plan(model, timer: Timer, log=lambda m: None) -> Tuning:
    """The fastest plans for `model` (batch norm already folded), timed with `timer` (see the module docstring)."""
    batches = tuple(sorted(timer.feeds))
    tuning = Tuning([(1, Plan())], batches)
    if not search_steps(model):
        return tuning
    plans: dict[str, Plan] = {}  # plan key -> plan, over all searches
    searches = {b: _search(model, timer, b, plans, tuning) for b in batches}  # batch -> {plan key: score}
    finalists = list(dict.fromkeys(k for found in searches.values() for k in sorted(found, key=found.get)[:FINALISTS]))
    built = {k: apply_plan(model, plans[k]).SerializeToString() for k in finalists}
    rounds = max(timer.rounds, CONFIRM_ROUNDS)
    times = timer.time(built, rounds=rounds, race=False)
    final = {k: score(times[k], times["original"]) for k in finalists}
    chosen = min(final, key=final.get)
    tuning.ranges = [(1, plans[chosen])]
    ranges, again = per_range(timer, {k: times[k] for k in finalists}, chosen, built[chosen], rounds, log, "plan",
                              lambda r: by_batch([(s, apply_plan(model, plans[k])) for s, k in r]).SerializeToString())
    if ranges:
        tuning.ranges = [(start, plans[k]) for start, k in ranges]
        chosen = "by batch"
    if again is not None:
        times, final = again, {chosen: score(again[chosen], again["original"])}
    tuning.original_wins = final[chosen] >= 1.0
    tuning.final = {"original": times["original"], "chosen": times[chosen]}
    for batch, why in tuning.reasons.items():
        plan = next(p for start, p in reversed(tuning.ranges) if start <= batch)
        for site, forms in why.items():
            form = _describe_site(plan, site)
            ranked = sorted(forms.items(), key=lambda kv: math.inf if kv[1] is None else kv[1])
            others = ", ".join(f"{k} {v:.2f}x" if v is not None else f"{k} over {RACE_LIMIT:.2f}x (dropped)"
                               for k, v in ranked if k != form)
            log(f"batch {batch}, {site}: {form}" + (f" ({forms[form]:.2f}x the original with the rest of the plan; "
                                                    f"{others})" if forms.get(form) is not None else ""))
    return tuning


def _search(model, timer: Timer, batch: int, plans: dict[str, Plan], tuning: Tuning) -> dict[str, float]:
    """The local search at one batch size (see the module docstring): {plan key: best score seen}; `plans` gains
    each plan timed, `tuning` the candidates and the reasons per site."""
    g = OnnxGraph(model)
    dense = dense_candidate(g, infer_shapes(model))
    labels = dense is not None and has_label_embedding(g, dense)
    layers = [n.name for n in strided_layers(g)]
    previous = fusable_predecessors(g)
    scores: dict[str, float] = {}
    reasons = tuning.reasons.setdefault(batch, {})
    taken = [0]

    def timed(candidates: list[Plan], step: str) -> dict[str, float]:
        fresh = {_key(p): p for p in candidates}
        built = {k: apply_plan(model, p).SerializeToString() for k, p in fresh.items()}
        times = timer.time(built, batches=(batch,))
        taken[0] += 1
        found = {}
        for k, p in fresh.items():
            found[k] = score(times[k], times["original"])
            scores[k], plans[k] = min(found[k], scores.get(k, math.inf)), p
            tuning.candidates.append({"step": f"batch {batch}, {step}", "plan": p.describe(),
                                      "score": round(found[k], 4), "ms": {batch: round(times[k][batch] * 1e3, 4)}})
        return found

    def whole(form: str) -> Plan:  # every strided layer in `form`, each fused to the one before it where it can be
        return Plan(dense is not None, labels,
                    {name: LayerChoice(form, previous.get(name) is not None) for name in layers})

    found = timed([Plan(), whole("single"), whole("phases")], "whole plans")
    best = plans[min(found, key=found.get)]
    for _ in range(PASSES):
        changed = False
        for site in sites(model):
            found = timed(_site_options(best, site, labels, layers, previous), f"site {site}")
            winner = plans[min(found, key=found.get)]
            reasons[site] = {_describe_site(plans[k], site): round(v, 4) if math.isfinite(v) else None
                             for k, v in found.items()}
            changed |= _key(winner) != _key(best)
            best = winner
        if not changed:
            break
    for _ in range(taken[0], search_steps(model) - 2):
        timer.skip(1)
    return scores


def per_range(timer: Timer, times: dict[str, dict[int, float]], single: str, single_model: bytes, rounds: int,
              log, what: str, build) -> tuple[list[tuple[int, str]] | None, dict[str, dict[int, float]] | None]:
    """Whether one graph with a candidate per batch range is worth it over the single candidate `single` (see
    DISPATCH_GAIN and the module docstring). `times` are the candidates' {batch: seconds} from one round,
    `build(ranges)` the If graph's bytes for [(first batch size, candidate)]. Returns (the ranges, or None where
    one candidate is kept; the times of the If graph's round as "by batch" and `single`, or None where no range
    beat `single` and there was no round)."""
    batches = tuple(sorted(timer.feeds))
    ranges = batch_ranges(batches, times)
    if len(ranges) == 1:
        timer.skip()
        return None, None
    again = timer.time({"by batch": build(ranges), single: single_model}, rounds=rounds, race=False)
    split_score, single_score = (score(again[k], again["original"]) for k in ("by batch", single))
    # Only batch sizes whose branch is another candidate are judged: elsewhere the If graph runs `single` itself.
    changed = [b for b in batches if next(k for start, k in reversed(ranges) if start <= b) != single]
    ratios = {b: again["by batch"][b] / again[single][b] for b in batches}
    keep = min(ratios[b] for b in changed) <= DISPATCH_GAIN and max(ratios[b] for b in changed) <= 1 / DISPATCH_GAIN
    log(f"one {what} per batch range (from batch {', '.join(str(start) for start, _ in ranges)}): "
        f"{'kept' if keep else 'not kept'}, {split_score:.2f}x the original against {single_score:.2f}x for the "
        f"best single {what}; its time at batch " + ", ".join(f"{b} {r:.2f}x" for b, r in ratios.items())
        + f" (judged at {', '.join(map(str, changed))})")
    return (ranges if keep else None), again


def batch_ranges(batches: tuple[int, ...], times: dict[str, dict[int, float]]) -> list[tuple[int, str]]:
    """[(first batch size, candidate)], smallest first. From the largest batch size down, a range's candidate serves
    the next smaller batch size while it runs there within DISPATCH_GAIN of the fastest candidate; else that batch
    size ends a new range, with its fastest candidate."""
    starts = dict(zip(batches, [1, *range_starts(list(batches))], strict=True))
    chosen: list[tuple[int, str]] = []  # (smallest batch size served, candidate), largest batch sizes first
    for batch in reversed(batches):
        fastest = min(times, key=lambda k: times[k][batch])
        if chosen and times[fastest][batch] >= DISPATCH_GAIN * times[chosen[-1][1]][batch]:
            chosen[-1] = (batch, chosen[-1][1])
        else:
            chosen.append((batch, fastest))
    return [(starts[batch], key) for batch, key in reversed(chosen)]


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
