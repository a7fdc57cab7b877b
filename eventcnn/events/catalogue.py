"""The catalogue of public files eventcnn uses: :class:`Source` and :data:`REGISTRY`.

What each file is (host, pinned commit or EOS path, checksums, licence, where it
lands); :mod:`eventcnn.events.sources` fetches them and lists them.

Example::

    from eventcnn.events.catalogue import REGISTRY
    [s.relpath for s in REGISTRY if s.dataset == "opal"]
"""

from __future__ import annotations

from dataclasses import dataclass

from eventcnn.events.opendata import DEFAULT_HTTPS, DEFAULT_XROOTD, NANO_RECORDS

__all__ = ["ALIASES", "CMS_LICENCE", "DATASETS", "DEFAULT_BASE_URL", "MANCHESTER_LICENCE", "OPAL_LICENCE",
           "REGISTRY", "Source"]

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"

CMS_LICENCE = "CC0 1.0 (CMS open data)"
OPAL_LICENCE = "unknown: not stated, see NTW-Muenster/opal-mc-ml"
MANCHESTER_LICENCE = ("unknown: no licence stated by the source (QuarkNet-HEP/opal-masterclass); "
                      "ask its authors before redistributing")
_MANCHESTER = dict(dataset="opal_manchester", repo="QuarkNet-HEP/opal-masterclass",
                   commit="ca665e18517e6701b092ce5a31d654b4941ee0a8", licence=MANCHESTER_LICENCE)


@dataclass(frozen=True)
class Source:
    """One public file of the registry.

    A GitHub file is ``repo`` @ ``commit``, ``path`` with its ``sha256`` (pooch's
    known hash); when it is a (gzipped) tar archive, ``member`` names the file
    inside it and ``member_sha256`` its hash. A CERN open data file has no
    ``repo``: ``path`` is its EOS path (``/eos/opendata/cms/...``), checked by
    ``size`` and ``adler32`` (the portal's checksum) when known, else fetched
    with a loud UNVERIFIED warning. Either way the file ends up at
    ``<out>/<dataset>/<filename>``. ``label`` is the image class a NanoAOD file
    stands for, ``record`` its portal record.

    Example::

        src = Source("wjets", "cms", "Wjets_json.json", "jzyee/cms_image_classification",
                     "073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7", "json_files/Wjets_json.json",
                     "0249c95b98563ac7bae680529b657236818e68b6b676c8ce1c7adf46e8fc660c")
        src.url()  # 'https://raw.githubusercontent.com/jzyee/.../json_files/Wjets_json.json'
    """

    key: str
    dataset: str
    filename: str
    repo: str = ""
    commit: str = ""
    path: str = ""
    sha256: str | None = None
    member: str | None = None
    member_sha256: str | None = None
    licence: str = "unknown"
    description: str = ""
    size: int | None = None
    adler32: str | None = None
    label: str | None = None
    record: int | None = None
    events: int | None = None
    provenance: str = ""
    folder: str = ""  # sub-folder of <out>/<dataset> it is stored in (the answer key: "answer_key")
    bundle: str | None = None  # published as many files (``path`` their folder), zipped here: events.bundles
    columns: tuple[str, ...] = ()  # a CSV with this header row (checked on mirror copies)

    @property
    def on_github(self) -> bool:
        return bool(self.repo)

    def url(self, base_url: str | None = None) -> str:
        """Download URL: ``<base_url>/<repo>/<commit>/<path>`` (raw GitHub by default), or
        ``<base_url><path>`` for an EOS file (https://eospublic.cern.ch by default)."""
        if self.on_github:
            return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{self.repo}/{self.commit}/{self.path}"
        return (base_url or DEFAULT_HTTPS).rstrip("/") + self.path

    def https_url(self, base_url: str | None = None) -> str:
        """Same as :meth:`url` (the HTTPS URL of an EOS file)."""
        return self.url(base_url)

    def xrootd_url(self) -> str:
        """``root://eospublic.cern.ch//eos/...`` of an EOS file (streamed by uproot)."""
        return DEFAULT_XROOTD + self.path

    @property
    def base_url_env(self) -> str:
        """The environment variable that replaces the default host of this file."""
        return "EVENTCNN_DATA_BASE_URL" if self.on_github else "EVENTCNN_NANO_BASE_URL"

    @property
    def final_sha256(self) -> str | None:
        """sha256 of the file that ends up in the destination folder (None: not known)."""
        return self.member_sha256 if self.member else self.sha256

    @property
    def verified(self) -> bool:
        """True when a published checksum (sha256 or adler32) checks the file."""
        return self.final_sha256 is not None or self.adler32 is not None

    @property
    def relpath(self) -> str:
        """Location relative to the destination folder (``<dataset>/[<folder>/]<filename>``)."""
        return "/".join(p for p in (self.dataset, self.folder, self.filename) if p)

    @property
    def mirror_relpath(self) -> str:
        """Location relative to a mirror folder (laid out like ``shared/data``: ``<dataset>/<filename>``)."""
        return f"{self.dataset}/{self.filename}"


