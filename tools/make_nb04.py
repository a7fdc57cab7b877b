"""Build notebooks/04_opal_cnn.ipynb and its student version (run: python -m tools.make_nb04).

Both notebooks share their cells; the student version leaves the exercises
open (``# TODO`` cells with working defaults, so it still runs in CI).
"""

from tools.notebook_template import build_notebook, code, md

INTRO = """\
The **OPAL masterclass with machine learning**: look at event displays of Z boson
decays recorded by the OPAL experiment at CERN's LEP collider, label a few of them
by hand, train a small convolutional neural network (CNN) on your labels and let
it classify all the others. Then compare: you, the reference labels of the
masterclass and the CNN.

**A whole class at once, in the browser**: the teacher runs
`eventcnn class serve --data ZIP --db class.sqlite --host 0.0.0.0` on a laptop;
students open the printed address (or scan its QR code) on tablets or phones and label
blind; the teacher page shows the progress and trains the CNN on the class's labels
(see the section "The class in the browser" below and docs/opal.md).

One student at a time, from the command line:
`eventcnn opal label --data ZIP --labels my_labels.csv`, then
`eventcnn opal train --data ZIP --labels my_labels.csv --recipe default --out runs/opal`.
A CNN fine-tuned from the simulation-pretrained weights (the default) classifies each
display in one pass; one trained from random weights averages over 8 rotated and
mirrored copies of it (test-time augmentation: an end view may be turned about the beam
axis and mirrored without changing the physics). `tta=True` / `tta=False` in
`opal.masterclass`, `--tta` / `--no-tta` on the command line, decide it yourself.
"""

PARAMS = """\
N_LABEL = 30 if QUICK else 60   # how many events you label by hand
RECIPE = "default"               # "original" (masterclass: rotated copies) or "default" (ours)
EPOCHS = 1 if QUICK else None    # None: the recipe's default (original 3, default up to 40)
LEPTON_FACTOR = 20               # original recipe: extra copies of e, m, t (masterclass 20, later 60)
STEPS_PER_EPOCH = 4 if QUICK else 32  # default recipe: batches of 16 per epoch
USE_REFERENCE_LABELS = False     # True: train on all reference labels instead of yours
WEIGHTS = "sim"                  # "sim": start from the CNN pretrained on simulated displays; "none": random
N_SIM = 24 if QUICK else 400     # simulated displays for the "train on simulation" section
# True: if you labelled fewer than N_LABEL, fill up with REFERENCE labels (demo only; they are
# marked and left out of the agreement score). CI sets EVENTCNN_DEMO_LABELS=1.
DEMO_LABELS = os.environ.get("EVENTCNN_DEMO_LABELS") == "1"
RUN_DIR = WORKDIR / "runs" / "opal_nb"
"""

PHYSICS = """\
## The physics: Z bosons at LEP

From 1989 to 1995 the LEP collider at CERN collided electrons and positrons at a
centre-of-mass energy of about 91 GeV, the mass of the **Z boson**. The Z lives
only about 3e-25 s and decays at once, so the detector sees its decay products:

| decay | share of all Z decays (PDG) | what the display shows |
|---|---|---|
| Z -> q qbar (**hadronic**, `q`) | 69.9 % | many tracks in two (or more) **jets**, lots of energy in both calorimeters |
| Z -> e+ e- (**electron**, `e`) | 3.36 % | **two tracks**, back to back, that stop in the **electromagnetic calorimeter** (large energy deposits there) |
| Z -> mu+ mu- (**muon**, `m`) | 3.37 % | **two tracks**, back to back, that cross the whole detector and reach the **muon chambers**; little calorimeter energy |
| Z -> tau+ tau- (**tau**, `t`) | 3.37 % | **few tracks** (often 1 + 1 or 1 + 3), not back to back, **missing energy** carried away by neutrinos |
| Z -> nu nubar (invisible) | 20.0 % | nothing: neutrinos leave no trace, so there is no display |

Among the decays we can see, the expected shares are therefore
q 87.4 %, e 4.2 %, mu 4.2 %, tau 4.2 % (computed below from the PDG values).

The displays are OPAL **end views**: we look along the beam pipe. The event can be
rotated freely around the beam axis (the physics does not care about the angle),
which is why rotating and mirroring images is a fair way to make more training
examples here.
"""

