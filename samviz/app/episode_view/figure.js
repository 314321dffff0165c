// samviz static figure: one SVG chart drawn on the server (samviz/app/svg_charts.py), shown without Streamlit's
// markdown HTML parser (st.markdown with unsafe_allow_html loads a 189 KB parser on every page view; issue 28).
// The SVG is parsed as XML (DOMParser, image/svg+xml) and adopted into this component's own root: a parsed
// document runs no script, and text that is not well-formed SVG shows a note instead of a half-drawn chart.
export default function (component) {
  const { data, parentElement } = component;
  if (!data || typeof data.svg !== "string") return undefined;
  if (parentElement.__samvizFigure === data.svg) return undefined;      // a rerun with the same figure
  const box = document.createElement("div");
  box.className = "samviz-chart-box";
  box.style.maxWidth = `${Number(data.max_width) || 1100}px`;
  const parsed = new DOMParser().parseFromString(data.svg, "image/svg+xml");
  const root = parsed.documentElement;
  if (root.namespaceURI !== "http://www.w3.org/2000/svg" || parsed.getElementsByTagName("parsererror").length) {
    box.textContent = "This figure could not be drawn.";
  } else {
    box.appendChild(document.importNode(root, true));
  }
  parentElement.replaceChildren(box);
  parentElement.__samvizFigure = data.svg;
  return undefined;
}
