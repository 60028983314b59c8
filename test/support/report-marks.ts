/** In the page: the marks of each plot by layer, the iteration rows, the tasks that gave up. */
export const MARKS = `(() => {
  const out = {};
  for (const svg of document.querySelectorAll('svg.plot')) {
    const by = {};
    for (const m of svg.querySelectorAll('.mark')) by[m.dataset.layer] = (by[m.dataset.layer] || 0) + 1;
    for (const l of svg.querySelectorAll('polyline.line')) if (!svg.querySelector('.mark[data-layer="' + l.dataset.layer + '"]') && l.dataset.layer !== 'as large as the parent') by[l.dataset.layer] = Number(l.dataset.points);
    out[svg.id] = by;
  }
  out.rows = document.querySelectorAll('#iterations tr.iteration').length;
  out.gaveUp = Math.max(0, document.querySelectorAll('table#gave-up tr').length - 1);
  return out;
})()`;