CLASS_WEB = """\
## The class in the browser (first choice for a class)
With a class of 20-30, label together instead of one notebook each. On the teacher's
laptop (no internet needed; `pip install "eventcnn[class]"`), in a terminal:

```
eventcnn class serve --data data/opal/centered-masked-rotated1.zip --db class.sqlite --host 0.0.0.0
```

It prints the students' address with a QR code and the teacher's address with a secret
token. Students see "event 7 of 10", one display and four buttons: *hadrons*, *electrons*,
*muons*, *taus* (and *not sure*); never a file name. Each display goes to two students, so
the teacher page shows how often the class agrees. **Train now** on the teacher page trains
this notebook's CNN on the class's majority labels in the background, then shows the
overview, the class-vs-CNN confusion matrix, the displays the CNN is least sure about and
occlusion maps. Afterwards `eventcnn class export --db class.sqlite --out labels.csv` writes
the class's labels in the label format used below (`<event>.png;<label>`): load them with
`opal.load_displays(ZIP, "labels.csv")` to continue here. (This notebook does not start a
server; run the command in a terminal.)

The rest of this notebook is the same exercise for one student at a time."""

COMMON_START = [
    md(PHYSICS),
    code("import numpy as np\n\nimport helpers\nfrom eventcnn import opal\nfrom eventcnn.opal import ids, labeller\n\n"
         "helpers.import_keras_quietly()  # no TensorFlow start-up noise below\n"
         "print({c: round(f, 4) for c, f in opal.expected_fractions().items()})"),
    md("## The event displays\nThe images come with the reference labels of the masterclass "
       "(`eventcnn.events.sources.fetch('opal')` downloads them once). They are kept as 8-bit "
       "integers (uint8): 497 displays take 60 MB, not the 8 GB of float64 copies of the original."),
    code("data = helpers.opal_events(quick=QUICK, seed=SEED)\n"
         "print(data.images.shape, data.images.dtype)  # how many of each kind: that is what you measure\n"
         "print(data.report.summary())"),
    code("helpers.show_examples(data, per_class=3)"),
    md("*How to read it:* one row per kind of Z decay, three example displays each. Look for "
       "the number of tracks (lines from the centre), where they end (coloured blocks: energy "
       "in the calorimeters) and whether the picture is balanced."),
    md(CLASS_WEB),
    md("## Label events by hand\nYou are the physicist now. Below, one display at a time: "
       "click **q**, **e**, **m** or **t** (or *skip* / *back*). Every answer is saved at "
       "once to `my_labels.csv`; if the notebook crashes, re-running this cell resumes "
       "where you stopped.\n\nLabel at least `N_LABEL` events, then run the next cells. You see \"event 7 of 30\", "
       "never the file name (it would give the class away). The events are the ones "
       "`eventcnn.opal.suggest` picks (a diverse batch, so the rare kinds are in it), shown in a "
       "shuffled order. If you labelled fewer than `N_LABEL`, the next cell stops and says so; "
       "only with `DEMO_LABELS = True` (parameters cell) does it fill up with the reference "
       "labels, marked as such and left out of your agreement score. In a plain terminal use "
       "`eventcnn opal label`."),
    code("order = labeller.choose_events(data.images, None, N_LABEL, seed=SEED)  # eventcnn.opal.suggest, shuffled\n"
         "# the file names displays by opaque id: display names give the class away\n"
         "session = labeller.LabelSession(ids.display_ids(data.names[order]), RUN_DIR / 'my_labels.csv')\n"
         "INTERACTIVE = helpers.interactive_frontend(QUICK)\n"
         "if INTERACTIVE:\n"
         "    display(labeller.labeller_widget(session, data.images[order]))\n"
         "else:\n"
         "    print('no interactive frontend here: label with `eventcnn opal label`, or set DEMO_LABELS')"),
    code("my_labels, demo_labels = helpers.student_labels(session, data, N_LABEL, demo=DEMO_LABELS)\n"
         "cmp = labeller.compare_labels(data.names, my_labels, data.labels)  # your own labels only\n"
         "if cmp['n']:\n"
         "    print(f\"your labels agree with the reference for {cmp['agreement']:.0%} of {cmp['n']} events\")\n"
         "else:\n"
         "    print('no labels of your own yet: nothing to compare (demo labels are not counted)')\n"
         "for name, ref, you in cmp['disagreements'][:10]:\n"
         "    print(f'  {name}: reference {ref}, you {you}')"),
]

