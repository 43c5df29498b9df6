"""The corpus is course code and declarations, not tests: its scripts read data files and train when
imported, so pytest (which imports every module for its doctests) must not collect them."""
collect_ignore_glob = ["*.py", "code/*"]
