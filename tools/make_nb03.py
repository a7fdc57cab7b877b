"""Build notebooks/03_transfer_learning.ipynb (run: python -m tools.make_nb03)."""

from tools.notebook_template import build_notebook, code, md

INTRO = """\
Stage 3 of the pipeline: train a CNN on the event images and evaluate it honestly.

The original study fed ImageNet networks (VGG16/19, ResNet50, InceptionV3,
InceptionResNetV2) with raw 0-255 pixels, trained the BatchNorm layers of
frozen backbones in training mode and kept the checkpoint with the best
*training* accuracy; it reached 78-81 % on three classes and often collapsed
to 33 %. Here:

* every model does its backbone's own preprocessing inside (caffe BGR/mean for
  VGG and ResNet, [-1, 1] for Inception, built-in for EfficientNetV2/ConvNeXt),
  so it always takes the uint8 images as they are on disk;
* a partly frozen backbone runs its BatchNorm layers in inference mode;
* a seeded, stratified train/validation/test split is saved with the run, the
  checkpoint is chosen on the **validation** set, and the test set is used once;
* the same test events are also classified by gradient-boosted trees on
  high-level features (jet and b-tag counts, HT, MET, lepton, mT), the
  reference every CNN has to beat.

Command line: `eventcnn train --data CreatedImages --model small --size 64 --epochs 15 --out runs/small`,
then `eventcnn evaluate runs/small`, `eventcnn predict runs/small events.json` and `eventcnn compare runs/*`.
"""

PARAMS = """\
BACKBONE = "small" if QUICK else "resnet50"   # small | vgg16 | vgg19 | resnet50 | inceptionv3 | inceptionresnetv2 | efficientnetv2b0 | convnexttiny
FREEZE = "none" if QUICK else "few"           # frozen | few (last 20 %) | many (last 70 %) | none (small: always none)
OPTIMIZER = "adam"                            # adam | rmsprop | sgd
EPOCHS = 1 if QUICK else 5                    # head epochs (backbone frozen)
FINE_TUNE_EPOCHS = 0 if QUICK else 10         # then apply FREEZE and train on at a low rate
IMAGE_SIZE = 32 if QUICK else 224             # Inception needs >= 75
WEIGHTS = None if QUICK else "imagenet"       # "imagenet", None or a local weights file
LIMIT_PER_CLASS = 20 if QUICK else None       # images per class (None: all)
FALLBACK_PER_CLASS = 20 if QUICK else 1000    # events rendered per class if notebook 01 has not run
IMAGE_DIR = WORKDIR / "CreatedImages"         # written by notebook 01
RUN_DIR = WORKDIR / "runs" / f"{BACKBONE}_{FREEZE}_{OPTIMIZER}"
SIM_LIMIT_PER_CLASS = 20 if QUICK else 50     # real events per class for the simulation-pretrained comparison
SIM_EPOCHS = 1 if QUICK else 15               # head epochs (pretrained backbone frozen)
SIM_FINE_TUNE_EPOCHS = 0 if QUICK else 20     # then fine-tune with freeze "many" at 1e-4
"""

