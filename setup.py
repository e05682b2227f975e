"""pip install --no-build-isolation .   (no package index needed)

Builds the anneal Python package with the project's CMake build (the extension links the
same C++ core) and installs python/anneal plus the extension."""
import os
import pathlib
import re
import shutil
import tempfile
import subprocess
import sys

import setuptools
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).parent.resolve()
# The version has one source: project(anneal VERSION ...) in CMakeLists.txt.
VERSION = re.search(r"project\(anneal VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text()).group(1)


def cmake_options():
    """The build's options: CUDA as the machine allows (ANNEAL_CUDA=AUTO|ON|OFF from the
    environment, AUTO by default), the generator from CMAKE_GENERATOR (Ninja when present),
    the build folder from ANNEAL_BUILD_DIR (a temporary folder by default, not the source
    tree)."""
    opts = [f"-DANNEAL_CUDA={os.environ.get('ANNEAL_CUDA', 'AUTO')}"]
    generator = os.environ.get("CMAKE_GENERATOR") or ("Ninja" if shutil.which("ninja") else None)
    if generator:
        opts += ["-G", generator]
    return opts


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = pathlib.Path(os.environ.get("ANNEAL_BUILD_DIR") or tempfile.mkdtemp(prefix="anneal-pip-"))
        subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), *cmake_options(),
                               "-DCMAKE_BUILD_TYPE=Release", "-DANNEAL_PYTHON=ON",
                               f"-DPython_EXECUTABLE={sys.executable}", "-DANNEAL_BUILD_TESTS=OFF",
                               "-DANNEAL_BUILD_EXAMPLES=OFF", "-DANNEAL_BUILD_BENCH=OFF"])
        subprocess.check_call(["cmake", "--build", str(build), "--target", "anneal_python",
                               "--parallel", str(os.cpu_count() or 2)])
        built = next((build / "python" / "anneal").glob("_C*.so"))
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, target)


setup(
    name="anneal",
    version=VERSION,
    description="anneal: a deep-learning training framework in C++ with a Python package over the same core",
    packages=setuptools.find_packages("python", include=["anneal", "anneal.*"]),
    package_dir={"": "python"},
    package_data={"anneal": ["py.typed", "_C/*.pyi"]},
    ext_modules=[Extension("anneal._C", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.8",
    install_requires=["numpy"],
)
