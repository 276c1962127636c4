"""Regenerate poetry.lock (``make lock``).

Poetry's PyPI client reads per-release JSON pages that some PyPI mirrors do not serve; its
simple-index client works everywhere pip works. So we resolve in a scratch copy of the project that
declares pip's own default index as a simple ("legacy") source, then drop that source from the lock
(the files and hashes are PyPI's either way) and stamp the content hash of the real pyproject.toml.
Installs never need Poetry's network code: ``make install`` exports the lock to a hashed
requirements file for pip.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pip._internal.models.index import PyPI  # pip's default index, not a hard-coded host
from poetry.factory import Factory  # pylint: disable=import-error  # runs in the Poetry tool venv

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Resolve, clean and write poetry.lock next to pyproject.toml."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        shutil.copy(ROOT / "pyproject.toml", scratch_dir / "pyproject.toml")
        (scratch_dir / "README.md").write_text("scratch\n")
        with open(scratch_dir / "pyproject.toml", "a", encoding="utf-8") as handle:
            handle.write(
                f'\n[[tool.poetry.source]]\nname = "simpleidx"\nurl = "{PyPI.simple_url}"\npriority = "primary"\n'
            )
        subprocess.run([sys.executable, "-m", "poetry", "lock"], cwd=scratch_dir, check=True)
        lock = (scratch_dir / "poetry.lock").read_text(encoding="utf-8")
    lock = re.sub(r'\n\[package\.source\]\ntype = "legacy"\nurl = "[^"]*"\nreference = "simpleidx"\n', "\n", lock)
    content_hash = Factory().create_poetry(ROOT).locker._get_content_hash()  # pylint: disable=protected-access
    lock = re.sub(r'content-hash = "[0-9a-f]+"', f'content-hash = "{content_hash}"', lock)
    (ROOT / "poetry.lock").write_text(lock, encoding="utf-8")
    print(f"poetry.lock written ({lock.count('[[package]]')} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