_UL16 = "/eos/opendata/cms/mc/RunIISummer20UL16NanoAODv9"
_MC = "NANOAODSIM/106X_mcRun2_asymptotic_v17-v1"
_FIRST = "the first file of record {rec} in public analysis code; size and adler32 not found offline"

REGISTRY: tuple[Source, ...] = (
    Source(
        key="ttjets",
        dataset="cms",
        filename="TTjets_json.json",
        repo="laramaktub/json-collisions",
        commit="543f22ce8249131ff6fe97d1a4648f6005fd0d26",
        path="AnalysisFW/plugins/v",
        sha256="d243bed9edbc078b535ea320c9897e24e123c55e11587b3fefea6736ac300550",
        member="JsonToRoot/prueba.json",
        member_sha256="0a0c81bcbeb23cfb952304c8398b2d43af0a57fe4db726f6647c1a99f98fc795",
        licence=CMS_LICENCE,
        description="5,000 tt+jets events (CMS 2011 simulation, Summer11LegDR TTJets, 7 TeV)",
    ),
    Source(
        key="wjets",
        dataset="cms",
        filename="Wjets_json.json",
        repo="jzyee/cms_image_classification",
        commit="073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7",
        path="json_files/Wjets_json.json",
        sha256="0249c95b98563ac7bae680529b657236818e68b6b676c8ce1c7adf46e8fc660c",
        licence=CMS_LICENCE,
        description="4,996 W+jets events (CMS 2011 simulation, Summer11LegDR WJetsToLNu, 7 TeV)",
    ),
    Source(
        key="zip",
        dataset="opal",
        filename="centered-masked-rotated1.zip",
        repo="NTW-Muenster/opal-mc-ml",
        commit="b3317a6a0ac765abe1b415eb6957f3f8952b5b7e",
        path="centered-masked-rotated1.zip",
        sha256="678b5b05861fcb93b98e22055f5117d4f58cf04370abba89dc1658b3813b2e73",
        licence=OPAL_LICENCE,
        description="622 OPAL masterclass event displays (200x200 PNG, centred, masked, rotated)",
    ),
    Source(
        key="labels",
        dataset="opal",
        filename="events_list.csv",
        repo="NTW-Muenster/opal-mc-ml",
        commit="339c9602304c056196ec092cc4ce423c3aee61c1",
        path="events_list.csv",
        sha256="2e41b2b3559a58da55495c3bb31f92b13597d17c22f6645d5b221275b4226b77",
        licence=OPAL_LICENCE,
        description="labels of the OPAL displays: '<event>.png;<q|e|m|t>' (the answer key: kept in "
                    "opal/answer_key/, apart from the displays students use)",
        folder="answer_key",
    ),
    Source(
        key="displays", filename="z_displays.zip", path="static/data", bundle="z_displays.zip", **_MANCHESTER,
        description="the 997 OPAL displays of the Manchester/QuarkNet Z challenge (GIF as published, "
                    "end and side views, with the header students read); published file by file, zipped here",
    ),
    Source(
        key="challenge", filename="z_challenge.csv", path="data/Z-challenge.csv",
        sha256="b9b45759800d51e47edba66c2757139fdf04993064ae1e0713ae5696cb4e9a94",
        columns=("file_name", "event_id"), **_MANCHESTER,
        description="the Z challenge: 'file_name,event_id', 1,003 rows (997 displays; no answer key is published)",
    ),
    Source(
        key="examples", filename="examples.zip", path="static/data", bundle="examples.zip", **_MANCHESTER,
        description="the 43 labelled teaching displays of the masterclass (x... end views, s... side views)",
    ),
    Source(
        key="examples_list", filename="examples.csv", path="scripts/examples.csv",
        sha256="f705efb4791be3a9ee3c3533cddd8e3f39070a599af0478ed30edab1fbc53f9e",
        columns=("event_type", "file_name"), **_MANCHESTER,
        description="the teaching displays' event types: 'event_type,file_name' (ee, mumu, tautau, qq, ...)",
    ),
    Source(
        key="tt", dataset="nano", label="ttjets", filename="TTToSemiLeptonic_UL16_08FCB2ED.root",
        path=f"{_UL16}/TTToSemiLeptonic_TuneCP5_13TeV-powheg-pythia8/{_MC}/120000/"
             "08FCB2ED-176B-064B-85AB-37B898773B98.root",
        description=NANO_RECORDS["tt"].dataset, record=67993, events=1_233_000, licence=CMS_LICENCE,
        provenance="1,233,000 events as read by public analysis code; size and adler32 not found offline",
    ),
    Source(
        key="wjets", dataset="nano", label="wjets", filename="WJetsToLNu_UL16_00702195.root",
        path=f"{_UL16}/WJetsToLNu_TuneCP5_13TeV-madgraphMLM-pythia8/{_MC}/270000/"
             "00702195-E707-3743-8BBA-57EB9DEE1DBA.root",
        description=NANO_RECORDS["wjets"].dataset, record=69747, licence=CMS_LICENCE,
        provenance="file path as used in public analysis code; size and adler32 not found offline",
    ),
    Source(
        key="dy", dataset="nano", label="dy", filename="DYJetsToLL_M-50_UL16_751D5714.root",
        path=f"{_UL16}/DYJetsToLL_M-50_TuneCP5_13TeV-madgraphMLM-pythia8/{_MC}/40000/"
             "751D5714-5507-6343-818A-5DB7797D6632.root",
        description=NANO_RECORDS["dy"].dataset, record=35671, licence=CMS_LICENCE,
        provenance="file path as used in public analysis code; size and adler32 not found offline",
    ),
    Source(
        key="singlemuon", dataset="nano", label="data", filename="SingleMuon_Run2016H_61FC1E38.root",
        path="/eos/opendata/cms/Run2016H/SingleMuon/NANOAOD/UL2016_MiniAODv2_NanoAODv9-v1/120000/"
             "61FC1E38-F75C-6B44-AD19-A9894155874E.root",
        description="/SingleMuon/Run2016H-UL2016_MiniAODv2_NanoAODv9-v1/NANOAOD", record=30563,
        size=14_695_266, licence=CMS_LICENCE,
        provenance="record id 30563 (DOI 10.7483/OPENDATA.CMS.4BUS.64MV) and size from public "
                   "analysis code; adler32 not found offline",
    ),
)

#: Data sets of :func:`fetch` besides ``"all"`` (= cms + opal) and ``"three-class"`` (tt, wjets, dy).
DATASETS: tuple[str, ...] = ("cms", "opal", "opal_manchester", "nano")

#: other names of data sets
ALIASES = {"manchester": "opal_manchester"}
