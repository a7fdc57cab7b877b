"""Class and process names and their words: the one home for both experiments.

CMS: the Pythia 8 processes eventcnn generates (``tt``, ``wjets``, ``dy``, ``zz``),
the other names they go by, the class label (image folder name) each becomes and
the words a plot or a student reads. OPAL: the Z decay classes of the masterclass
(``q``, ``e``, ``m``, ``t``) in model-output order, and their words.

Pure Python (no numpy), so the command line can build its choices from it.

Example::

    >>> from eventcnn.names import canonical_process, class_words
    >>> canonical_process("TTjets"), class_words("wjets")
    ('tt', 'W + jets (wjets)')
"""

from __future__ import annotations

from eventcnn.errors import UserError

__all__ = [
    "CMS_TITLES",
    "CMS_WORDS",
    "OPAL_CLASSES",
    "OPAL_TITLES",
    "OPAL_WORDS",
    "PROCESSES",
    "PROCESS_ALIASES",
    "PROCESS_CHOICES",
    "PROCESS_LABELS",
    "THREE_CLASS",
    "THREE_CLASS_LABELS",
    "canonical_process",
    "class_words",
]

# --------------------------------------------------------------------------- CMS

#: the processes eventcnn generates (canonical names) and what each is
PROCESSES: dict[str, str] = {
    "tt": "tt+jets: gg/qqbar -> t tbar, inclusive top decays",
    "wjets": "W+jets: ffbar -> W -> l nu (l = e, mu, tau) with parton-shower jets",
    "dy": "Drell-Yan: ffbar -> Z/gamma* -> l l (l = e, mu, tau), m(ll) > 50 GeV",
    "zz": "ZZ: ffbar -> ZZ, at least one Z -> l l (l = e, mu, tau), the other inclusive",
}

#: other accepted names of a process (the image class names used elsewhere) -> canonical name
PROCESS_ALIASES: dict[str, str] = {
    "ttjets": "tt",
    "ttbar": "tt",
    "w": "wjets",
    "wjet": "wjets",
    "drellyan": "dy",
    "zjets": "dy",
    "dyjets": "dy",
}

#: every name a process may be given (``eventcnn generate PROCESS``)
PROCESS_CHOICES: tuple[str, ...] = (*PROCESSES, *PROCESS_ALIASES)

#: the class label (image folder name) of each process's events
PROCESS_LABELS: dict[str, str] = {"tt": "ttjets", "wjets": "wjets", "dy": "dy", "zz": "zz"}

#: the processes of the three-class problem (NanoAOD ``three-class``, the demo)
THREE_CLASS: tuple[str, ...] = ("tt", "wjets", "dy")
#: their class labels
THREE_CLASS_LABELS: tuple[str, ...] = tuple(PROCESS_LABELS[p] for p in THREE_CLASS)

#: the CMS classes in words (by label and by process name); other class names are shown as they are
CMS_WORDS: dict[str, str] = {
    "ttjets": "top pair + jets",
    "tt": "top pair + jets",
    "wjets": "W + jets",
    "dy": "Drell-Yan Z/gamma* -> l l",
    "zz": "ZZ",
}

#: the CMS classes in words with their name: ``"W + jets (wjets)"``
CMS_TITLES: dict[str, str] = {name: f"{word} ({name})" for name, word in CMS_WORDS.items()}


def canonical_process(name: str) -> str:
    """The canonical process name for ``name`` (aliases, any case); a clear error otherwise.

    Example::

        >>> canonical_process("DrellYan")
        'dy'
    """
    key = str(name).strip().lower()
    key = PROCESS_ALIASES.get(key, key)
    if key not in PROCESSES:
        raise UserError(f"unknown process {name!r}: choose one of {', '.join(PROCESS_CHOICES)}")
    return key


def class_words(label: str) -> str:
    """A class name in words, with the name: ``"W + jets (wjets)"`` (unknown names as they are).

    Example::

        >>> class_words("ttjets"), class_words("signal")
        ('top pair + jets (ttjets)', 'signal')
    """
    word = CMS_WORDS.get(label.lower())
    return f"{word} ({label})" if word else label


# --------------------------------------------------------------------------- OPAL

#: the masterclass's Z decay classes in model-output order: hadronic, electron, muon, tau
OPAL_CLASSES: tuple[str, ...] = ("q", "e", "m", "t")

#: each class in one word, for axes, captions and prompts
OPAL_WORDS: dict[str, str] = {"q": "hadronic", "e": "electron", "m": "muon", "t": "tau"}

#: each class with its decay
OPAL_TITLES: dict[str, str] = {
    "q": "hadronic (Z -> q qbar)",
    "e": "electron (Z -> e+ e-)",
    "m": "muon (Z -> mu+ mu-)",
    "t": "tau (Z -> tau+ tau-)",
}
