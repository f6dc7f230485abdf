//! The plots of a run, drawn with plotters into SVG text: latency over time
//! (every op a point, log scale, p50 and p99 per time bin as lines),
//! throughput over time (ok, fail and info ops per second, stacked) and
//! recovery after each heal (ok ops per second around it). Fault windows
//! are shaded and labelled on each time plot, heals marked; the x axis
//! lines up with the timeline's ([`super::svg::LEFT`], [`super::svg::PLOT_W`]).
//!
//! A big history is thinned for drawing only (see [`thin`]): the slowest
//! ops and an even sample of the rest are drawn, the lines are computed
//! from every op. Pure: samples in, SVG text out.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::svg::{LEFT, RIGHT, WIDTH, colour};
use super::timeline::Band;
use crate::results::{OpSample, Outcome};

/// The most points the latency plot draws, over all series.
pub const MAX_POINTS: usize = 6_000;

/// A plot that plotters could not draw (it draws into memory, so this is
/// not expected; the page says so in the plot's place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {plot} plot could not be drawn: {reason}")]
pub struct PlotError {
    pub plot: &'static str,
    pub reason: String,
}

fn failed<E: std::fmt::Debug>(plot: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError {
        plot,
        reason: format!("{e:?}"),
    }
}

fn rgb(hex: &str) -> RGBColor {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// plotters' SVG text is 1/1.24 of the size asked for: sizes in CSS pixels.
fn font(px: f64) -> TextStyle<'static> {
    ("sans-serif", px * 1.24)
        .into_font()
        .color(&RGBColor(40, 40, 40))
}

/// How a function is drawn in the latency plot: its colour and marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Cross,
}

/// The colour and marker of an op function (`read`, `final-read`, ...).
pub fn style_of(f: &str) -> (&'static str, Marker) {
    match f {
        "read" | "get" | "txn-read" => (colour::READ, Marker::Circle),
        "final-read" => (colour::FINAL, Marker::Circle),
        "write" | "put" | "append" | "txn-append" => (colour::WRITE, Marker::Triangle),
        "cas" => (colour::CAS, Marker::Cross),
        _ => (colour::OTHER, Marker::Circle),
    }
}

/// The functions in the order the latency plot draws them (most numerous
/// first, underneath).
pub const FUNCTIONS: &[&str] = &[
    "read",
    "get",
    "txn-read",
    "write",
    "put",
    "append",
    "txn-append",
    "cas",
    "final-read",
];

/// A function's name in a legend: `read-only transaction` for
/// `txn-read`, `transaction with appends` for `txn-append`, else itself.
pub fn function_label(f: &str) -> &str {
    match f {
        "txn-read" => "read-only transaction",
        "txn-append" => "transaction with appends",
        f => f,
    }
}

/// A bin width (s) that gives at most `max` bins over `end` seconds: 1 s,
/// else 2, 5, 10, 20, 30, 60...
pub fn bin_width(end: f64, max: usize) -> f64 {
    [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ]
    .into_iter()
    .filter(|w| *w >= 1.0)
    .find(|w| end / w <= max as f64)
    .unwrap_or(3600.0)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Per bin of `width` seconds from 0: the p50 and p99 latency (ms) of the
/// ok ops invoked in it (`None`: no ok op).
pub fn quantiles(samples: &[OpSample], width: f64, end: f64) -> Vec<Option<(f64, f64)>> {
    let bins = (end / width).ceil().max(1.0) as usize;
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); bins];
    for s in samples.iter().filter(|s| s.outcome == Outcome::Ok) {
        let b = ((s.invoked_ns as f64 / 1e9) / width) as usize;
        per[b.min(bins - 1)].push(latency_ms(s));
    }
    per.into_iter()
        .map(|mut v| {
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            Some((percentile(&v, 50.0), percentile(&v, 99.0)))
        })
        .collect()
}

fn latency_ms(s: &OpSample) -> f64 {
    s.completed_ns.saturating_sub(s.invoked_ns) as f64 / 1e6
}

