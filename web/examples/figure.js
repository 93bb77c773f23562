'use strict';
// Shared by the tutorials' scripts: a figure on a canvas whose y axis runs
// from 0 to 1 (relative errors, accuracies). unitFigure() clears the canvas,
// draws the frame, the y axis' 0 and 1 and the x axis' label, and returns the
// axes' maps and series(), which draws one labelled line (with markers, for
// a few measured points) and adds its label to the legend.
function unitFigure(canvas, xLabel, [xFirst, xLast]) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, left = 44, top = 10, right = w - 12, bottom = h - 30;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.fillStyle = '#555';
  ctx.font = '12px sans-serif';
  ctx.fillText('1', 28, top + 10);
  ctx.fillText('0', 28, bottom);
  ctx.fillText(xLabel, (left + right - ctx.measureText(xLabel).width) / 2, h - 6);
  const x = (v) => left + (right - left) * (v - xFirst) / (xLast - xFirst || 1);
  const y = (v) => bottom - (bottom - top) * Math.min(1, Math.max(0, v));
  let legend = left + 12;
  return {
    ctx, x, y, bottom,
    series(label, colour, points, markers = false) {
      ctx.strokeStyle = ctx.fillStyle = colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach(([a, b], i) => (i ? ctx.lineTo(x(a), y(b)) : ctx.moveTo(x(a), y(b))));
      ctx.stroke();
      if (markers) for (const [a, b] of points) ctx.fillRect(x(a) - 3, y(b) - 3, 6, 6);
      ctx.fillText(label, legend, top + 18);
      legend += ctx.measureText(label).width + 16;
    },
  };
}
