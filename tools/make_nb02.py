"""Build notebooks/02_augment.ipynb (run: python -m tools.make_nb02)."""

from tools.notebook_template import build_notebook, code, md

INTRO = """\
Stage 2 of the pipeline: more training images from the ones we have.

An eta-phi event image has **exact symmetries**, and they are the right
augmentation for it:

* **cyclic shift in phi** - rotating the whole event around the beam axis
  changes nothing physical, and phi is periodic, so rolling the image rows
  with wrap-around is exact (nothing is invented, nothing lost);
* **mirror in eta** - the pp initial state is symmetric under z -> -z;
* **mirror in phi** - the reflection phi -> -phi (symmetric for these
  processes up to tiny effects).

The original work instead rotated (+-5 deg), sheared, skewed and zoomed the
images on disk with Augmentor. On an eta-phi image these mix eta with phi and
change the ellipse sizes (= pT): they make events that cannot occur. We keep
that recipe to reproduce the original, and use the symmetries online during
training (`eventcnn.learn.augment.physics_augmentation`, a Keras layer).

Command line: `eventcnn augment CreatedImages --out augmented --samples 500 --seed 1`
"""

PARAMS = """\
SAMPLES = 8 if QUICK else 500             # new Augmentor images per class
FALLBACK_PER_CLASS = 6 if QUICK else 50    # events rendered per class if notebook 01 has not run
IMAGE_SIZE = 64 if QUICK else 224          # size of those fallback images
IMAGE_DIR = WORKDIR / "CreatedImages"      # written by notebook 01
AUG_DIR = WORKDIR / "augmented"            # a separate folder: the originals stay untouched
"""

cells = [
    md("## The images of notebook 01\nIf notebook 01 has not been run, a few events per class "
       "are rendered now from the public CMS files (or the examples shipped with eventcnn)."),
    code("import helpers\n\n"
         "image_dir = helpers.ensure_images(IMAGE_DIR, per_class=FALLBACK_PER_CLASS, size=IMAGE_SIZE)\n"
         "sorted(p.name for p in image_dir.iterdir() if p.is_dir())"),
    md("## The on-disk Augmentor recipe of the original work\n"
       "Rotate +-5 deg (p = 0.7), flip left-right and top-bottom (p = 0.5 each), zoom, shear and "
       "skew (p = 0.3 each). `SAMPLES` new images per class go to `AUG_DIR/<class>/` with a "
       "`manifest.csv` that names the original image of each. Every image has its own seed, so "
       "the run is reproducible and an interrupted run resumes where it stopped."),
    code("from eventcnn.images.augment import AugmentorConfig, augment_folder\n\n"
         "config = AugmentorConfig(samples=SAMPLES, seed=SEED)\n"
         "manifest = augment_folder(image_dir, AUG_DIR, config, quiet=QUICK)\n"
         "for d in sorted(p for p in AUG_DIR.iterdir() if p.is_dir()):\n"
         "    print(d.name, len(list(d.glob('*.png'))), 'augmented images')"),
    code("helpers.plot_before_after(AUG_DIR, n=4, seed=SEED, path=WORKDIR / 'augment_before_after.png');"),
    md("Look at the edges: Augmentor fills what rotation, shear and skew uncover with **black**, "
       "which in these images is the colour of the missing transverse energy. The ellipses are "
       "also tilted and resized, which no real event does: one more reason to prefer the "
       "symmetries below."),
    md("## Online physics augmentation: one event, many exact copies\n"
       "`physics_augmentation()` is a Keras layer: each image of a batch gets its own random "
       "phi shift and eta / phi mirrors, in training only. Objects leaving the top re-enter at "
       "the bottom, because phi = +pi and -pi are the same direction."),
    code("import csv\nimport numpy as np\nfrom PIL import Image\n\n"
         "with open(image_dir / 'manifest.csv', newline='') as fh:\n"
         "    first = next(csv.DictReader(fh))\n"
         "image = np.asarray(Image.open(image_dir / first['file']).convert('RGB'))\n"
         "helpers.plot_symmetry_grid(image, n=7, seed=SEED, path=WORKDIR / 'augment_symmetries.png');"),
    md("## Checks: exact, per sample, and switched off at inference"),
    code("import keras\nfrom eventcnn.learn.augment import physics_augmentation\n\n"
         "aug = physics_augmentation(seed=SEED, eta_flip=False, phi_flip=False)  # phi shift only\n"
         "batch = np.repeat(image[None], 8, axis=0)\n"
         "out = keras.ops.convert_to_numpy(aug(batch, training=True))\n"
         "print('dtype kept:', out.dtype)\n"
         "print('nothing lost (per column the same pixel values):',\n"
         "      np.array_equal(np.sort(out, axis=1), np.sort(batch, axis=1)))\n"
         "print('different shift per sample:', len({o.tobytes() for o in out}) > 1)\n"
         "print('identity at inference:', np.array_equal(keras.ops.convert_to_numpy(aug(batch)), batch))"),
    md("## In a model\nPut the layer first; it travels with the model when saved as `.keras` "
       "(import `eventcnn.learn.augment` before loading). For the OPAL end-view displays use "
       "`physics_augmentation('endview', background=...)`: there a rotation of the image *is* a "
       "rotation around the beam axis."),
    code("model = keras.Sequential([\n"
         "    keras.Input(image.shape),\n"
         "    physics_augmentation(seed=SEED),\n"
         "    keras.layers.Rescaling(1 / 255),\n"
         "    keras.layers.Conv2D(8, 3, activation='relu'),\n"
         "    keras.layers.GlobalAveragePooling2D(),\n"
         "    keras.layers.Dense(2, activation='softmax'),\n"
         "])\nmodel.summary()"),
]



def main() -> None:
    build_notebook("notebooks/02_augment.ipynb", "02 - Augmentation", PARAMS, cells, INTRO)


if __name__ == "__main__":
    main()