/// Per bin of `width` seconds from 0: ops completed ok, fail, info.
pub fn rates(samples: &[OpSample], width: f64, end: f64) -> Vec<[u64; 3]> {
    let bins = (end / width).ceil().max(1.0) as usize;
    let mut per = vec![[0u64; 3]; bins];
    for s in samples {
        let b = (((s.completed_ns as f64 / 1e9) / width) as usize).min(bins - 1);
        let i = match s.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        per[b][i] += 1;
    }
    per
}

/// Decades around `lo..hi` for a log axis.
fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let lo = 10f64.powf(lo.max(1e-3).log10().floor());
    let mut hi = 10f64.powf(hi.max(lo).log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    (lo, hi)
}

fn ms_label(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", trim(ms / 1000.0))
    } else {
        format!("{} ms", trim(ms))
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The drawing area of a plot `height` pixels high.
fn area(buf: &mut String, height: u32) -> DrawingArea<SVGBackend<'_>, Shift> {
    SVGBackend::with_string(buf, (WIDTH, height)).into_drawing_area()
}

/// Shade the fault windows and mark the heals on a chart whose y runs
/// `y0..y1`.
fn draw_bands<Y>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    bands: &[Band],
    end: f64,
    y0: f64,
    y1: f64,
    plot: &'static str,
) -> Result<(), PlotError>
where
    Y: Ranged<ValueType = f64>,
{
    let shade = RGBAColor(0, 0, 0, 0.07);
    chart
        .draw_series(bands.iter().map(|b| {
            Rectangle::new(
                [(b.start, y0), (b.heal.unwrap_or(end).max(b.start), y1)],
                shade.filled(),
            )
        }))
        .map_err(failed(plot))?;
    let heal = rgb(colour::HEAL).stroke_width(2);
    for b in bands {
        if let Some(h) = b.heal {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    vec![(h, y0), (h, y1)],
                    6,
                    4,
                    heal,
                )))
                .map_err(failed(plot))?;
        }
    }
    // Labels: the whole label where the window is wide enough, else its
    // number (the fault table has the rest).
    let scale = super::svg::PLOT_W / end.max(1e-9);
    chart
        .draw_series(bands.iter().map(|b| {
            let label = b.fitting((b.heal.unwrap_or(end) - b.start) * scale);
            EmptyElement::at((b.start, y1)) + Text::new(label, (4, 3), font(12.0))
        }))
        .map_err(failed(plot))?;
    Ok(())
}

/// Latency over time: every completed op at its invocation time (ok ops
/// filled, fail and info hollow), log scale, and the p50 and p99 of ok ops
/// per time bin.
pub fn latency(samples: &[OpSample], end: f64, bands: &[Band]) -> Result<String, PlotError> {
    let fail = failed("latency");
    let height = 330;
    let (lo, hi) = samples
        .iter()
        .map(latency_ms)
        .fold((f64::INFINITY, 0f64), |(a, b), l| (a.min(l), b.max(l)));
    let (y0, y1) = if lo.is_finite() {
        decades(lo, hi)
    } else {
        (0.1, 1000.0)
    };
    let width = bin_width(end, 600);
    let lines = quantiles(samples, width, end);
    let mut buf = String::new();
    {
        let root = area(&mut buf, height);
        let mut chart = ChartBuilder::on(&root)
            .margin_top(6)
            .margin_right(RIGHT)
            .x_label_area_size(38)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0f64..end, (y0..y1).log_scale())
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(14)
            .y_labels(8)
            .x_label_formatter(&|x| format!("{} s", trim(*x)))
            .y_label_formatter(&|y| ms_label(*y))
            .x_desc("time since the run's start (invocation)")
            .y_desc("latency (log scale)")
            .label_style(font(12.0))
            .axis_desc_style(font(12.0))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(&fail)?;
        draw_bands(&mut chart, bands, end, y0, y1, "latency")?;
        // Points (a sample of a big history: see `thin`).
        for (f, ok, points) in thin(samples, width, end, y0).0 {
            let (hex, marker) = style_of(f);
            let c = rgb(hex);
            let style = if ok {
                c.mix(0.75).filled()
            } else {
                c.stroke_width(1)
            };
            match marker {
                Marker::Circle => chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 2, style)))
                    .map(|_| ()),
                Marker::Triangle => chart
                    .draw_series(points.iter().map(|p| TriangleMarker::new(*p, 3, style)))
                    .map(|_| ()),
                Marker::Cross => chart
                    .draw_series(points.iter().map(|p| Cross::new(*p, 3, style)))
                    .map(|_| ()),
            }
            .map_err(&fail)?;
        }
        // The quantile lines, broken where a bin has no ok op.
        for (q, style) in [
            (1usize, RGBColor(0, 0, 0).stroke_width(1)),
            (0, RGBColor(0, 0, 0).stroke_width(2)),
        ] {
            for run in runs(&lines) {
                let pts: Vec<(f64, f64)> = run
                    .iter()
                    .map(|(i, (p50, p99))| {
                        let y = if q == 0 { *p50 } else { *p99 };
                        ((*i as f64 + 0.5) * width, y.max(y0))
                    })
                    .collect();
                if pts.len() == 1 {
                    chart
                        .draw_series(std::iter::once(Circle::new(pts[0], 2, style.filled())))
                        .map_err(&fail)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(pts, style))
                        .map_err(&fail)?;
                }
            }
        }
        root.present().map_err(&fail)?;
    }
    Ok(buf)
}

