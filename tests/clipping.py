"""Find visible text that its container or the window cuts off, in a page open in Playwright (reusable: any page).

    from clipping import clipped_text
    problems = clipped_text(page)          # [] when nothing is cut; else one dict per cut text

What counts as cut, for every visible element that holds text of its own:
* its own box overflows: `overflow-x` is not `visible` (hidden, clip, auto, scroll) and its content is wider
  than its box (scrollWidth > clientWidth), or an ancestor up to the app root shows an ellipsis
  (`text-overflow: ellipsis`) and is itself too narrow for its content;
* an ancestor that hides or scrolls what overflows (`overflow-x` not `visible`) ends before the text does;
* the text runs past the window's left or right edge;
* a table (Streamlit's dataframe draws on a canvas) is wider than its frame, so columns are cut until scrolled;
* in a plotly chart, a title, axis title, tick label, legend entry or annotation reaches outside the chart's
  drawing (what plotly cannot fit it clips at the SVG's edge).
Text is measured by a DOM Range over its text nodes (not the element's box, which may be wider than the text).
Invisible elements (display none, visibility hidden, zero size or a 1-pixel box for screen readers, a closed
expander) are skipped. Vertical
overflow is not checked: Streamlit pages scroll vertically by design.
"""
from __future__ import annotations

SLACK_PX = 1.5          # sub-pixel rounding between the ways a browser reports sizes

CLIPPING_JS = r"""
([rootSelector, slack]) => {
  const root = document.querySelector(rootSelector) || document.body;
  const problems = [];
  const seen = new Set();
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' || parseFloat(style.opacity) === 0) return false;
    const rect = el.getBoundingClientRect();
    if (rect.width < 2 || rect.height < 2) return false;      // zero-size, or visually hidden (a skip link)
    if (el.closest('details:not([open]) > :not(summary)')) return false;
    return true;
  };
  const describe = (el) => {
    const key = el.closest('[class*="st-key-"]');
    const keyName = key ? [...key.classList].find(c => c.startsWith('st-key-')) : null;
    const test = el.closest('[data-testid]');
    return (keyName ? keyName + ' ' : '') + (test ? test.getAttribute('data-testid') : el.tagName.toLowerCase());
  };
  const report = (el, text, reason) => {
    const id = reason + '|' + text;
    if (seen.has(id)) return;
    seen.add(id);
    problems.push({text: text.slice(0, 120), reason, where: describe(el)});
  };
  const textRect = (el) => {
    const range = document.createRange();
    let left = Infinity, right = -Infinity, found = false;
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width < 0.5) continue;
        left = Math.min(left, r.left); right = Math.max(right, r.right); found = true;
      }
    }
    return found ? {left, right} : null;
  };
  const width = window.innerWidth;
  for (const el of root.querySelectorAll('*')) {
    if (el.closest('svg') || el.closest('.katex-mathml') ||                  // KaTeX's copy for screen readers
        el.closest('[data-testid="stSidebar"][aria-expanded="false"]')) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim();
    if (!own || !visible(el)) continue;
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + slack) {
      report(el, own, `cut by its own box (${el.scrollWidth}px of text in ${el.clientWidth}px)`);
      continue;
    }
    const rect = textRect(el);
    if (!rect) continue;
    let cut = false;
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.textOverflow === 'ellipsis' && a.scrollWidth > a.clientWidth + slack) {
        report(el, own, `ends in an ellipsis (${a.scrollWidth}px in ${a.clientWidth}px)`); cut = true; break;
      }
      if (s.overflowX !== 'visible') {
        const box = a.getBoundingClientRect();
        if (rect.right > box.right + slack || rect.left < box.left - slack) {
          report(el, own, `cut by a container that hides its overflow (${s.overflowX})`); cut = true; break;
        }
      }
    }
    if (!cut && (rect.right > width + slack || rect.left < -slack)) {
      report(el, own, `runs past the window (${Math.round(rect.left)}..${Math.round(rect.right)} of ${width}px)`);
    }
  }
  for (const frame of root.querySelectorAll('[data-testid="stDataFrame"]')) {
    if (!visible(frame)) continue;
    for (const scroller of frame.querySelectorAll('.dvn-scroller')) {
      if (scroller.scrollWidth > scroller.clientWidth + slack) {
        report(frame, frame.getAttribute('aria-label') || 'a table',
               `table wider than its frame (${scroller.scrollWidth}px in ${scroller.clientWidth}px): columns cut`);
      }
    }
  }
  const texts = 'g.infolayer text, g.xtick text, g.ytick text, g.legend text, g.annotation text, ' +
                'text.gtitle, text.xtitle, text.ytitle, g.g-gtitle text, g.g-xtitle text, g.g-ytitle text';
  for (const chart of root.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (!visible(chart)) continue;
    const svg = chart.querySelector('svg.main-svg');
    if (!svg) continue;
    const box = svg.getBoundingClientRect();
    for (const t of chart.querySelectorAll(texts)) {
      const content = (t.textContent || '').trim();
      if (!content) continue;
      const r = t.getBoundingClientRect();
      if (r.width < 0.5) continue;
      if (r.left < box.left - slack || r.right > box.right + slack || r.top < box.top - slack ||
          r.bottom > box.bottom + slack) {
        report(chart, content, 'chart text outside the chart');
      }
      if (r.right > width + slack) report(chart, content, 'chart text runs past the window');
    }
  }
  return problems;
}
"""


def clipped_text(page, root: str = '[data-testid="stApp"]', slack_px: float = SLACK_PX) -> list[dict]:
    """Every visible text the page cuts off (see the module docstring): [{"text", "reason", "where"}]."""
    return page.evaluate(CLIPPING_JS, [root, slack_px])


def describe(problems: list[dict]) -> str:
    return "\n".join(f"- {p['text']!r}: {p['reason']} [{p['where']}]" for p in problems)