cells = [
    md("## The images\nThe images of notebook 01; if it has not been run, events are rendered now "
       "from the public CMS files (`eventcnn.events.sources.fetch('cms')`)."),
    code("import numpy as np\n\nimport helpers\n\n"
         "image_dir = helpers.ensure_images(IMAGE_DIR, per_class=FALLBACK_PER_CLASS, size=max(IMAGE_SIZE, 64))\n"
         "helpers.class_counts(image_dir)"),
    md("## The model\nInput uint8 images -> (training only) phi shift and eta/phi mirrors -> the "
       "backbone's preprocessing -> backbone -> global average pooling -> head -> softmax. "
       "The freeze policy decides how much of the backbone learns; BatchNorm layers of a "
       "(partly) frozen backbone stay in inference mode."),
    code("helpers.freeze_table(BACKBONE, IMAGE_SIZE)"),
    md("## Training\nA resumable run folder: re-running this cell after an interruption continues "
       "from the last epoch; a finished run is not trained again. The best epoch on the validation "
       "accuracy is kept as `best.keras`, and the test split is evaluated at the end."),
    code("from eventcnn.learn.train import TrainConfig, train\n\n"
         "config = TrainConfig(image_dir, RUN_DIR, model=BACKBONE, freeze=FREEZE, optimizer=OPTIMIZER,\n"
         "                     epochs=EPOCHS, fine_tune_epochs=FINE_TUNE_EPOCHS, size=IMAGE_SIZE,\n"
         "                     weights=WEIGHTS, seed=SEED, limit_per_class=LIMIT_PER_CLASS,\n"
         "                     batch_size=16 if QUICK else 32, quiet=QUICK)\n"
         "run = train(config)"),
    md("## Learning curves"),
    code("helpers.show_image(RUN_DIR / 'learning_curves.png')"),
    md("## Evaluation on the test split: CNN vs gradient-boosted trees\nSame test events for both."),
    code("helpers.results_table(run.metrics)"),
    code("for name in ['confusion_matrix_normalized.png', 'roc.png', 'efficiency_rejection.png', 'misclassified.png']:\n"
         "    helpers.show_image(RUN_DIR / name)"),
    md("## What does the CNN look at?\nAn occlusion map (`eventcnn.learn.explain`): a grey square is "
       "slid over the image and the drop of the predicted class's probability is recorded. "
       "Command line: `eventcnn explain RUN_DIR IMAGE.png --out explain/`."),
    code("from eventcnn.learn import explain\n\n"
         "model, class_words, (h, w) = explain.load_explainable(RUN_DIR)\n"
         "examples = [sorted(d.glob('*.png'))[0] for d in sorted(Path(image_dir).iterdir())\n"
         "            if d.is_dir() and any(d.glob('*.png'))][:2]\n"
         "for f in examples:\n"
         "    image = explain.read_input(f, (h, w))\n"
         "    p = np.asarray(model.predict_on_batch(image[None]))[0]\n"
         "    heat = explain.occlusion_map(model, image, target=int(p.argmax()))\n"
         "    title = f'{f.parent.name}: CNN says {class_words[int(p.argmax())]} ({p.max():.0%})'\n"
         "    helpers.show_figure(explain.plot_occlusion(image, heat, title=title))"),
    md("*How to read it:* red regions are where covering the image lowers the probability of "
       "the predicted class (the evidence the CNN uses), blue regions raise it. Evidence on "
       "empty parts of the image would be a warning sign."),
    md("## Comparison of every run in `WORKDIR/runs`\nTrain other backbones / freeze policies / "
       "optimizers (change the parameters above and re-run), then compare. The full grid of the "
       "original study runs with `python bench/backbones.py` on a GPU machine."),
    code("from eventcnn.learn.train import compare_runs\n\n"
         "runs = sorted(p for p in (WORKDIR / 'runs').iterdir() if (p / 'metrics.json').exists())\n"
         "helpers.markdown(compare_runs(runs, out=WORKDIR / 'runs' / 'compare.md', overwrite=True))"),
    md("## Transfer learning from simulation\n"
       "ImageNet features know nothing about jets, leptons and MET. eventcnn ships a small backbone "
       "pretrained on **generated** events (Pythia 8 tt+jets, W+jets, Drell-Yan, ZZ; 64-px paper-style "
       "images; `eventcnn pretrain`, recipe in `eventcnn/learn/weights/sim_small_64.json`). "
       "`weights=\"sim\"` (CLI `--weights sim`) loads it, checks its sha256 and refuses another "
       "backbone or image size. The generator has no pile-up and another mistag rate than CMS, so "
       "the backbone is fine-tuned on the few real events there are."),
    code("from eventcnn.learn.registry import BACKBONES\nfrom eventcnn.learn.weights import available\n\n"
         "helpers.markdown('\\n'.join(['| name | backbone | image size | classes | test accuracy (sim) | sha256 |', '|---|---|---|---|---|---|'] + [\n"
         "    f\"| {e['name']} | {e['backbone']} | {e['image_size']} | {', '.join(e['class_names'])} | \"\n"
         "    f\"{e['figures']['test_accuracy']:.3f} | {e['sha256'][:12]}... |\" for e in available()\n"
         "    if not BACKBONES[e['backbone']].network]))  # backbones (the masterclass CNN is a whole network)"),
    md("Few real events per class (`SIM_LIMIT_PER_CLASS`): the pretrained backbone against the "
       "same small CNN from scratch, same split, same images (64 px, as the shipped weights)."),
    code("sim_runs = []\n"
         "for weights in ('sim', None):\n"
         "    cfg = TrainConfig(image_dir, WORKDIR / 'runs' / f\"small_{weights or 'scratch'}_{SIM_LIMIT_PER_CLASS}\",\n"
         "                      model='small', weights=weights, freeze='many' if weights else 'none', size=64,\n"
         "                      epochs=SIM_EPOCHS if weights else SIM_EPOCHS + SIM_FINE_TUNE_EPOCHS,\n"
         "                      fine_tune_epochs=SIM_FINE_TUNE_EPOCHS if weights else 0, fine_tune_lr=1e-4,\n"
         "                      limit_per_class=SIM_LIMIT_PER_CLASS, monitor='val_loss', seed=SEED,\n"
         "                      batch_size=16 if QUICK else 32, quiet=QUICK)\n"
         "    sim_runs.append(train(cfg).out)\n"
         "helpers.markdown(compare_runs(sim_runs))"),
    md("The benchmark (`python bench/sim_transfer.py`, see docs/benchmarks.md): ROC AUC on 582 "
       "held-out real events against the number of real training events per class, for training "
       "from scratch, the simulation-pretrained backbone with each freeze policy, and boosted trees."),
    code("plot = ROOT / 'docs' / 'img' / 'sim_transfer_auc.png'\n"
         "if plot.exists():\n"
         "    helpers.show_image(plot)\n"
         "else:\n"
         "    print(f'{plot} not found: run python bench/sim_transfer.py')"),
]

def main() -> None:
    build_notebook("notebooks/03_transfer_learning.ipynb", "Transfer learning: CNNs on event images",
                   PARAMS, cells, intro=INTRO)


if __name__ == "__main__":
    main()
