"""How many calls a box holds, two ways (each module says how it measures):

python -m bench.capacity --inference [--json] ...  the models: in process vs
                                                  the inference service
python -m bench.capacity --media [--json] ...      the media plane: SIP calls
                                                  through a Kamailio-fronted cluster
"""

from __future__ import annotations

import sys

from bench import capacity_inference, capacity_media


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--inference" in args:
        return capacity_inference.main(args)
    if "--media" in args:
        return capacity_media.main(args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