/// Points of one function and outcome: (function, ok?, (s, ms) points).
pub type Series = (&'static str, bool, Vec<(f64, f64)>);

/// The latency plot's points, per (function, ok or not). Up to
/// [`MAX_POINTS`] ops, every one; beyond, the ops slower than the p99 of
/// their time bin (up to a tenth of the points), and an even sample of the
/// rest, in time order, so that each series keeps its share and the whole
/// run is covered. Returns the series and how many ops they draw.
pub fn thin(samples: &[OpSample], width: f64, end: f64, y0: f64) -> (Vec<Series>, usize) {
    let mut chosen: Vec<bool> = vec![samples.len() <= MAX_POINTS; samples.len()];
    if samples.len() > MAX_POINTS {
        let lines = quantiles(samples, width, end);
        let bins = lines.len();
        let slow: Vec<usize> = samples
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let b = (((s.invoked_ns as f64 / 1e9) / width) as usize).min(bins - 1);
                lines[b].is_none_or(|(_, p99)| latency_ms(s) > p99)
            })
            .map(|(i, _)| i)
            .collect();
        let k = slow.len().div_ceil(MAX_POINTS / 10).max(1);
        for &i in slow.iter().step_by(k) {
            chosen[i] = true;
        }
        let taken = chosen.iter().filter(|c| **c).count();
        let rest: Vec<usize> = (0..samples.len()).filter(|&i| !chosen[i]).collect();
        let room = MAX_POINTS.saturating_sub(taken).min(rest.len());
        for j in 0..room {
            chosen[rest[j * rest.len() / room]] = true;
        }
    }
    let mut out = Vec::new();
    let mut drawn = 0;
    for f in FUNCTIONS {
        for ok in [true, false] {
            let points: Vec<(f64, f64)> = samples
                .iter()
                .zip(&chosen)
                .filter(|(s, c)| **c && s.f == *f && (s.outcome == Outcome::Ok) == ok)
                .map(|(s, _)| (s.invoked_ns as f64 / 1e9, latency_ms(s).max(y0)))
                .collect();
            drawn += points.len();
            if !points.is_empty() {
                out.push((*f, ok, points));
            }
        }
    }
    (out, drawn)
}