MODEL_MD = md(
    "## The network\nThe masterclass CNN: three blocks of a 3x3 **convolution** (32, 64, 64 "
    "filters that learn to recognise tracks, energy deposits, ...) and a 3x3 **max-pooling** "
    "(keeps the strongest response, shrinks the image 3x), then a dense layer of 64 neurons and "
    "an output of 4 probabilities (q, e, m, t). 200x200 pixels shrink to 6x6x64 = 2304 "
    "numbers before the dense layer; 204,100 parameters in all.")

MODEL_FULL = code("model = opal.build_model()\nmodel.summary()")

MODEL_STUDENT = [
    code('''\
# TODO (exercise 1): complete the model. The masterclass network has three blocks of
# Conv2D(3x3, relu) + MaxPooling2D(3x3) with 32, 64 and 64 filters, then Flatten,
# Dense(64, relu) and Dense(4, softmax). One block is given; add the other two where marked.
import keras
from keras import layers

def build_my_model():
    return keras.Sequential([
        keras.Input((200, 200, 3)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((3, 3)),
        # TODO: second block (64 filters)
        # TODO: third block (64 filters)
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(4, activation="softmax"),
    ])

model = build_my_model()
model.summary()'''),
    code('''\
# Check: the masterclass model has 204,100 parameters. Training below uses the
# masterclass model; compare the number of parameters of yours with it.
n = model.count_params()
print(f"your model: {n:,} parameters;", "that is the masterclass network!" if n == 204_100
      else "the masterclass network has 204,100: add the missing blocks (hint: pooling shrinks the image)")'''),
]

TRAIN_MD = md(
    "## Train\nTwo recipes:\n\n* **original** (the masterclass): every training image is copied "
    "3 times, each copy rotated by a random angle and maybe mirrored; the rare lepton classes "
    "get `LEPTON_FACTOR` (20) times more copies, so the network sees them about as often as "
    "hadrons. The copies are made on the fly, batch by batch, so memory stays small.\n"
    "* **default** (ours): the network itself rotates and mirrors every image randomly at "
    "every step (only while training), batches are drawn with equal numbers of each class, and "
    "training stops when the validation loss stops improving (keeping the best weights).")

TRAIN_STUDENT_MD = md(
    "### Exercise 2: choose the recipe and the augmentation factor\n"
    "Change `RECIPE` and `LEPTON_FACTOR` in the parameters cell (top) and re-run from there. "
    "Without copies of the leptons, what does the network learn to answer? Which factor gives "
    "the best *balanced* accuracy (the mean of the recall of the four classes)?")

TRAIN = code('''\
train_labels = data.labels if USE_REFERENCE_LABELS else np.where(my_labels != "", my_labels, demo_labels)
train_mask = train_labels != ""
print("training on", {c: int(np.sum(train_labels == c)) for c in opal.CLASS_NAMES})
settings = {"seed": SEED, "lepton_factor": LEPTON_FACTOR, "steps_per_epoch": STEPS_PER_EPOCH,
            "weights": None if WEIGHTS == "none" else WEIGHTS}
if EPOCHS is not None:
    settings["epochs"] = EPOCHS
# the whole masterclass in one call, as `eventcnn opal train` runs it: train, classify the rest,
# write predictions.csv, and check against the reference labels (metrics.json, plots)
mc = opal.masterclass(data.images, train_labels, ids.display_ids(data.names), out=RUN_DIR, recipe=RECIPE,
                      reference=data.labels, **settings)
result = mc.result
print(f"trained in {result.seconds:.0f} s")
helpers.show_image(mc.history_png)''')

