"""The mistakes section of a page (`resnet-tui mistakes --out X.html` and the run report): its title, the most
confused pairs in words, and their pictures."""

from __future__ import annotations

import time


def mistakes_title(found) -> str:
    p = found.preds
    wrong = int((p.true != p.pred).sum())
    return (f"{found.run_dir.name}: {wrong} of {len(p)} {p.split} images misclassified (epoch {p.epoch}) "
            f"— made {time.strftime('%Y-%m-%d %H:%M')}")


def mistakes_html(found, cells, per_pair: int) -> str:
    """The mistakes section of an HTML page (also the run report's)."""
    import html

    import base64

    from tui.cli.mistakes_draw import mistakes_png

    lines = [f"<h2>Mistakes</h2><p>{html.escape(mistakes_title(found))}</p>"]
    if not cells:
        return lines[0] + "<p>No mistakes: every image was classified correctly.</p>"
    rows = ", ".join(f"{found.classes[c.true]} → {found.classes[c.pred]} ({c.count})" for c in cells)
    lines.append(f"<p>The most confused pairs (true → predicted, images): {html.escape(rows)}. "
                 "Each pair's most confident mistakes first.</p>")
    data = base64.b64encode(mistakes_png(cells, found.classes, "", per_pair)).decode("ascii")
    lines.append(f'<img alt="the most confused class pairs" src="data:image/png;base64,{data}">')
    return "\n".join(lines)
