"""Tests of eventcnn.learn.registry: one registry of every network, readable without Keras."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from eventcnn.errors import UserError
from eventcnn.learn.registry import (
    BACKBONES,
    MASTERCLASS,
    canonical_backbone,
    check_input_size,
    min_input_size,
)


def test_the_masterclass_cnn_is_a_network_of_the_registry():
    spec = BACKBONES[MASTERCLASS]
    assert spec.network and spec.classes == 4 and spec.size == 200 and spec.min_size == min_input_size() == 53
    assert canonical_backbone("opal") == canonical_backbone("Masterclass") == MASTERCLASS
    assert canonical_backbone("ResNet-50") == "resnet50"
    with pytest.raises(UserError, match="unknown backbone 'alexnet'"):
        canonical_backbone("alexnet")


def test_input_sizes_are_checked_in_the_networks_words():
    assert check_input_size(MASTERCLASS, 53) == 53
    with pytest.raises(UserError, match=r"image size 52 is too small for the masterclass CNN: .* at least 53 x 53"):
        check_input_size(MASTERCLASS, 52)
    with pytest.raises(UserError, match="at least 75x75"):
        check_input_size("inceptionv3", 64)
    with pytest.raises(UserError, match="too large"):
        check_input_size("small", 5000)


def test_the_registry_and_the_help_need_no_keras():
    """`eventcnn train --help` lists the networks of the registry, with Keras blocked."""
    script = ("import sys\n"
              "class B:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] in {'keras', 'tensorflow'}: raise ImportError('blocked')\n"
              "sys.meta_path.insert(0, B())\n"
              "from eventcnn.cli import build_parser\n"
              "import contextlib, io\n"
              "buf = io.StringIO()\n"
              "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
              "    build_parser().parse_args(['train', '--help'])\n"
              "print(buf.getvalue())\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    help_text = " ".join(res.stdout.split())
    for name in BACKBONES:
        assert name in help_text