HISTORY_READ = md(
    "*How to read it:* left the loss (how wrong the network is; lower is better), right the "
    "accuracy, for every pass over the training images (epoch). Solid: the images it learns "
    "from; dashed: the validation images it never learns from. If the dashed curve stops "
    "improving while the solid one keeps getting better, the network starts to memorise.")

EXPLAIN = [
    md("## What does the CNN look at?\nCover one part of the display with a black square and "
       "see how much the CNN's probability for its answer drops: that part mattered "
       "(`eventcnn.learn.explain`, also `eventcnn explain RUN_DIR EVENT.png` on the command line)."),
    code('''\
from eventcnn.opal import pictures as classroom
from eventcnn.learn import explain

picks = np.argsort(-probs.max(axis=1))[:2]  # the two events the CNN is surest about
for i in picks:
    k = int(probs[i].argmax())
    heat = explain.occlusion_map(result.model, data.images[rest][i], target=k)
    title = f"CNN: {classroom.CLASS_WORDS[opal.CLASS_NAMES[k]]} ({probs[i, k]:.0%})"
    helpers.show_figure(explain.plot_occlusion(data.images[rest][i], heat, title=title))'''),
    md("*How to read it:* red parts are where covering the display lowers the CNN's "
       "probability for its answer (the evidence it uses), blue parts raise it. Are the red "
       "parts the tracks and energy deposits a physicist would look at?"),
]

PREDICT = [
    md("## Classify the rest\nThe CNN now labels every event you did not label. The overview "
       "compares the predicted shares with the reference labels and with the expectation from "
       "the Z branching fractions. The predictions are saved to `predictions.csv`."),
    code('''\
rest, probs, pred = mc.rest, mc.probs, mc.pred  # predictions.csv is in RUN_DIR already
helpers.plot_overview(pred)  # your measurement; the reference shares come in the teacher's reveal'''),
    md("*How to read it:* one group of bars per kind of decay, the share in percent written "
       "at each bar: the CNN's answer and what the Z branching fractions predict. Close bars "
       "mean the CNN finds the mix the Standard Model expects."),
    *EXPLAIN,
    md("## Teacher's reveal: the reference labels\nRun this part after the exercise: the "
       "masterclass's reference labels say what each display really is. First the true mix of "
       "the displays the CNN classified, next to the CNN's answer and the expectation."),
    code('''\
print("reference counts of all displays:", data.counts())
helpers.plot_overview(pred, data.labels[rest])'''),
    md("## How good is it?\nThe masterclass data come with reference labels, so we can check "
       "the CNN on the events it has not seen. Accuracy alone is misleading: answering "
       "*hadronic* every time is right 87 % of the time. The **balanced accuracy** (mean "
       "recall of the four classes) and the **confusion matrix** tell more."),
    code('''\
m = mc.metrics  # opal.evaluate on the rest, against the reference labels
print(f"accuracy {m['accuracy']:.3f}   balanced accuracy {m['balanced_accuracy']:.3f}")
print({c: round(v["recall"], 3) for c, v in m["per_class"].items()})
helpers.show_image(RUN_DIR / "confusion_matrix.png")'''),
    md("*How to read it:* each row is what an event really is, each column what the CNN says; "
       "the number in a square counts those events. The diagonal (bold) is right; everything "
       "else is a mix-up, e.g. row *tau*, column *hadronic*: taus taken for hadrons."),
    md("### The wrongly classified events\nWith the probability the CNN gave to the true and "
       "to the predicted class. Would you have got them right?"),
    code('helpers.show_image(RUN_DIR / "misclassified.png")'),
    md("*How to read it:* above each display the true class and the predicted one, each with "
       "the probability the CNN gave it. A high probability for a wrong class means the CNN "
       "was sure and wrong."),
    md("## You, the reference and the CNN\nOn the events you labelled: how often do you agree "
       "with the reference? On the others: how often does the CNN?"),
    code('''\
cnn_vs_ref = labeller.compare_labels(data.names[rest], pred, data.labels[rest])
for who, c in (("you", cmp), ("CNN", cnn_vs_ref)):
    if c["n"]:
        print(f"{who} vs reference: {c['agreement']:.0%} of {c['n']} events")
    else:  # e.g. only demo labels: nothing of yours to compare
        print(f"{who} vs reference: no events to compare")'''),
]

