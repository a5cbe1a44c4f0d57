"""`e3gen doctor`: is the e3nn switch on, is its start-up hook installed, and which e3nn would a
fresh interpreter import (with the current environment, and with the switch on and off)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import site
import subprocess
import sys
from typing import List, Optional

from e3gen.compat import ENVIRONMENT_VARIABLE, requested
from e3gen.compat._post_import import HOOKS, OPT_OUT_VARIABLE, hooks_enabled

HOOK = "e3gen_as_e3nn.pth"
_PROBE = "import json, e3nn; print(json.dumps([e3nn.__version__, e3nn.__file__, bool(getattr(e3nn, '__e3gen__', False))]))"


def _site_dirs() -> List[str]:
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    return dirs + ([user] if user else [])


def hook_path() -> Optional[str]:
    """Where the start-up hook is installed for this interpreter, or None."""
    for folder in _site_dirs():
        path = os.path.join(folder, HOOK)
        if os.path.isfile(path):
            return path
    return None


def real_e3nn() -> Optional[str]:
    """'<version> at <folder>' of an installed e3nn distribution, or None."""
    try:
        dist = importlib.metadata.distribution("e3nn")
    except importlib.metadata.PackageNotFoundError:
        return None
    return f"{dist.version} at {dist.locate_file('')}"


def probe(switch: Optional[bool]) -> str:
    """What `import e3nn` gives in a fresh interpreter; switch None keeps the current environment."""
    env = dict(os.environ)
    if switch is True:
        env[ENVIRONMENT_VARIABLE] = "1"
    elif switch is False:
        env.pop(ENVIRONMENT_VARIABLE, None)
    # Run outside any source checkout, so that a folder named e3nn in the current directory cannot shadow it.
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                            cwd=os.path.expanduser("~") if os.path.isdir(os.path.expanduser("~")) else "/", timeout=300)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        return f"no e3nn ({last})"
    version, path, ours = json.loads(result.stdout.strip().splitlines()[-1])
    return f"e3nn {version} from {os.path.dirname(path)} ({'e3gen' if ours else 'real e3nn'})"


def report() -> List[str]:
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    state = "on" if requested() else "off"
    lines = [
        f"{ENVIRONMENT_VARIABLE}: {state} (" + (f"{ENVIRONMENT_VARIABLE}={value!r}" if value is not None else "not set") + ")",
        f"start-up hook: {hook_path() or 'NOT INSTALLED (reinstall e3gen: pip install e3gen, or pip install -e <checkout>)'}",
        f"real e3nn installed: {real_e3nn() or 'no'}",
        f"a fresh `{os.path.basename(sys.executable)}` imports now: {probe(None)}",
        f"  with {ENVIRONMENT_VARIABLE}=1: {probe(True)}",
        f"  without it: {probe(False)}",
        f"client hooks ({OPT_OUT_VARIABLE}=0 turns them off): {'on' if hooks_enabled() else 'off'}, for "
        + ", ".join(sorted(HOOKS)),
    ]
    return lines


def main() -> int:
    lines = report()
    print("\n".join(lines))
    return 0 if hook_path() is not None else 1