/// Consecutive bins that have a value.
fn runs<T: Copy>(bins: &[Option<T>]) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = Vec::new();
    let mut current = Vec::new();
    for (i, b) in bins.iter().enumerate() {
        match b {
            Some(v) => current.push((i, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Throughput over time: ops completed per second, ok at the bottom, then
/// fail, then info, stacked, per time bin.
pub fn throughput(samples: &[OpSample], end: f64, bands: &[Band]) -> Result<String, PlotError> {
    let fail = failed("throughput");
    let height = 240;
    let width = bin_width(end, 600);
    let bins = rates(samples, width, end);
    let top = bins
        .iter()
        .map(|c| (c[0] + c[1] + c[2]) as f64 / width)
        .fold(1.0, f64::max)
        * 1.15;
    let mut buf = String::new();
    {
        let root = area(&mut buf, height);
        let mut chart = ChartBuilder::on(&root)
            .margin_top(6)
            .margin_right(RIGHT)
            .x_label_area_size(38)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0f64..end, 0f64..top)
            .map_err(&fail)?;
        let y_desc = if width == 1.0 {
            "ops completed per second".to_string()
        } else {
            format!("ops/s (per {} s bin)", trim(width))
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(14)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{} s", trim(*x)))
            .y_label_formatter(&|y| trim(y.round()))
            .x_desc("time since the run's start (completion)")
            .y_desc(y_desc)
            .label_style(font(12.0))
            .axis_desc_style(font(12.0))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(&fail)?;
        draw_bands(&mut chart, bands, end, 0.0, top, "throughput")?;
        let colours = [rgb(colour::OK), rgb(colour::FAIL), rgb(colour::INFO)];
        for (layer, c) in colours.iter().enumerate() {
            chart
                .draw_series(bins.iter().enumerate().filter_map(|(i, counts)| {
                    let below: u64 = counts[..layer].iter().sum();
                    let here = counts[layer];
                    (here > 0).then(|| {
                        let x0 = i as f64 * width;
                        Rectangle::new(
                            [
                                (x0, below as f64 / width),
                                ((x0 + width).min(end), (below + here) as f64 / width),
                            ],
                            c.filled(),
                        )
                    })
                }))
                .map_err(&fail)?;
        }
        root.present().map_err(&fail)?;
    }
    Ok(buf)
}

/// One heal, for the recovery plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Heal {
    pub id: u64,
    /// Seconds since the run's start.
    pub at: f64,
    /// From results.json: until the first op invoked after it succeeded.
    pub recovery_ms: Option<u64>,
    /// Until throughput was back (`faults[].recovery.throughput_ms`).
    pub throughput_ms: Option<u64>,
    /// The ok ops per second that count as back (the share of the level
    /// before the fault), drawn as a dashed line.
    pub level: Option<f64>,
}

/// The colours of the recovery curves, one per heal (repeating).
pub const CURVES: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// Recovery: ok ops per second in 100 ms bins from 2 s before each heal to
/// 5 s after it (longer, up to 20 s, when throughput took longer to come
/// back), one curve per heal, each heal's first ok op (circle) and
/// throughput's return (square) marked, and the level that counts as back
/// dashed.
pub fn recovery(samples: &[OpSample], heals: &[Heal]) -> Result<String, PlotError> {
    let fail = failed("recovery");
    let height = 260;
    let longest = heals
        .iter()
        .filter_map(|h| h.throughput_ms)
        .max()
        .map_or(0.0, |ms| ms as f64 / 1000.0 + 1.0);
    let (from, to, width) = (-2.0, longest.clamp(5.0, 20.0).ceil(), 0.1);
    let bins = ((to - from) / width) as usize;
    let curves: Vec<Vec<f64>> = heals
        .iter()
        .map(|h| {
            let mut per = vec![0.0; bins];
            for s in samples.iter().filter(|s| s.outcome == Outcome::Ok) {
                let t = s.completed_ns as f64 / 1e9 - h.at;
                if (from..to).contains(&t) {
                    let b = ((t - from) / width) as usize;
                    per[b.min(bins - 1)] += 1.0 / width;
                }
            }
            per
        })
        .collect();
    let top = curves.iter().flatten().copied().fold(1.0, f64::max) * 1.15;
    let mut buf = String::new();
    {
        let root = area(&mut buf, height);
        let mut chart = ChartBuilder::on(&root)
            .margin_top(10)
            .margin_right(RIGHT)
            .x_label_area_size(38)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(from..to, 0f64..top)
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .x_labels(15)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{} s", trim(*x)))
            .y_label_formatter(&|y| trim(y.round()))
            .x_desc("time since the heal (ok ops by completion, 100 ms bins)")
            .y_desc("ok ops per second")
            .label_style(font(12.0))
            .axis_desc_style(font(12.0))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(&fail)?;
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(0.0, 0.0), (0.0, top)],
                6,
                4,
                rgb(colour::HEAL).stroke_width(2),
            )))
            .map_err(&fail)?;
        for (n, (h, curve)) in heals.iter().zip(&curves).enumerate() {
            let c = rgb(CURVES[n % CURVES.len()]);
            let pts: Vec<(f64, f64)> = curve
                .iter()
                .enumerate()
                .map(|(i, v)| (from + (i as f64 + 0.5) * width, *v))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(&fail)?;
            if let Some(ms) = h.recovery_ms {
                let x = ms as f64 / 1000.0;
                if x < to {
                    let b = (((x - from) / width) as usize).min(bins - 1);
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((x, curve[b]))
                                + Circle::new((0, 0), 5, c.stroke_width(2))
                                + Text::new(format!("#{}", h.id), (7, -16), font(12.0)),
                        ))
                        .map_err(&fail)?;
                }
            }
            if let Some(level) = h.level.filter(|l| *l < top) {
                chart
                    .draw_series(std::iter::once(DashedPathElement::new(
                        vec![(0.0, level), (to, level)],
                        3,
                        5,
                        c.stroke_width(1),
                    )))
                    .map_err(&fail)?;
            }
            if let Some(ms) = h.throughput_ms {
                let x = ms as f64 / 1000.0;
                if x < to {
                    let b = (((x - from) / width) as usize).min(bins - 1);
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((x, curve[b]))
                                + Rectangle::new([(-5, -5), (5, 5)], c.stroke_width(2))
                                + Text::new(format!("#{} back", h.id), (7, 4), font(12.0)),
                        ))
                        .map_err(&fail)?;
                }
            }
        }
        root.present().map_err(&fail)?;
    }
    Ok(buf)
}