STUDENT_END = [
    md("### Exercise 3\nLook at the misclassified gallery. Which classes get confused most "
       "often, and why (think of what a tau decay can look like)? Write your answer here."),
    code("# TODO (exercise 4): label more events (raise N_LABEL), or set USE_REFERENCE_LABELS = True,\n"
         "# re-run, and note the balanced accuracy. How does it grow with the number of labels?\n"
         "print(f\"balanced accuracy with {int(train_mask.sum())} training labels: {m['balanced_accuracy']:.3f}\")"),
]

SIMULATION = [
    md("""\
## Train on simulation, test on real data
This is what physicists do: they cannot label millions of real events by hand, so they
**simulate** them. A generator (Pythia 8) produces Z decays of each kind, a model of the
OPAL detector (the 0.435 T magnet bends the tracks, the calorimeters measure energy, the muon
chambers see muons) turns them into what the detector would show, and the displays are drawn
like the real ones. Every simulated display comes with its true label, for free.

The catch: a simulation is never perfect. A network trained on simulated displays has to
cope with the differences when it meets real data (the *domain gap*). Below: simulated
displays next to real ones, then the CNN that was trained on simulated displays only
(`eventcnn opal pretrain`, shipped with the package) classifies the real displays."""),
    code('''\
import importlib.util

import matplotlib.pyplot as plt

from eventcnn.opal.simulate import simulate

if importlib.util.find_spec("pythia8mc") is None:  # pip install 'eventcnn[generate]'
    print("Pythia 8 is not installed here: no new simulated displays (the pretrained CNN below still works)")
else:
    sim_out = simulate(N_SIM, WORKDIR / "sim", seed=SEED, quiet=True)  # eventcnn opal simulate
    sim = opal.load_displays(sim_out.zip_path, sim_out.labels_path, quiet=True)
    print(f"{len(sim.images)} simulated displays in {sim_out.seconds:.1f} s:", sim.counts())
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
    for j, c in enumerate(opal.CLASS_NAMES):
        for i, (d, tag) in enumerate(((data, "real"), (sim, "simulated"))):
            k = np.flatnonzero(d.labels == c)
            if len(k):
                axes[i, j].imshow(d.images[k[0]][25:175, 25:175])
            axes[i, j].set_title(f"{tag}: {classroom.CLASS_WORDS[c]}", fontsize=9)
            axes[i, j].axis("off")
    fig.tight_layout()
    helpers.show_figure(fig)'''),
    md("*How to read it:* top row real OPAL displays, bottom row simulated ones, one column per "
       "kind of decay. Do they look alike? What differs?"),
    code('''\
from eventcnn.learn.weights import resolve_weights

sim_cnn = opal.load_pretrained(opal.build_model(), resolve_weights("sim", "masterclass"))  # trained on simulation only
sim_probs = opal.predict_tta(sim_cnn, data.images)
m_sim = opal.evaluate(sim_cnn, data.images, data.labels, probs=sim_probs)
print(f"trained on simulation only, tested on {len(data.images)} real displays: "
      f"balanced accuracy {m_sim['balanced_accuracy']:.3f}")
print({c: round(v["recall"], 2) for c, v in m_sim["per_class"].items()})
helpers.show_figure(classroom.confusion_figure(m_sim["confusion_matrix"]["counts"]))'''),
    md("*How to read it:* the same confusion matrix as before, but this network has never seen "
       "a real display. The training above started from this network (`WEIGHTS = \"sim\"`) and "
       "only adjusted it to your labels, with simulated displays mixed into every batch. Set "
       "`WEIGHTS = \"none\"` in the parameters cell and re-run the training: from random weights "
       "(`eventcnn opal train --weights none`), does the CNN still find the taus?"),
]

