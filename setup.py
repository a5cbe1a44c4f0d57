"""Everything is configured in pyproject.toml; this file only adds the start-up hook.

`e3gen_as_e3nn.pth` must land at the top of site-packages (not inside the e3gen package) for
Python's `site` to run it at start-up; it makes `E3GEN_AS_E3NN=1` switch `import e3nn` to e3gen
(see e3gen/compat). build_py copies it into the build root, which is what both `pip install .`
and `pip install -e .` (PEP 660 editable wheels) put into site-packages.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

HOOK = "e3gen_as_e3nn.pth"


class BuildPyWithStartupHook(build_py):
    def run(self):
        super().run()
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), HOOK)
        self.copy_file(source, os.path.join(self.build_lib, HOOK), preserve_mode=False)
        if getattr(self, "editable_mode", False):
            wheel_root = self.get_finalized_command("install").install_lib
            self.copy_file(source, os.path.join(wheel_root, HOOK), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return list(super().get_outputs(include_bytecode)) + [os.path.join(self.build_lib, HOOK)]


setup(cmdclass={"build_py": BuildPyWithStartupHook})
