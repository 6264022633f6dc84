"""stepwise web app: watch generator + PRM test-time search grow its tree, live.

    python app.py                          # http://127.0.0.1:7860, models from assets/ (or fake)
    python app.py --port 8000 --host 0.0.0.0
    STEPWISE_GENERATOR=fake STEPWISE_PRM=fake python app.py   # scripted models, no weights

Models: STEPWISE_GENERATOR / STEPWISE_PRM ("default" = assets/, "fake", "oracle", "none", a local
HF folder or a cached hub id). The tabs live in ui/, one file each.
"""
from __future__ import annotations

import argparse
import logging
import os

from ui import LAUNCH_KW, build_app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="public gradio.live link (off by default)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_app().launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_KW)


if __name__ == "__main__":
    main()
