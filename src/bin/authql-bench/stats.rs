//! Latency percentiles and the markdown table the benchmark prints: the pure parts, unit-tested.

use std::time::Duration;

/// Latencies of one scenario, in microseconds, sorted once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies {
    sorted: Vec<u32>,
}

impl Latencies {
    pub(crate) fn new(mut micros: Vec<u32>) -> Latencies {
        micros.sort_unstable();
        Latencies { sorted: micros }
    }

    /// Nearest-rank percentile (the smallest sample that at least `p` percent of the samples
    /// do not exceed); `None` when there are no samples.
    pub(crate) fn percentile(&self, p: f64) -> Option<u32> {
        if self.sorted.is_empty() {
            return None;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, self.sorted.len()) - 1])
    }
}

/// Microseconds to a duration, for samples that may not fit in a `u32` (over an hour).
pub(crate) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// `1.23 ms`, or `-` when there is nothing to show.
pub(crate) fn fmt_ms(micros: Option<u32>) -> String {
    match micros {
        None => "-".into(),
        Some(us) if us < 10_000 => format!("{:.2} ms", f64::from(us) / 1000.0),
        Some(us) if us < 100_000 => format!("{:.1} ms", f64::from(us) / 1000.0),
        Some(us) => format!("{:.0} ms", f64::from(us) / 1000.0),
    }
}

/// Requests per second with a precision that suits its size.
pub(crate) fn fmt_rate(rate: f64) -> String {
    if rate >= 100.0 { format!("{rate:.0}") } else { format!("{rate:.1}") }
}

/// Kibibytes (as `/proc` reports them) to `12.3 MiB`.
pub(crate) fn fmt_mib(kib: Option<u64>) -> String {
    match kib {
        None => "-".into(),
        Some(k) => format!("{:.1} MiB", k as f64 / 1024.0),
    }
}

/// A GitHub-flavoured markdown table with padded columns (readable as plain text too).
/// Columns after the first are right-aligned: they hold numbers.
pub(crate) fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count().max(3)).collect();
    for row in rows {
        for (i, cell) in row.iter().take(columns).enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| -> String {
        let mut out = String::from("|");
        for (i, cell) in cells.enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().map(|h| h.to_string()));
    out.push_str(&line(
        &mut widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { "-".repeat(*w) } else { format!("{}:", "-".repeat(w.saturating_sub(1))) }),
    ));
    for row in rows {
        let mut cells = (0..columns).map(|i| row.get(i).cloned().unwrap_or_default());
        out.push_str(&line(&mut cells));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latencies::new((1..=100).rev().collect());
        assert_eq!(l.percentile(50.0), Some(50));
        assert_eq!(l.percentile(95.0), Some(95));
        assert_eq!(l.percentile(99.0), Some(99));
        assert_eq!(l.percentile(100.0), Some(100));
        assert_eq!(l.percentile(0.0), Some(1));
    }

    #[test]
    fn percentiles_of_few_samples_are_real_samples() {
        let l = Latencies::new(vec![30, 10, 20]);
        assert_eq!(l.percentile(50.0), Some(20));
        assert_eq!(l.percentile(99.0), Some(30));
        assert_eq!(Latencies::new(vec![7]).percentile(1.0), Some(7));
        assert_eq!(Latencies::default().percentile(50.0), None);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ms(Some(1234)), "1.23 ms");
        assert_eq!(fmt_ms(Some(12_340)), "12.3 ms");
        assert_eq!(fmt_ms(Some(123_400)), "123 ms");
        assert_eq!(fmt_ms(None), "-");
        assert_eq!(fmt_rate(15_234.6), "15235");
        assert_eq!(fmt_rate(12.34), "12.3");
        assert_eq!(fmt_mib(Some(20_480)), "20.0 MiB");
        assert_eq!(micros(Duration::from_millis(3)), 3000);
        assert_eq!(micros(Duration::from_secs(10_000)), u32::MAX);
    }

    #[test]
    fn table_is_aligned_markdown() {
        let t = markdown_table(&["scenario", "req/s"], &[vec!["me".into(), "15000".into()], vec!["sign-in".into()]]);
        assert_eq!(
            t,
            "| scenario | req/s |\n\
             | -------- | ----: |\n\
             | me       | 15000 |\n\
             | sign-in  |       |\n"
        );
    }
}