MEASURE = [
    md("""\
## The whole challenge: end views, side views and the Z decay fractions
The real masterclass shows students 997 full OPAL displays, end views *and* side views, each with a header of
numbers (tracks, calorimeter energies, muon hits). `eventcnn opal measure` classifies all of them: the end views
with the masterclass CNN (cross-validated on the labelled displays), the side views, which the CNN cannot read,
with boosted trees on the header numbers. Each set's fractions are corrected for the classifier's mistakes
(its cross-validated confusion) and shown beside the PDG values. The full run takes about half an hour on a
2-core CPU (`header_cnn=False` leaves out the CNN that also reads the numbers: about 20 minutes); QUICK mode uses a
small sample."""),
    code('''\
from eventcnn.events.sources import fetch
from eventcnn.opal.measure import measure_challenge
from eventcnn.opal.measure_report import write_measurement

paths = fetch(["opal", "manchester"])  # the Manchester displays beside the OPAL crops
data_root = paths["displays"].parent.parent
quick = dict(limit=30, folds=2, epochs=1, steps=2, toys=500) if QUICK else {}
measurement = measure_challenge(data_root, seed=SEED, **quick)
write_measurement(measurement, WORKDIR / "measurement")
for key in ("end", "side", "all"):
    m = measurement[key]
    if "error" in m:
        print(f"{key}: not measured ({m['error']})")
        continue
    shares = "  ".join(f"{c} {m['fractions'][c]['value']:.3f} ± {m['fractions'][c]['stat']:.3f}" for c in "qemt")
    print(f"{key:4s} {shares}   R {m['R']['value']:.2f} (PDG {m['pdg']['R']:.2f})")
helpers.show_image(WORKDIR / "measurement" / "fractions.png")'''),
    md('*How to read it:* one group of bars per kind of decay: the end views, the side views, all displays and the PDG, the value written on each bar, the error bar its uncertainty. Do the side views agree with the end views? (In this challenge they hold fewer events with few tracks: see `docs/opal.md`.)'),
]

OFFLINE = md("""\
## Offline classroom
Fetch the data once while online, or from a USB stick / shared folder laid out like
`shared/data` (`<dir>/opal/centered-masked-rotated1.zip`, `<dir>/opal/events_list.csv`);
afterwards everything runs without a network:

```
eventcnn data fetch opal --out data                            # online
eventcnn data fetch opal --out data --mirror /media/usb/data   # or from a copy, no network
eventcnn opal label   --data data/opal/centered-masked-rotated1.zip --labels my_labels.csv --n 50
eventcnn opal suggest --data data/opal/centered-masked-rotated1.zip --labels my_labels.csv --n 10
eventcnn opal train   --data data/opal/centered-masked-rotated1.zip --labels my_labels.csv --out runs/opal
eventcnn opal predict runs/opal --data data/opal/centered-masked-rotated1.zip --labels my_labels.csv --out predictions.csv
```

A copy taken from a mirror is format-checked and remembers where it came from
(`data/opal/<file>.origin.json`), so a later fetch without `--mirror` and without a
network (`fetch("opal", dest="data")` here) uses it as it is and says where it came from.
In this notebook `EVENTCNN_CACHE` (or the user cache) plays the part of `data`.""")


def main() -> None:
    build_notebook("notebooks/04_opal_cnn.ipynb", "04 OPAL masterclass: classify Z decays with a CNN",
                   params=PARAMS, intro=INTRO,
                   cells=[*COMMON_START, MODEL_MD, MODEL_FULL, TRAIN_MD, TRAIN, HISTORY_READ,
                          *PREDICT, *SIMULATION, *MEASURE, OFFLINE])
    build_notebook("notebooks/04_opal_cnn_student.ipynb",
                   "04 OPAL masterclass (student version): classify Z decays with a CNN",
                   params=PARAMS, intro=INTRO + "\nExercises are marked **TODO**.",
                   cells=[*COMMON_START, MODEL_MD, *MODEL_STUDENT, TRAIN_MD, TRAIN_STUDENT_MD,
                          TRAIN, HISTORY_READ, *PREDICT, *STUDENT_END, *SIMULATION, OFFLINE])


if __name__ == "__main__":
    main()
