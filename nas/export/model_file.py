"""Assemble `model.py`: a docstring with the origin and the constants a user needs, `preprocess`, the
space's network code, and one class named after the architecture whose constructor takes no arguments."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from nas.export.codegen import Code, check_standalone, render
from search_spaces.base import Architecture

NICE_WORDS = {"resnet": "ResNet", "densenet": "DenseNet", "bc": "BC", "fractalnet": "FractalNet",
              "hardnet": "HarDNet", "vovnet": "VoVNet", "nb201": "NB201", "b": "B"}


@dataclass
class ModelInfo:
    """What model.py's docstring and constants say: where the network comes from and what it eats."""

    arch: Architecture
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32
    label: str | None = None  # a preset's name, when the architecture is one
    source: str = ""  # e.g. "--arch preset:resnet-20" or "run runs/x (nas train)"
    dataset: str | None = None
    trained: bool = False
    class_names: list[str] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # val/test accuracy, params, flops, latency_ms, ...

    @property
    def class_name(self) -> str:
        return class_name(self.arch, self.label)


def class_name(arch: Architecture, label: str | None = None) -> str:
    """`resnet-20` -> ResNet20, `densenet-bc-100-12` -> DenseNetBC100_12; otherwise the space and the
    architecture's key, e.g. Dense_3f2a1b9c."""
    if label:
        words = [w for w in re.split(r"[^A-Za-z0-9]+", label) if w]
        name = ""
        for w in words:
            sep = "_" if name[-1:].isdigit() and w[0].isdigit() else ""
            name += sep + NICE_WORDS.get(w.lower(), w[0].upper() + w[1:])
    else:
        space = "".join(NICE_WORDS.get(w, w.capitalize()) for w in re.split(r"[^A-Za-z0-9]+", arch.space) if w)
        name = f"{space or 'Net'}_{arch.key()[:8]}"
    return name if name[:1].isalpha() else f"Net{name}"


def _fmt_metric(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if key.endswith("accuracy"):
        return f"{'validation' if key.startswith('val') else 'test'} accuracy {100 * value:.2f}%"
    if key in ("params", "flops"):
        return f"{'MACs' if key == 'flops' else 'params'} {value:,}"
    if key == "latency_ms":
        return f"latency {value:.3f} ms"
    return f"{key.replace('_', ' ')} {value}"


def docstring(info: ModelInfo) -> str:
    name, c, s = info.class_name, info.in_channels, info.input_size
    lines = [f"{name}: a stand-alone PyTorch network (needs only torch), written by densedag's `nas export`.", "",
             f"Origin: space {info.arch.space!r}, {info.source or 'an architecture file'}"
             + (f", dataset {info.dataset}" if info.dataset else "") + "."]
    measured = [m for k in ("val_accuracy", "test_accuracy", "params", "flops", "latency_ms", "latency_device")
                if (m := _fmt_metric(k, info.metrics.get(k))) is not None]
    if measured:
        lines.append("Measured: " + "; ".join(measured) + ".")
    lines.append("Weights: weights.pt beside this file, " + (
        "the trained weights of the run." if info.trained else
        "a fresh initialisation (exported from an architecture, not a trained run): train before use."))
    lines += ["", f"Input: float tensors N x {c} x {s} x {s} (IN_CHANNELS x INPUT_SIZE x INPUT_SIZE), normalised "
              "per channel", "by `preprocess` with MEAN / STD " + (
                  "of the training split." if info.mean else "(no dataset: identity, inputs in [0, 1]).")]
    if info.class_names:
        shown = ", ".join(info.class_names[:20]) + (", ..." if len(info.class_names) > 20 else "")
        lines.append(f"Output: N x {info.num_classes} logits; CLASS_NAMES: {shown}.")
    else:
        lines.append(f"Output: N x {info.num_classes} logits (class names unknown: CLASS_NAMES is None).")
    lines += ["", "Load it:", "", "    import torch", f"    from model import {name}, preprocess",
              f"    net = {name}().eval()",
              '    net.load_state_dict(torch.load("weights.pt", weights_only=True))',
              "    logits = net(preprocess(images))  # images: N x C x H x W, uint8 or float in [0, 1]", "",
              "The network's code below is the framework's own module code (a loop reads the architecture as",
              "data); arch.json beside this file holds the architecture."]
    text = "\n".join(lines).replace("\\", "\\\\").replace('"' * 3, "'" * 3)  # user text cannot end the docstring
    return '"""' + text + '\n"""'


CONSTANTS = '''
INPUT_SIZE = {size}
IN_CHANNELS = {channels}
NUM_CLASSES = {classes}
CLASS_NAMES = {names}
MEAN = {mean}  # per channel, inputs on the 0-1 scale
STD = {std}
ARCH = json.loads({arch})  # the architecture, as in arch.json


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """N x C x H x W images, uint8 (0-255) or float (0-1), -> the normalised float input the network
    was trained on. Resize to INPUT_SIZE x INPUT_SIZE first if yours differ."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(MEAN, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
'''

FINAL = '''
class {name}(Network):
    """{name} for IN_CHANNELS x INPUT_SIZE x INPUT_SIZE inputs and NUM_CLASSES classes."""

    def __init__(self) -> None:
        super().__init__(NUM_CLASSES, IN_CHANNELS, INPUT_SIZE)
'''


def model_source(info: ModelInfo, network: Code) -> str:
    """The text of model.py; `ValueError` if it would not stand alone."""
    c = info.in_channels
    arch_json = json.dumps(info.arch.to_dict(), sort_keys=True, separators=(",", ":"))
    constants = CONSTANTS.format(size=info.input_size, channels=c, classes=info.num_classes,
                                 names=tuple(info.class_names) if info.class_names else None,
                                 mean=tuple(info.mean) if info.mean else (0.0,) * c,
                                 std=tuple(info.std) if info.std else (1.0,) * c, arch=repr(arch_json))
    code = Code(["import json", "import torch"], [constants]).add(network)
    code.body.append(FINAL.format(name=info.class_name))
    text = docstring(info) + "\n\nfrom __future__ import annotations\n\n" + render(code)
    check_standalone(text)
    return text
