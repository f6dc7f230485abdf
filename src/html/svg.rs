//! Small helpers for the hand-written SVG (the timeline and the anomaly
//! views): the page's geometry and colours, escaping, compact numbers, axis
//! ticks. Pure.

use std::fmt::Write as _;

/// Width of every picture, in CSS pixels (readable at 1280 px).
pub const WIDTH: u32 = 1200;
/// Left margin of every time plot (lane and axis labels), so that the same
/// instant sits at the same x in every picture.
pub const LEFT: u32 = 112;
/// Right margin of every time plot.
pub const RIGHT: u32 = 12;
/// Width of the plotting area.
pub const PLOT_W: f64 = (WIDTH - LEFT - RIGHT) as f64;

/// Colour-blind safe colours (Okabe and Ito), each used for one meaning only.
pub mod colour {
    /// An op that happened.
    pub const OK: &str = "#0072B2";
    /// An op that did not happen.
    pub const FAIL: &str = "#D55E00";
    /// An op that may have happened.
    pub const INFO: &str = "#E69F00";
    /// Reads.
    pub const READ: &str = "#0072B2";
    /// Writes.
    pub const WRITE: &str = "#E69F00";
    /// Compare-and-set.
    pub const CAS: &str = "#CC79A7";
    /// Final reads (after the heals).
    pub const FINAL: &str = "#56B4E9";
    /// Anything else (map functions).
    pub const OTHER: &str = "#999999";
    /// Heals.
    pub const HEAL: &str = "#009E73";
    /// The linearizable prefix of an anomaly.
    pub const PREFIX: &str = "#009E73";
    /// A value a workload's checker flags (a bank read's wrong total).
    pub const ANOMALY: &str = "#000000";
}

/// `a < b` and so on, for text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with one decimal, without a trailing `.0`.
pub fn num(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// Round numbers from `lo` to `hi`, about `want` of them (1, 2 or 5 times a
/// power of ten apart).
pub fn ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || want == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / want as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut t = first;
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// A tick label: `12 s`, `1.5 s`, or a plain position.
pub fn tick_label(t: f64, timed: bool) -> String {
    let n = if (t - t.round()).abs() < 1e-9 {
        format!("{}", t.round() as i64)
    } else {
        let s = format!("{t:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if timed { format!("{n} s") } else { n }
}

/// An x axis along `y`: a base line, ticks and their labels, for values
/// `lo..hi` drawn from `x0` to `x0 + w`.
pub fn x_axis(out: &mut String, lo: f64, hi: f64, x0: f64, w: f64, y: f64, timed: bool) {
    let _ = write!(
        out,
        r#"<g class="axis"><line x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
        num(x0),
        num(y),
        num(x0 + w),
        num(y)
    );
    let span = hi - lo;
    for t in ticks(lo, hi, (w / 90.0).max(2.0) as usize) {
        let x = x0 + if span > 0.0 { (t - lo) / span * w } else { 0.0 };
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{x}" y2="{y2}"/><text x="{x}" y="{ty}" text-anchor="middle">{label}</text>"#,
            x = num(x),
            y = num(y),
            y2 = num(y + 4.0),
            ty = num(y + 15.0),
            label = escape(&tick_label(t, timed)),
        );
    }
    out.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers_inside_the_range() {
        assert_eq!(ticks(0.0, 41.0, 8), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(
            ticks(0.0, 41.0, 12),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0]
        );
        assert_eq!(ticks(0.0, 1.0, 4), vec![0.0, 0.5, 1.0]);
        assert_eq!(ticks(3.0, 3.0, 4), vec![3.0]);
        let t = ticks(0.0, 7145.0, 10);
        assert_eq!(t.first(), Some(&0.0));
        assert!(
            t.windows(2).all(|w| (w[1] - w[0] - 1000.0).abs() < 1e-6),
            "{t:?}"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.04), "12");
        assert_eq!(num(12.25), "12.3");
        assert_eq!(tick_label(2.5, true), "2.5 s");
        assert_eq!(tick_label(3000.0, false), "3000");
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
