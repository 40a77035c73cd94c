"""Builds genrt's Cython extension and nothing else (metadata lives in pyproject.toml).

Flags: -O3, no fast-math (the kernels must match their numpy reference bit for
bit), OpenMP when the compiler has it, and on Linux a stripped library (-s: no
debug symbols, 0.3 MB instead of 1.6). The kernels use typed memoryviews, not
numpy's C API, so building needs no numpy. The OpenMP probe compiles and links a
tiny program with -fopenmp; if that fails, or GENRT_NO_OPENMP=1 is set, the
extension is built serial and `genrt info` reports 0 OpenMP threads.
"""

import os
import sys
import tempfile
import textwrap

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.errors import CompileError, LinkError
from setuptools._distutils.sysconfig import customize_compiler

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) when unavailable."""
    if os.environ.get("GENRT_NO_OPENMP") == "1":
        print("genrt: GENRT_NO_OPENMP=1, building the serial extension", file=sys.stderr)
        return [], []
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        for compile_args, link_args in candidates:
            try:
                objects = compiler.compile([source], output_dir=tmp, extra_postargs=compile_args)
                compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=link_args)
            except (CompileError, LinkError):
                continue
            print(f"genrt: OpenMP found ({' '.join(compile_args)})", file=sys.stderr)
            return compile_args, link_args
    print("genrt: no OpenMP in this compiler, building the serial extension", file=sys.stderr)
    return [], []


omp_compile, omp_link = openmp_flags()
if sys.platform == "win32":
    base_compile = ["/O2", "/fp:precise"]
else:
    # -ffp-contract=off: no fused multiply-add, so float results equal numpy's.
    base_compile = ["-O3", "-ffp-contract=off", "-fno-math-errno"]

extensions = [
    Extension(
        "genrt.ext._kernels",
        sources=["genrt/ext/_kernels.pyx"],
        include_dirs=["genrt/ext"],
        extra_compile_args=base_compile + omp_compile,
        extra_link_args=omp_link + (["-s"] if sys.platform.startswith("linux") else []),
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
    )
)
