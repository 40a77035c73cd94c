"""The sub-pixel identities: a strided ConvTranspose as ordinary convolutions plus DepthToSpace.

A ConvTranspose with stride s writes output row O = i*s + k - pad from input row i
and kernel tap k. Split the output rows by phase, O = s*m + b: phase b at row m
reads input rows m + e for the few taps k with k = b + pad (mod s), e = (b + pad - k) / s.
So each phase is an ordinary convolution of the input, and DepthToSpace(s)
interleaves the phases back into rows (Shi et al., "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", 2016).

Phase domain. A tensor X at resolution S*L is stored as U with S*S*C channels at
resolution L, in DepthToSpace's DCR order: U[(a_h*S + a_w)*C + c, m_h, m_w] =
X[c, S*m_h + a_h, S*m_w + a_w]. A ConvTranspose of stride s can read U directly and
write its output in the phase domain of factor F = S*s, so two upsampling layers in
a row need one DepthToSpace(F) at the end instead of one each. Element-wise
activations act on U as they would on X.

The identity holds exactly (the same products, summed in another order) when the
ConvTranspose's output is exactly s times its input: kernel - pad_begin - pad_end +
output_padding = s on each axis, with dilation 1 and one group. `phase_conv` returns
the weights of the convolution that computes the chosen output phases; the phases
it does not compute cost nothing, the taps a phase does not use are zeros.
`trim_taps` cuts the zero taps at the edges of a window, for a convolution that reads
only one input phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def fits(kernel, stride, pads, output_padding, dilations=(1, 1), group: int = 1) -> bool:
    """True when a 2-D ConvTranspose with these attributes is exactly s times upsampling (see the module docstring)."""
    if group != 1 or any(d != 1 for d in dilations) or len(kernel) != 2 or stride[0] != stride[1]:
        return False  # one DepthToSpace block size serves both axes
    for axis in range(2):
        s, k = stride[axis], kernel[axis]
        if s < 2 or k - pads[axis] - pads[axis + 2] + output_padding[axis] != s:
            return False
    return True


def axis_taps(stride: int, kernel: int, pad_begin: int, in_factor: int) -> list[tuple[int, int, int, int]]:
    """(out phase b, kernel tap k, in phase a, offset e) on one axis, for output factor F = in_factor * stride.

    Output row F*m + b takes kernel tap k times input phase a at low-resolution row m + e.
    """
    factor = in_factor * stride
    taps = []
    for b in range(factor):
        for k in range(kernel):
            if (b + pad_begin - k) % stride:
                continue
            q = (b + pad_begin - k) // stride  # input row at the input's own resolution, relative to in_factor*m
            taps.append((b, k, q % in_factor, q // in_factor))
    return taps


@dataclass
class PhaseConv:
    """A Conv computing some output phases of a ConvTranspose from its (phase-domain) input."""

    weight: np.ndarray  # [len(phases) * C_out, in_factor^2 * C_in, kh, kw]
    bias: np.ndarray | None  # [len(phases) * C_out]
    pads: list[int]  # ONNX Conv pads [top, left, bottom, right], all >= 0
    phases: list[tuple[int, int]]  # output phases (b_h, b_w), in channel-block order


def phase_conv(weight: np.ndarray, bias, stride, pads, in_factor: int, phases=None) -> PhaseConv:
    """The convolution that maps a ConvTranspose's input, in the phase domain of `in_factor`, to output phases.

    `weight` is the ConvTranspose's [C_in, C_out, kh, kw]; `phases` the output phases
    (b_h, b_w) to compute, each in [0, in_factor * stride), all of them by default.
    """
    c_in, c_out = weight.shape[:2]
    taps = [axis_taps(stride[axis], weight.shape[2 + axis], pads[axis], in_factor) for axis in range(2)]
    factor = (in_factor * stride[0], in_factor * stride[1])
    if phases is None:
        phases = [(bh, bw) for bh in range(factor[0]) for bw in range(factor[1])]
    index = {p: i for i, p in enumerate(phases)}
    # The window of low-resolution offsets these phases read, widened to include 0 so the pads stay >= 0.
    lo, hi = [], []
    for axis, wanted in ((0, {p[0] for p in phases}), (1, {p[1] for p in phases})):
        offsets = [e for b, _, _, e in taps[axis] if b in wanted] or [0]
        lo.append(min(0, *offsets))
        hi.append(max(0, *offsets))
    size = (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1)
    out = np.zeros((len(phases) * c_out, in_factor * in_factor * c_in, *size), np.float64)
    for bh, kh, ah, eh in taps[0]:
        for bw, kw, aw, ew in taps[1]:
            p = index.get((bh, bw))
            if p is None:
                continue
            a = ah * in_factor + aw
            out[p * c_out:(p + 1) * c_out, a * c_in:(a + 1) * c_in, eh - lo[0], ew - lo[1]] += weight[:, :, kh, kw].T
    full_bias = None if bias is None else np.tile(np.asarray(bias, np.float64), len(phases))
    return PhaseConv(
        weight=out.astype(np.float32),
        bias=None if full_bias is None else full_bias.astype(np.float32),
        pads=[-lo[0], -lo[1], hi[0], hi[1]],
        phases=list(phases),
    )



def trim_taps(weight: np.ndarray, pads: list[int]) -> tuple[np.ndarray, list[int]]:
    """Drop all-zero kernel rows and columns at the edges of a stride-1 Conv, keeping the same output.

    The window keeps offset 0 (tap index == pad) so that the pads stay >= 0.
    """
    live = np.abs(weight).sum(axis=(0, 1)) > 0
    window, new_pads = [], [0, 0, 0, 0]
    for axis in range(2):
        used = np.flatnonzero(live.any(axis=1 - axis)) if live.any() else np.array([pads[axis]])
        first = min(int(used.min()), pads[axis])
        last = max(int(used.max()), pads[axis])
        window.append(slice(first, last + 1))
        new_pads[axis] = pads[axis] - first
        new_pads[axis + 2] = last - pads[axis]
    return np.ascontiguousarray(weight[:, :, window[0], window[1]]), new_pads
