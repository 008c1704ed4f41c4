//! The run as a chart (`report.svg`), written by hand: per scenario one bar per backend for
//! throughput (ok/s) and one for latency (p99, with a tick at p50). Both axes are
//! logarithmic: sign-in runs at ~100/s and `me` at ~15,000/s, latencies span 1 ms to
//! seconds, and a linear axis would flatten everything but the largest.

use std::fmt::Write;

use crate::report::{Backend, Scenario, scenario_names};

const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];
const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const LABELS: f64 = 60.0;

/// `&`, `<`, `>`, `"` and `'` as XML entities.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A logarithmic axis over whole decades that covers every value.
struct LogAxis {
    low: f64,
    high: f64,
}

impl LogAxis {
    fn covering(values: impl Iterator<Item = f64>) -> LogAxis {
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
            low = low.min(v);
            high = high.max(v);
        }
        if low > high {
            return LogAxis { low: 0.0, high: 1.0 };
        }
        LogAxis { low: low.log10().floor().min(high.log10().ceil() - 1.0), high: high.log10().ceil() }
    }

    /// Where `v` falls, 0 (bottom) to 1 (top); nothing shown for no value.
    fn fraction(&self, v: f64) -> f64 {
        if v <= 0.0 || !v.is_finite() {
            return 0.0;
        }
        ((v.log10() - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }

    fn decades(&self) -> impl Iterator<Item = f64> {
        (self.low as i32..=self.high as i32).map(|e| 10f64.powi(e))
    }
}

fn fmt_tick(v: f64, unit: &str) -> String {
    match v {
        v if v >= 1000.0 => format!("{:.0}k{unit}", v / 1000.0),
        v if v >= 1.0 => format!("{v:.0}{unit}"),
        v => format!("{v}{unit}"),
    }
}

/// What one panel shows: `value` gives a bar's height, `tick` an optional mark on it.
struct Panel<'a> {
    top: f64,
    title: &'a str,
    unit: &'a str,
    value: fn(&Scenario) -> Option<f64>,
    tick: fn(&Scenario) -> Option<f64>,
}

/// One panel: a bar per (scenario, backend).
fn panel(out: &mut String, p: &Panel<'_>, names: &[String], backends: &[Backend]) {
    let Panel { top, title, unit, value, tick } = *p;
    let axis = LogAxis::covering(backends.iter().flat_map(|b| &b.scenarios).filter_map(value));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = PANEL_HEIGHT - LABELS - 30.0;
    let bottom = top + 30.0 + plot_h;
    let _ = writeln!(out, r#"<text x="{LEFT}" y="{}" class="title">{}</text>"#, top + 16.0, escape(title));
    for d in axis.decades() {
        let y = bottom - axis.fraction(d) * plot_h;
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&fmt_tick(d, unit))
        );
    }
    let group = plot_w / names.len().max(1) as f64;
    let bar = (group * 0.8) / backends.len().max(1) as f64;
    for (i, name) in names.iter().enumerate() {
        let x0 = LEFT + group * i as f64 + group * 0.1;
        for (j, b) in backends.iter().enumerate() {
            let Some(s) = b.scenario(name) else { continue };
            let v = value(s).unwrap_or(0.0);
            let h = axis.fraction(v) * plot_h;
            let x = x0 + bar * j as f64;
            let _ = writeln!(
                out,
                r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {} {}</title></rect>"#,
                bottom - h,
                bar * 0.9,
                COLORS[j % COLORS.len()],
                escape(&format!("{} {}", b.label, name)),
                format_value(v),
                escape(unit.trim())
            );
            if let Some(t) = tick(s) {
                let y = bottom - axis.fraction(t) * plot_h;
                let _ = writeln!(
                    out,
                    r#"<line class="tickmark" x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                    x + bar * 0.9
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="label">{}</text>"#,
            x0 + group * 0.4,
            bottom + 16.0,
            escape(name)
        );
    }
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" class="axis"/>"#,
        WIDTH - RIGHT
    );
}

