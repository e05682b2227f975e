"""pip install --no-build-isolation .   (no package index needed)

Builds the anneal Python package with the project's CMake build (the extension links the
same C++ core) and installs python/anneal plus the extension."""
import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).parent.resolve()


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = ROOT / "build-pip"
        subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
                               "-DCMAKE_BUILD_TYPE=Release", "-DANNEAL_PYTHON=ON", "-DANNEAL_CUDA=OFF",
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
    version="0.1.0",
    description="anneal: a deep-learning training framework in C++ with a Python package over the same core",
    packages=["anneal", "anneal.nn"],
    package_dir={"": "python"},
    package_data={"anneal": ["py.typed", "_C/*.pyi"]},
    ext_modules=[Extension("anneal._C", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.8",
    install_requires=["numpy"],
)