/// One value a workload read at a time, for [`values`]: a bank read's
/// total, a set read's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Seconds since the run's start.
    pub at: f64,
    pub value: f64,
    /// Drawn in the anomaly colour.
    pub bad: bool,
}

/// A value over time (a bank's total as each read saw it, a set's size):
/// one point per read at its completion, bad ones red, the value it must
/// have (`expected`) as a dashed line, fault windows shaded.
pub fn values(
    points: &[Point],
    expected: Option<f64>,
    end: f64,
    bands: &[Band],
    y_desc: &str,
) -> Result<String, PlotError> {
    let fail = failed("values");
    let height = 260;
    let (lo, hi) = points
        .iter()
        .map(|p| p.value)
        .chain(expected)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo).abs() * 0.1).max(1.0);
    let (y0, y1) = (lo - pad, hi + pad);
    let mut buf = String::new();
    {
        let root = area(&mut buf, height);
        let mut chart = ChartBuilder::on(&root)
            .margin_top(6)
            .margin_right(RIGHT)
            .x_label_area_size(38)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0f64..end.max(1e-9), y0..y1)
            .map_err(&fail)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(14)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{} s", trim(*x)))
            .y_label_formatter(&|y| trim(*y))
            .x_desc("time since the run's start (completion)")
            .y_desc(y_desc)
            .label_style(font(12.0))
            .axis_desc_style(font(12.0))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(&fail)?;
        draw_bands(&mut chart, bands, end, y0, y1, "values")?;
        if let Some(e) = expected {
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    vec![(0.0, e), (end, e)],
                    6,
                    4,
                    rgb(colour::OK).stroke_width(1),
                )))
                .map_err(&fail)?;
        }
        let good = rgb(colour::OK);
        let bad = rgb(colour::ANOMALY);
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| !p.bad)
                    .map(|p| Circle::new((p.at, p.value), 2, good.filled())),
            )
            .map_err(&fail)?;
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.bad)
                    .map(|p| Circle::new((p.at, p.value), 4, bad.filled())),
            )
            .map_err(&fail)?;
        root.present().map_err(&fail)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: &'static str, outcome: Outcome, at_ms: u64, ms: u64) -> OpSample {
        OpSample {
            write: f != "read",
            f: f.to_string(),
            outcome,
            invoked_ns: at_ms * 1_000_000,
            completed_ns: (at_ms + ms) * 1_000_000,
        }
    }

    #[test]
    fn quantiles_and_rates_per_bin() {
        let samples = [
            s("read", Outcome::Ok, 100, 2),
            s("read", Outcome::Ok, 200, 4),
            s("write", Outcome::Ok, 300, 10),
            s("write", Outcome::Info, 1500, 1000),
            s("cas", Outcome::Fail, 2100, 1),
        ];
        let q = quantiles(&samples, 1.0, 3.0);
        assert_eq!(q, vec![Some((4.0, 10.0)), None, None]);
        let r = rates(&samples, 1.0, 3.0);
        assert_eq!(r, vec![[3, 0, 0], [0, 0, 0], [0, 1, 1]]);
        assert_eq!(runs(&q).len(), 1);
        assert_eq!(bin_width(41.0, 600), 1.0);
        assert_eq!(bin_width(3000.0, 600), 5.0);
    }

    #[test]
    fn thinning_keeps_the_whole_run_and_the_shares() {
        // 60,000 ops over 60 s: reads 1-100 ms, one write in ten.
        let samples: Vec<OpSample> = (0..60_000u64)
            .map(|i| {
                let f = if i % 10 == 0 { "write" } else { "read" };
                s(f, Outcome::Ok, i, 1 + (i * 7919) % 100)
            })
            .collect();
        let (kept, drawn) = thin(&samples, 1.0, 60.0, 1.0);
        assert!(
            drawn <= MAX_POINTS && drawn > MAX_POINTS * 9 / 10,
            "{drawn}"
        );
        let reads = &kept.iter().find(|k| k.0 == "read").unwrap().2;
        let writes = &kept.iter().find(|k| k.0 == "write").unwrap().2;
        let share = writes.len() as f64 / drawn as f64;
        assert!(
            (0.07..0.13).contains(&share),
            "writes keep their share: {share}"
        );
        let last = reads.iter().map(|p| p.0).fold(0.0, f64::max);
        assert!(last > 59.0, "thinned evenly, not cut at {last} s");
        // The slowest ops of each second are all there.
        assert!(reads.iter().filter(|p| p.1 >= 100.0).count() >= 50);
        // A small history is drawn whole.
        assert_eq!(thin(&samples[..100], 1.0, 60.0, 1.0).1, 100);
    }

    #[test]
    fn plots_draw_their_points_and_bands() {
        let samples: Vec<OpSample> = (0..50)
            .map(|i| s("read", Outcome::Ok, i * 100, 1 + i % 7))
            .chain([s("write", Outcome::Info, 2000, 1000)])
            .collect();
        let bands = [Band {
            id: 1,
            start: 1.0,
            heal: Some(3.0),
            label: "#1 partition: n1 x n2".into(),
            short: "#1 partition".into(),
            detail: "partition: n1 | n2".into(),
        }];
        let svg = latency(&samples, 5.0, &bands).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("#1 partition"));
        assert!(svg.matches("<circle").count() >= 40);
        // The info write is hollow: a triangle outline.
        assert!(svg.contains("polygon") || svg.contains("polyline"));
        let svg = throughput(&samples, 5.0, &bands).unwrap();
        assert!(svg.contains("#0072B2") && svg.contains("#E69F00"));
        let heals = [Heal {
            id: 1,
            at: 3.0,
            recovery_ms: Some(50),
            throughput_ms: None,
            level: None,
        }];
        let svg = recovery(&samples, &heals).unwrap();
        assert!(svg.contains("\n#1\n</text>"), "{svg}");
    }
}
