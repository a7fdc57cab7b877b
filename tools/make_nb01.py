"""Build notebooks/01_create_images.ipynb (run: python -m tools.make_nb01)."""

from tools.notebook_template import build_notebook, code, md

INTRO = """\
Stage 1 of the pipeline: read CMS open-data events (tt+jets and W+jets, 2011
simulation at 7 TeV), apply the lepton + jets selection of the original
analysis, look at the physics, and draw every selected event as an **eta-phi
image** (arXiv:1708.07034): one unfilled ellipse per jet (red; pure red when
b-tagged), electron (blue), muon (green) and the missing transverse energy
(black, at eta = 0), with a size that grows with log pT.

The same from the command line:
`eventcnn render TTjets_json.json Wjets_json.json --label ttjets --label wjets --out CreatedImages`
"""

PARAMS = """\
SELECTION = "paper"          # "paper", "paper+jet", "none" or a JSON file of settings
STYLE = "paper"              # "paper" (ellipses) or "channels" (pT-weighted discs per object type)
IMAGE_SIZE = 64 if QUICK else 224
LIMIT = 40 if QUICK else None  # events per class (None = all selected events)
JOBS = 1 if QUICK else 2
OUT_DIR = WORKDIR / "CreatedImages"
NANO_EVENTS = 2000 if QUICK else 50000  # NanoAOD section: first events of each 2016 file
NANO_OUT_DIR = WORKDIR / "CreatedImagesNano"
"""

cells = [
    md("## The input files\nThe public CMS files are downloaded once and cached "
       "(`eventcnn data fetch cms`); offline, the small example files shipped with eventcnn are used."),
    code("import helpers\n\ninputs = helpers.cms_inputs()\ninputs"),
    md("## Selection and cut flow\nExactly one tight, isolated lepton with pT > 20 GeV; jets with "
       "tight ID, pT > 30 GeV and |eta| < 2.4; a jet is b-tagged when CSV > 0.679."),
    code("samples = helpers.load_selected(inputs, SELECTION)\n"
         "for label, ev in samples.items():\n    print(label, ev.summary())"),
    md("## Kinematics per class\ntt+jets events have more jets (two b quarks and, in the "
       "lepton + jets channel, two light quarks) and a larger HT than W+jets."),
    code("helpers.plot_kinematics(samples, path=WORKDIR / 'kinematics.png');"),
    md("## Draw the images\nImages already on disk are kept, so re-running only adds what is "
       "missing. A manifest (`manifest.csv`) records the source file and event number of "
       "every image."),
    code("from eventcnn.images.render import RenderConfig, render_to_dir\n\n"
         "config = RenderConfig(style=STYLE, size=IMAGE_SIZE)\n"
         "summary = render_to_dir([(path, label) for label, path in inputs.items()], OUT_DIR, config,\n"
         "                        selection=SELECTION, limit=LIMIT, jobs=JOBS)\n"
         "print(summary.table())"),
    md("## A gallery per class"),
    code("helpers.plot_gallery(OUT_DIR, per_class=6, seed=SEED, path=WORKDIR / 'gallery.png');"),
    md("## One event, object by object\nThe same event as numbers and as a picture."),
    code("import matplotlib.pyplot as plt\nfrom eventcnn.images.render import render_event\n\n"
         "ev = next(iter(samples.values()))\n"
         "print('event', ev.event[0], 'MET', round(float(ev.met[0]), 1), 'GeV')\n"
         "for name in ('jet', 'electron', 'muon'):\n"
         "    objs = ev.collection(name).of_event(0)\n"
         "    for pt, eta, phi in zip(objs['pt'], objs['eta'], objs['phi']):\n"
         "        print(f'{name:8s} pT={pt:6.1f} eta={eta:+.2f} phi={phi:+.2f}')\n"
         "plt.imshow(render_event(ev, 0, RenderConfig(size=224)), extent=(-3, 3, -3.1416, 3.1416))\n"
         "plt.xlabel('eta'); plt.ylabel('phi');"),
]

cells += [
    md("## Today's CMS open data: NanoAOD, three classes\n"
       "CMS publishes its 2016 data and simulation as **NanoAOD** ROOT files on "
       "[opendata.cern.ch](https://opendata.cern.ch). eventcnn reads them with uproot and awkward "
       "into the same events as the JSON (`read_events('file.root')`). Here: the first events of one "
       "file each of tt semileptonic, W+jets and Drell-Yan (`eventcnn data fetch three-class "
       "--max-events N`, streamed over XRootD; needs `pip install fsspec-xrootd` and a network). "
       "Offline, the shipped examples are converted to NanoAOD instead (`eventcnn data convert`). "
       "The selection keeps events with at least one tight isolated lepton, so Drell-Yan dileptons stay; "
       "b-tagging uses the working point of the discriminant in the file (DeepFlavB 0.3093)."),
    code("from eventcnn.events.convert import convert\n"
         "from eventcnn.events.sources import REGISTRY, fetch\n\n"
         "try:\n"
         "    nano = fetch('three-class', max_events=NANO_EVENTS, quiet=True)\n"
         "    nano_inputs = {s.label: nano[s.key] for s in REGISTRY if s.dataset == 'nano' and s.key in nano}\n"
         "except (OSError, RuntimeError, ValueError, ImportError) as exc:\n"
         "    print(f'NanoAOD files not reachable ({str(exc)[:120]}...); converting the shipped examples')\n"
         "    nano_inputs = {label: convert(path, WORKDIR / 'nano' / f'{label}.root', overwrite=True)\n"
         "                   for label, path in helpers.example_inputs().items()}\n"
         "nano_samples = helpers.load_selected(nano_inputs, 'lepton')\n"
         "nano_summary = render_to_dir([(path, label) for label, path in nano_inputs.items()], NANO_OUT_DIR,\n"
         "                             config, selection='lepton', limit=LIMIT, jobs=JOBS)\n"
         "print(nano_summary.table())"),
]



def main() -> None:
    build_notebook("notebooks/01_create_images.ipynb", "01 - From events to images", PARAMS, cells, INTRO)


if __name__ == "__main__":
    main()
