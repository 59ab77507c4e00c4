"""Render an email (an .eml file, e.g. from var/outbox/) to a PNG, as a mail client shows its
HTML part: inline images (cid:) are swapped for data: URIs, then headless Chromium draws it.

    .venv/bin/python docs/render_email.py var/outbox/00000001-summary-meter.eml docs/screenshots/email-summary.png
"""

from __future__ import annotations

import argparse
import base64
import email
import subprocess
import tempfile
from email import policy
from pathlib import Path


def html_with_inline_images(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    html_part = message.get_body(preferencelist=("html",))
    if html_part is None:
        raise SystemExit("this message has no HTML part")
    html = html_part.get_content()
    for part in message.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            html = html.replace(f"cid:{cid.strip('<>')}", f"data:{part.get_content_type()};base64,{data}")
    return html


def render(eml: Path, png: Path, width: int = 760, height: int = 1200) -> None:
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "email.html"
        page.write_text(html_with_inline_images(eml.read_bytes()), encoding="utf-8")
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--window-size={width},{height}", f"--screenshot={png.resolve()}", page.as_uri()],
            check=True, capture_output=True, timeout=60,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eml", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--height", type=int, default=1200)
    args = parser.parse_args()
    render(args.eml, args.png, height=args.height)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
