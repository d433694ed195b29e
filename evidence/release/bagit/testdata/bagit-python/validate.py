"""Validate a BagIt directory with the vendored bagit-python (see README.md).

usage: python3 validate.py BAG_DIR   (or --zip PACKAGE.zip: extract first
with Python's zipfile, then validate). Prints OK or the errors; exit 1 on
an invalid bag.
"""
import importlib.metadata
import os
import sys
import tempfile
import zipfile

# bagit.py asks the installed package metadata for its version; it is not
# installed, only vendored.
_real_version = importlib.metadata.version
importlib.metadata.version = lambda name: "1.9.0+vendored" if name == "bagit" else _real_version(name)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bagit  # noqa: E402


def main(argv):
    path = argv[-1]
    tmp = None
    if argv[1] == "--zip":
        tmp = tempfile.TemporaryDirectory()
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                print("zip CRC error in", bad)
                return 1
            z.extractall(tmp.name)
        entries = os.listdir(tmp.name)
        path = os.path.join(tmp.name, entries[0]) if len(entries) == 1 and os.path.isdir(os.path.join(tmp.name, entries[0])) else tmp.name
    try:
        bag = bagit.Bag(path)
        bag.validate(processes=1, fast=False, completeness_only=False)
    except bagit.BagValidationError as e:
        print("INVALID:", e)
        for d in getattr(e, "details", []) or []:
            print("  ", d)
        return 1
    except bagit.BagError as e:
        print("INVALID:", e)
        return 1
    print("OK", bag.info.get("Payload-Oxum"), sorted(bag.algorithms))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
