"""The hostile corpus is student code for ``gradlab check`` to run in isolated workers; pytest must never
import it (``--doctest-modules`` would: one of these files ends the interpreter at import)."""
collect_ignore_glob = ["*.py", "students/*/*.py"]
