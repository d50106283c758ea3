"""Print the requirements of pyproject.toml's dependencies plus the named extras, one a line.

The image build installs these into its dependency layer before it copies the source,
so that a change to the code does not reinstall torch. Usage:

    python3 print-requirements.py PYPROJECT EXTRA [EXTRA ...]
"""

from __future__ import annotations

import sys
import tomllib


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: print-requirements.py PYPROJECT EXTRA [EXTRA ...]", file=sys.stderr)
        return 2
    path, extras = argv[0], argv[1:]
    with open(path, "rb") as file:
        project = tomllib.load(file)["project"]

    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    requirements: list[str] = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            known = ", ".join(sorted(optional)) or "none"
            print(
                f"Extra {extra!r} is not defined in {path}; defined extras: {known}.",
                file=sys.stderr,
            )
            return 1
        requirements.extend(optional[extra])

    print("\n".join(requirements))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
