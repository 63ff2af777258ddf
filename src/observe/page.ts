import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PageView } from './views.js';

const require = createRequire(import.meta.url);
let uplot: { js: string; css: string } | undefined;

/** uPlot's browser build and stylesheet, from the npm package (no build step, nothing fetched at view time). */
function uPlotAssets(): { js: string; css: string } {
  uplot ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplot;
}

/** Text safe inside a <script> element (no `</script>` can end it early). */
const scriptSafe = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/**
 * One self-contained HTML page that draws a PageView with uPlot: the data is embedded, and with
 * `poll` the page fetches a fresh PageView from that URL every `pollMs` and redraws (the live
 * dashboard). Every chart element carries `data-points` (the non-null points it draws) and every
 * figure `data-stat`, so a test can read what the page shows.
 */
export function renderPage(view: PageView, options: { readonly poll?: string; readonly pollMs?: number } = {}): string {
  const { js, css } = uPlotAssets();
  const boot = JSON.stringify({ view, poll: options.poll ?? null, pollMs: options.pollMs ?? 2000 });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(view.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>${css}
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 2px; } .sub { color: #666; margin-bottom: 12px; }
.stats { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 16px; }
.stat { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; min-width: 110px; }
.stat .v { font-size: 18px; font-weight: 600; } .stat .l { color: #666; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
.chart h3 { font-size: 14px; margin: 0 0 4px; } .note { color: #666; font-size: 12px; }
</style>
<script>${scriptSafe(js)}</script>
</head><body>
<h1 id="title"></h1><div class="sub" id="subtitle"></div>
<div class="stats" id="stats"></div>
<div class="charts" id="charts"></div>
<script>window.D4_BOOT = ${scriptSafe(boot)};</script>
<script>${scriptSafe(CLIENT)}</script>
</body></html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

// The browser side: plain ES2020, no modules, no dependencies but uPlot.
const CLIENT = String.raw`
(function () {
  'use strict';
  var boot = window.D4_BOOT;
  var plots = {};
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

  function text(el, s) { el.textContent = s; return el; }
  function make(tag, cls, parent) { var e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }

  function drawStats(stats) {
    var box = document.getElementById('stats');
    box.innerHTML = '';
    stats.forEach(function (s) {
      var d = make('div', 'stat', box);
      d.setAttribute('data-stat', s.id);
      var v = text(make('div', 'v', d), typeof s.value === 'number' ? s.value.toLocaleString('en-US', { maximumFractionDigits: 4 }) : String(s.value));
      v.setAttribute('data-value', String(s.value));
      text(make('div', 'l', d), s.label);
    });
  }

  function options(c, width) {
    var bars = c.kind === 'bars';
    var series = [{ label: c.xLabel }];
    c.series.forEach(function (s, i) {
      var o = { label: s.label, stroke: palette[i % palette.length], width: 2, spanGaps: true };
      if (bars) {
        o.fill = palette[i % palette.length] + '99';
        o.paths = uPlot.paths.bars({ size: [c.series.length > 1 ? 0.4 : 0.7, 60], align: c.series.length > 1 ? (i === 0 ? -1 : 1) : 0 });
        o.points = { show: false };
      }
      series.push(o);
    });
    var xAxis = { label: c.xLabel };
    if (bars) {
      xAxis.values = function (u, splits) { return splits.map(function (v) { return c.categories && c.categories[v] !== undefined ? c.categories[v] : ''; }); };
      xAxis.splits = function () { return c.x.slice(); };
      xAxis.rotate = -45;
      xAxis.size = 70;
    }
    return {
      width: width, height: 260, series: series,
      scales: { x: { time: !!c.time, range: bars ? function (u, min, max) { return [min - 0.6, max + 0.6]; } : undefined } },
      axes: [xAxis, { label: c.yLabel }],
      legend: { live: !bars },
    };
  }

  function drawCharts(charts) {
    var box = document.getElementById('charts');
    var width = Math.max(480, Math.min(760, box.clientWidth / (box.clientWidth > 1100 ? 2 : 1) - 40));
    var seen = {};
    charts.forEach(function (c) {
      seen[c.id] = true;
      var data = [c.x.slice()].concat(c.series.map(function (s) { return s.values.slice(); }));
      var points = 0;
      c.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null && v !== undefined && isFinite(v)) points++; }); });
      var p = plots[c.id];
      if (!p) {
        var el = make('div', 'chart', box);
        el.id = 'chart-' + c.id;
        text(make('h3', '', el), c.title);
        if (c.note) text(make('div', 'note', el), c.note);
        var host = make('div', '', el);
        p = plots[c.id] = { el: el, series: c.series.length, plot: new uPlot(options(c, width), data, host), host: host };
      } else if (p.series !== c.series.length) {
        p.plot.destroy();
        p.series = c.series.length;
        p.plot = new uPlot(options(c, width), data, p.host);
      } else {
        p.plot.setData(data);
      }
      p.el.setAttribute('data-points', String(points));
    });
    Object.keys(plots).forEach(function (id) { if (!seen[id]) { plots[id].plot.destroy(); plots[id].el.remove(); delete plots[id]; } });
  }

  function draw(view) {
    document.title = view.title;
    text(document.getElementById('title'), view.title);
    text(document.getElementById('subtitle'), view.subtitle);
    drawStats(view.stats);
    drawCharts(view.charts);
    window.D4_VIEW = view;
    document.body.setAttribute('data-drawn', String((Number(document.body.getAttribute('data-drawn')) || 0) + 1));
  }

  draw(boot.view);
  if (boot.poll) {
    var tick = function () {
      fetch(boot.poll, { cache: 'no-store' }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      }).then(draw, function (e) {
        text(document.getElementById('subtitle'), 'not updating: ' + e.message);
      }).finally(function () { setTimeout(tick, boot.pollMs); });
    };
    setTimeout(tick, boot.pollMs);
  }
})();
`;