fn format_value(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// The whole chart: a legend, throughput above, latency below.
pub(crate) fn chart(title: &str, backends: &[Backend]) -> String {
    let names = scenario_names(backends);
    let height = TOP + 2.0 * PANEL_HEIGHT + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<style>.title{{font-weight:bold;font-size:14px}} .tick{{text-anchor:end;fill:#555}} .label{{text-anchor:middle}} .grid{{stroke:#ddd}} .axis{{stroke:#333}} .tickmark{{stroke:#000;stroke-width:2}}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" class="title">{}</text>"#,
        escape(title)
    );
    for (j, b) in backends.iter().enumerate() {
        let x = WIDTH - RIGHT - 150.0 * (backends.len() - j) as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="10" width="14" height="14" fill="{}"/><text x="{:.1}" y="22">{}</text>"#,
            COLORS[j % COLORS.len()],
            x + 20.0,
            escape(&b.label)
        );
    }
    let throughput = Panel {
        top: TOP,
        title: "Throughput (successful requests/s, log scale)",
        unit: "/s",
        value: |s| Some(s.ok_per_second),
        tick: |_| None,
    };
    let latency = Panel {
        top: TOP + PANEL_HEIGHT,
        title: "Latency (bar: p99, black mark: p50; ms, log scale)",
        unit: " ms",
        value: |s| s.latency_ms.p99,
        tick: |s| s.latency_ms.p50,
    };
    panel(&mut out, &throughput, &names, backends);
    panel(&mut out, &latency, &names, backends);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::backend;

    /// A small well-formedness check (no XML crate in the tree): one root, every tag closed
    /// in order, attribute values quoted, no bare `<` or `&` in text.
    fn well_formed(xml: &str) -> Result<(), String> {
        let body = xml.strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#).ok_or("no XML declaration")?;
        let mut open: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(start) = rest.find('<') {
            check_text(&rest[..start])?;
            let end = rest[start..].find('>').ok_or("unclosed tag")? + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let top = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if top != name {
                    return Err(format!("</{name}> closes <{top}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().ok_or("empty tag")?;
            check_attributes(&tag[name.len()..])?;
            if open.is_empty() {
                roots += 1;
            }
            if !self_closing {
                open.push(name.to_string());
            }
        }
        check_text(rest)?;
        if !open.is_empty() {
            return Err(format!("unclosed: {open:?}"));
        }
        if roots != 1 { Err(format!("{roots} root elements")) } else { Ok(()) }
    }

    fn check_text(text: &str) -> Result<(), String> {
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity) {
                return Err(format!("bare & in {text:?}"));
            }
        }
        Ok(())
    }

    fn check_attributes(mut attrs: &str) -> Result<(), String> {
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                return Ok(());
            }
            let eq = attrs.find('=').ok_or(format!("attribute without value: {attrs:?}"))?;
            let value = attrs[eq + 1..].strip_prefix('"').ok_or(format!("unquoted attribute: {attrs:?}"))?;
            let close = value.find('"').ok_or("unterminated attribute")?;
            check_text(&value[..close])?;
            if value[..close].contains('<') {
                return Err("< in an attribute".into());
            }
            attrs = &value[close + 1..];
        }
    }

    #[test]
    fn the_checker_refuses_what_is_not_xml() {
        assert!(well_formed(r#"<?xml version="1.0" encoding="UTF-8"?><a><b/></a>"#).is_ok());
        assert!(well_formed(r#"<?xml version="1.0" encoding="UTF-8"?><a><b></a>"#).is_err());
        assert!(well_formed(r#"<?xml version="1.0" encoding="UTF-8"?><a>x & y</a>"#).is_err());
        assert!(well_formed(r#"<?xml version="1.0" encoding="UTF-8"?><a x=1></a>"#).is_err());
        assert!(well_formed(r#"<?xml version="1.0" encoding="UTF-8"?><a/><b/>"#).is_err());
    }

    #[test]
    fn the_chart_is_xml_with_one_bar_per_scenario_and_backend_in_each_panel() {
        let mut pg = backend("postgres", "PostgreSQL", 9_000.0);
        // Names are escaped, not trusted.
        pg.scenarios[0].name = "users <admin> & co".into();
        let backends = vec![backend("sqlite", "SQLite", 15_000.0), pg];
        let svg = chart("authql \"bench\"", &backends);
        well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        // 3 scenarios in SQLite, 3 in PostgreSQL (one of them differently named): 4 names,
        // 6 bars in each of the two panels.
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 12);
        assert!(svg.contains("users &lt;admin&gt; &amp; co"));
        assert_eq!(svg.matches(r#"class="label""#).count(), 8, "each scenario named under each panel");
        assert_eq!(svg.matches(r#"class="tickmark""#).count(), 6, "a p50 mark on each latency bar");
    }

    #[test]
    fn bars_grow_with_the_value_on_a_log_axis() {
        let axis = LogAxis::covering([90.0, 15_000.0].into_iter());
        assert_eq!((axis.low, axis.high), (1.0, 5.0));
        assert!(axis.fraction(100.0) < axis.fraction(1_000.0));
        assert!((axis.fraction(1_000.0) - 0.5).abs() < 1e-9);
        assert_eq!(axis.fraction(0.0), 0.0);
        assert!((0.0..=1.0).contains(&LogAxis::covering(std::iter::empty()).fraction(5.0)));
    }
}
