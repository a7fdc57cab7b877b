"""Build notebooks/05_representations.ipynb (run: python -m tools.make_nb05)."""

from tools.notebook_template import build_notebook, code, md

INTRO = """\
Is an event best seen as a **picture**? The same generated events
(tt+jets, W+jets, Drell-Yan; Pythia 8 + the project's detector model; at least
one tight isolated lepton) are given to three classifiers:

* **image CNN**: the small CNN on the paper-style eta-phi images (arXiv:1708.07034);
* **Deep Sets**: a permutation-invariant network on the reconstructed objects
  themselves (MET, leptons, jets as a set: a Particle Flow Network, Komiske, Metodiev, Thaler 2019);
* **boosted trees** on twelve physics features (jet and b-tag counts, HT, MET, lepton, mT).

Learning curves (test figures against training events per class) with 95 %
intervals: a bootstrap over the test events, and the spread over seeds; the
difference image CNN minus each other representation on the same events (paired);
and the transfer to the real CMS events (trained on generated events, scored
on real ones; fine-tuned on a few real ones).

The full study (hundreds of thousands of events, hours of CPU) is one command:
`python bench/representations.py --out bench/_out/repr`; its result is in
`docs/representations.md`. This notebook runs the same code at a small scale.
"""

PARAMS = """\
EVENTS_DIR = WORKDIR / "representations" / "events"     # generated events, cached in pieces
TARGET = 60 if QUICK else 4000                          # selected events per class to generate
PIECE_EVENTS = 300 if QUICK else 5000                   # generated events per cached file
IMAGE_SIZE = 32                                         # the study's image size (see docs/representations.md)
SIZES = (15, 30) if QUICK else (100, 300, 1000, 2500)   # training events per class
SEEDS = (1,) if QUICK else (1, 2, 3)
REAL_PER_CLASS = 20 if QUICK else 100                   # real CMS events per class for fine-tuning
N_BOOT = 100 if QUICK else 1000                         # bootstrap resamples per interval
# training: at least MIN_STEPS optimizer steps, at most MAX_EPOCHS (see eventcnn.learn.study.Recipe)
MIN_STEPS, MAX_EPOCHS = (30, 6) if QUICK else (500, 60)
"""

cells = [
    md("## 1. Generate the events (cached)\n"
       "Pieces of `PIECE_EVENTS` events per process are generated round-robin until every class has "
       "`TARGET` events passing the selection; a piece already on disk is never generated again. "
       "Every event has a fixed role: test if its number is 0 or 6 modulo 12, validation if 1, else training."),
    code("from eventcnn.learn.study_data import CLASS_WORDS, generate_pieces, render_shards, load_views\n\n"
         "pieces = generate_pieces(EVENTS_DIR, TARGET, PIECE_EVENTS, seed=SEED % 100, quiet=QUICK)\n"
         "helpers.markdown('| file | process | generated | selected |\\n|---|---|---|---|\\n' + '\\n'.join(\n"
         "    f\"| {name} | {CLASS_WORDS[v['process']]} | {v['events']} | {v['selected']} |\" for name, v in pieces.items()))"),
    md("## 2. The same events three ways\nEvery selected event is drawn into shards "
       "(`render --format shards`), and read back as an image, as a set of objects and as features."),
    code("shards = render_shards(EVENTS_DIR, WORKDIR / 'representations' / f'shards_{IMAGE_SIZE}', IMAGE_SIZE, quiet=True)\n"
         "views = load_views(EVENTS_DIR, shards)\n"
         "print(f'{len(views)} events; objects per event: {views.objects.mask.sum(1).mean():.1f} on average')"),
    code("import numpy as np\nimport matplotlib.pyplot as plt\n\n"
         "i = int(np.flatnonzero(views.labels == 0)[0])   # the first tt+jets event\n"
         "fig, ax = plt.subplots(figsize=(3, 3))\n"
         "ax.imshow(views.images[i]); ax.set_xlabel('eta'); ax.set_ylabel('phi')\n"
         "ax.set_title(f'{CLASS_WORDS[views.class_names[views.labels[i]]]}, event {views.event[i]}')\n"
         "plt.show()\n"
         "obj = views.objects\n"
         "helpers.markdown('| ' + ' | '.join(obj.feature_names) + ' |\\n|' + '---|' * len(obj.feature_names) + '\\n' +\n"
         "    '\\n'.join('| ' + ' | '.join(f'{x:.2f}' for x in row) + ' |' for row in obj.values[i][obj.mask[i]]))\n"
         "helpers.markdown('| ' + ' | '.join(views.feature_names) + ' |\\n|' + '---|' * len(views.feature_names) + '\\n| '\n"
         "    + ' | '.join(f'{x:.1f}' for x in views.features[i]) + ' |')"),
    md("## 3. Learning curves\nFor every training size, seed and representation a model is trained "
       "(networks: Adam, cosine decay, early stopping on the validation loss, best epoch kept) and scored "
       "on the same held-out test events. Predictions are cached: re-running continues."),
    code("from eventcnn.learn.study import Recipe, StudySettings, run_study\n\n"
         "real = helpers.cms_inputs()   # the public CMS files (fetched once); None below: no real-data part\n"
         "settings = StudySettings(sizes=SIZES, seeds=SEEDS, size=IMAGE_SIZE, real_per_class=REAL_PER_CLASS,\n"
         "                         real_all=not QUICK, n_boot=N_BOOT, quiet=QUICK,\n"
         "                         recipe=Recipe(min_steps=MIN_STEPS, max_epochs=MAX_EPOCHS),\n"
         "                         cms=None if real.examples else str(real['ttjets'].parent))\n"
         "out = WORKDIR / 'representations'\n"
         "report = run_study(settings, EVENTS_DIR, shards, out)\n"
         "helpers.show_image(out / 'learning_curves.png')"),
    md("The paired differences: the same test events scored by two representations, resampled "
       "together. An interval that excludes 0 is a real difference at this statistical precision."),
    code("helpers.show_image(out / 'differences.png')\n"
         "helpers.markdown((out / 'summary.md').read_text())"),
    md("## 4. Real CMS events\nThe models of the largest size, trained on generated events, scored on the "
       "real tt+jets and W+jets events of the CMS 2011 simulation; then fine-tuned on a few real events; "
       "and, for comparison, trained on real events only."),
    code("if (out / 'transfer.png').exists():\n"
         "    helpers.show_image(out / 'transfer.png')\n"
         "else:\n"
         "    print('no real CMS data found: the transfer part was skipped')"),
    md("## 5. The full study\nRun on hundreds of thousands of generated events by "
       "`bench/representations.py`; the figures and what they say are in `docs/representations.md`."),
    code("for name in ('representations_learning_curves.png', 'representations_differences.png',\n"
         "             'representations_transfer.png'):\n"
         "    path = ROOT / 'docs' / 'img' / name\n"
         "    if path.exists():\n"
         "        helpers.show_image(path)\n"
         "    else:\n"
         "        print(f'{path.name} not found: run python bench/representations.py')"),
]

def main() -> None:
    build_notebook("notebooks/05_representations.ipynb", "Which representation wins: images, object sets or features?",
                   PARAMS, [code("import helpers"), *cells], intro=INTRO)


if __name__ == "__main__":
    main()
