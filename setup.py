"""Builds the Python package's compiled module with the project's CMake build
(the core and python/module.cpp) and installs it with python/pcplay.
PCPLAY_BUILD_DIR names an existing build folder to build in (its _pcplay
target; scripts/test.sh reuses build/native), else a fresh one under
setuptools' build_temp."""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("PCPLAY_BUILD_DIR") or os.path.abspath(os.path.join(self.build_temp, "cmake"))
        if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DPCPLAY_TESTS=OFF",
                            "-DPCPLAY_GUI=OFF", "-DPCPLAY_NATIVE_ARCH=ON", "-DPCPLAY_PYTHON=ON",
                            f"-DPYTHON_EXECUTABLE={sys.executable}"], check=True)
        subprocess.run(["cmake", "--build", build, "--target", "_pcplay", "-j", str(os.cpu_count() or 2)], check=True)
        built = glob.glob(os.path.join(build, "python", "pcplay", "_pcplay*.so"))
        if len(built) != 1:
            raise RuntimeError(f"pcplay: the build left {len(built)} compiled modules in {build}/python/pcplay")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(packages=["pcplay"], package_dir={"": "python"}, ext_modules=[Extension("pcplay._pcplay", sources=[])],
      cmdclass={"build_ext": CMakeBuild})
