"""Builds the Cython kernels of native/. The list is explicit on purpose."""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["_g711", "_resample", "_jitter", "_playout", "_tone"]

extensions = [
    Extension(
        f"native.{name}",
        [f"native/{name}.pyx"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        include_dirs=[numpy.get_include(), "native"],
        extra_compile_args=["-O3", "-fno-math-errno"],
    )
    for name in KERNELS
]

setup(ext_modules=cythonize(extensions, language_level=3))
