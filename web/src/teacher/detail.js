// The side panel (a modal dialog): a cell's submissions or an exercise's common failures.
const dialog = document.getElementById('detail');
const title = document.getElementById('detail-title');
const body = document.getElementById('detail-body');

/** Open the panel with `title` and `content`; the body element, to fill in later. */
export function showDetail(text, ...content) {
  title.textContent = text;
  body.replaceChildren(...content);
  if (!dialog.open) dialog.showModal();
  body.scrollTop = 0;
  return body;
}

document.getElementById('detail-close').addEventListener('click', () => dialog.close());
// A click on the backdrop (outside the panel's box) closes it too.
dialog.addEventListener('click', (e) => {
  if (e.target !== dialog) return;
  const r = dialog.getBoundingClientRect();
  const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
  if (!inside) dialog.close();
});
