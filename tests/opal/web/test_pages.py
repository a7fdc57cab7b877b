"""The pages' words: one message catalogue per language, every key in every language, physics words checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eventcnn.opal.web.pages import LANGUAGES, PAGES, STATIC, asset, catalogue

STATIC_DIR = Path(__file__).resolve().parents[3] / "eventcnn" / "opal" / "web" / "static"
#: keys the scripts build from codes (class.q, stage.epoch, error.class_full, ...) and their members
FAMILIES = {
    "class": ["q", "e", "m", "t"], "decay": ["q", "e", "m", "t"], "hint": ["q", "e", "m", "t"],
    "layer": ["tracks", "ecal", "hcal", "muon"],
    "stage": ["idle", "starting", "loading", "training", "epoch", "predicting", "occlusion", "done", "failed"],
    "problem": ["nothing_measured", "heldout_missing", "not_invertible"],
}


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{([a-z_]+)\}", text))


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    assert set(LANGUAGES) >= {"en", "de", "fr", "es", "it"}
    en = catalogue("en")
    for lang in LANGUAGES:
        other = catalogue(lang)
        assert set(other) == set(en), (lang, set(en) ^ set(other))
        for key, text in en.items():
            assert _placeholders(other[key]) == _placeholders(text), (lang, key)
            assert other[key].strip() or not text.strip(), (lang, key)  # translated, not left empty
        if lang != "en":  # really translated: most sentences differ from the English ones
            same = [k for k in en if en[k] == other[k] and len(en[k]) > 12]
            assert len(same) < 5, (lang, same)


def test_every_word_the_pages_use_is_in_the_catalogue() -> None:
    en = catalogue("en")
    used: set[str] = set()
    for name in PAGES:
        html = asset(name).decode()
        used |= set(re.findall(r'data-i18n="([a-z_.]+)"', html))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', html):
            used |= {pair.split(":")[1] for pair in attrs.split(";")}
        used |= set(re.findall(r'data-title="([a-z_.]+)"', html))
    for name in STATIC:
        if name.endswith(".js"):
            used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_.]+)"', asset(name).decode()))
    for family, members in FAMILIES.items():
        used |= {f"{family}.{m}" for m in members}
    missing = sorted(k for k in used if k not in en)
    assert not missing, missing


def test_server_error_codes_have_words() -> None:
    from eventcnn.opal.web import app as app_module
    from eventcnn.opal.web import store

    codes = set(app_module._CODES.values()) | {"network"}
    codes |= set(re.findall(r'\b\d{3}, "([a-z_]+)"\)', Path(store.__file__).read_text()))
    assert {"class_full", "removed", "db_gone", "name_invalid"} <= codes
    en = catalogue("en")
    assert not sorted(c for c in codes if f"error.{c}" not in en)


def test_no_english_words_are_hard_coded_in_the_pages() -> None:
    for name in PAGES:
        html = asset(name).decode()
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", body)
        words = [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ("OPAL", "csv", "labels", "votes",
                                                                           "board", "masterclass")]
        assert not words, (name, words[:10])


@pytest.mark.parametrize(("lang", "words"), [
    ("de", {"layer.tracks": "Spurkammer", "layer.ecal": "elektromagnetisches Kalorimeter",
            "layer.hcal": "hadronisches Kalorimeter", "layer.muon": "Myonkammern", "class.m": "Myonen"}),
    ("fr", {"layer.ecal": "calorimètre électromagnétique", "layer.hcal": "calorimètre hadronique",
            "layer.muon": "chambres à muons", "layer.tracks": "chambre à traces"}),
    ("es", {"layer.ecal": "calorímetro electromagnético", "layer.hcal": "calorímetro hadrónico",
            "layer.muon": "cámaras de muones", "layer.tracks": "cámara de trazas"}),
    ("it", {"layer.ecal": "calorimetro elettromagnetico", "layer.hcal": "calorimetro adronico",
            "layer.muon": "camere a muoni", "layer.tracks": "rivelatore di tracce"}),
    ("en", {"layer.ecal": "electromagnetic calorimeter", "layer.hcal": "hadron calorimeter",
            "layer.muon": "muon chambers", "layer.tracks": "jet chamber"}),
])
def test_physics_words(lang: str, words: dict[str, str]) -> None:
    cat = catalogue(lang)
    for key, word in words.items():
        assert word in cat[key], (lang, key, cat[key])


def test_catalogues_are_valid_utf8_json_files_in_the_package() -> None:
    for lang in LANGUAGES:
        path = STATIC_DIR / "i18n" / f"{lang}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == catalogue(lang)
    with pytest.raises(KeyError):
        catalogue("xx")


def test_the_colour_key_matches_the_detector_drawing() -> None:
    from eventcnn.opal.simulate import (
        Detector,  # where the real displays draw each layer (measured)
    )
    from eventcnn.opal.web.student import LAYERS

    det = Detector()
    assert LAYERS["ecal"][0] == det.ecal_px and LAYERS["hcal"][0] == det.hcal_px
    assert LAYERS["muon"] == (det.muon_px_in, det.muon_px_out) and LAYERS["mask"][0] == det.mask_px
    assert abs(LAYERS["tracks"][1] - 1.85 * det.px_per_m) < 1  # the jet chamber ends at 1.85 m
