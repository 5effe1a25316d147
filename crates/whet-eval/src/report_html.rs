//! `report.html`: the eval report as one self-contained page (no scripts, no network) with a chart
//! per metric (each variant's value as a bar with its interval as a whisker, significant
//! differences from the baseline marked), the per-term table of glossary sets, the forgetting
//! check and contamination. Charts are inline SVG written here: a few rectangles and lines, which
//! no plotting crate would make simpler.

use std::fmt::Write;

use crate::report::{label, MetricReport, Report, SetReport};

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;color:#1d2433;max-width:64rem;margin:1rem auto;padding:0 1rem}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d7dbe3;padding:.2rem .5rem;text-align:left}\
th{background:#f0f2f5}.bad{color:#b3261e}.ok{color:#1e7b34}.muted{color:#5b6474}svg{display:block;margin:.3rem 0 1rem}\
code{background:#f0f2f5;padding:0 .2rem}";

/// Bar colours by variant, the baseline first.
const COLOURS: [&str; 6] = ["#8a94a6", "#2457c5", "#c5572a", "#2a9d63", "#8e44ad", "#b58a00"];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Report {
    pub fn html(&self) -> String {
        let mut h = String::new();
        let level = (1.0 - self.alpha) * 100.0;
        let _ = write!(h, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>whet eval report</title><style>{STYLE}</style></head><body>");
        let _ = write!(
            h,
            "<h1>whet eval report</h1><p class=\"muted\">whet {}. Baseline: <b>{}</b>. Bars are values, whiskers {level:.0}% bootstrap intervals; \
             ✱ marks a significant difference from the baseline (paired permutation test, p &lt; {}).</p>",
            esc(&self.whet_version),
            esc(&self.baseline),
            self.alpha
        );
        let _ = write!(h, "<table><tr><th>variant</th><th>model</th><th>adapter</th></tr>");
        for (i, v) in self.variants.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td><span style=\"color:{}\">■</span> {}</td><td><code>{}</code></td><td>{}</td></tr>",
                COLOURS[i % COLOURS.len()],
                esc(&v.name),
                esc(&v.model),
                v.adapter.as_deref().map(|a| format!("<code>{}</code>", esc(a))).unwrap_or_else(|| "none".into())
            );
        }
        h.push_str("</table>");
        for set in &self.sets {
            self.set_section(&mut h, set);
        }
        h.push_str("<h2>Forgetting check</h2>");
        if self.forgetting.sets.is_empty() {
            h.push_str("<p>No eval set is marked <code>general = true</code>, so nothing was checked.</p>");
        } else if self.forgetting.flags.is_empty() {
            let _ = write!(h, "<p class=\"ok\">No variant fell more than {} below the baseline on {}.</p>", self.forgetting.margin, esc(&self.forgetting.sets.join(", ")));
        } else {
            let _ = write!(h, "<table><tr><th>set</th><th>metric</th><th>variant</th><th>drop</th><th>significant</th></tr>");
            for f in &self.forgetting.flags {
                let _ = write!(h, "<tr class=\"bad\"><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>", esc(&f.set), label(f.metric), esc(&f.variant), f.drop, if f.significant { "yes" } else { "no" });
            }
            h.push_str("</table>");
        }
        h.push_str("<h2>Contamination</h2>");
        match &self.contamination {
            None => h.push_str("<p>Not checked: the config gives no <code>training_data</code> or <code>training_run</code>.</p>"),
            Some(c) => {
                let _ = write!(h, "<p>Records sharing a {}-word n-gram with the {} training records:</p><table><tr><th>set</th><th>records</th><th>contaminated</th></tr>", c.ngram, c.training_records);
                for (name, o) in &c.sets {
                    let class = if o.contaminated > 0 { "bad" } else { "ok" };
                    let _ = write!(h, "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{} ({:.1}%)</td></tr>", esc(name), o.records, o.contaminated, 100.0 * o.share);
                }
                h.push_str("</table>");
            }
        }
        h.push_str("</body></html>\n");
        h
    }

    fn set_section(&self, h: &mut String, set: &SetReport) {
        let general = if set.general { ", general (forgetting check)" } else { "" };
        let _ = write!(
            h,
            "<h2>{} <span class=\"muted\">({}, {} records{general})</span></h2><p class=\"muted\"><code>{}</code> SHA-256 {}{}</p>",
            esc(&set.name),
            set.kind,
            set.records,
            esc(&set.path),
            &set.sha256[..12.min(set.sha256.len())],
            set.judge.as_deref().map(|j| format!("; judge: {}", esc(j))).unwrap_or_default()
        );
        for m in &set.metrics {
            chart(h, m);
        }
        if !set.terms.is_empty() {
            h.push_str("<h3>Per term</h3><table><tr><th>line</th><th>term</th>");
            for v in &self.variants {
                let _ = write!(h, "<th>{}</th>", esc(&v.name));
            }
            h.push_str("</tr>");
            for t in &set.terms {
                let _ = write!(h, "<tr><td>{}</td><td>{}</td>", t.line, esc(&t.term));
                for (i, ok) in t.correct.iter().enumerate() {
                    let detail = t.grades.get(i).cloned().unwrap_or_else(|| format!("{:.2}", t.judge_scores[i]));
                    let (class, mark) = if *ok { ("ok", "✓") } else { ("bad", "✗") };
                    let _ = write!(h, "<td class=\"{class}\" title=\"{}\">{mark} {}</td>", esc(&t.answers[i]), esc(&detail));
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
        }
        let _ = write!(h, "<p class=\"muted\">Samples: {}</p>", set.samples.iter().map(|p| format!("<code>{}</code>", esc(p))).collect::<Vec<_>>().join(", "));
    }
}

/// One metric: a row per variant with a bar, its interval and the value.
fn chart(h: &mut String, m: &MetricReport) {
    let (label_w, plot_w, row_h, value_w) = (150.0, 420.0, 26.0, 330.0);
    // Scores in [0, 1] share one scale; anything else (perplexity) is scaled to its largest bound.
    let top = m.results.iter().map(|r| r.upper.max(r.value)).fold(0.0_f64, f64::max);
    // (Sentence BLEU of an exact answer is 1 plus rounding, hence the tolerance.)
    let max = if top <= 1.0 + 1e-9 { 1.0 } else { top * 1.05 };
    let x = |v: f64| label_w + plot_w * (v / max).clamp(0.0, 1.0);
    let height = row_h * m.results.len() as f64 + 24.0;
    let arrow = if m.higher_is_better { "higher is better" } else { "lower is better" };
    let _ = write!(h, "<h3>{} <span class=\"muted\">({arrow})</span></h3>", label(m.metric));
    let _ = write!(h, "<svg width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">", label_w + plot_w + value_w, m.metric);
    for (i, r) in m.results.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        let colour = COLOURS[i % COLOURS.len()];
        let mid = y + row_h / 2.0 - 3.0;
        let star = if r.vs_baseline.as_ref().is_some_and(|c| c.significant) { " ✱" } else { "" };
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{mid}\" y2=\"{mid}\" stroke=\"#1d2433\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#1d2433\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#1d2433\"/><text x=\"{}\" y=\"{}\" font-size=\"13\">{:.3} [{:.3}, {:.3}]{star}{}</text>",
            mid + 4.0,
            esc(&r.variant),
            y + 3.0,
            x(r.value) - label_w,
            row_h - 12.0,
            x(r.lower),
            x(r.upper),
            x(r.lower),
            x(r.lower),
            mid - 5.0,
            mid + 5.0,
            x(r.upper),
            x(r.upper),
            mid - 5.0,
            mid + 5.0,
            label_w + plot_w + 8.0,
            mid + 4.0,
            r.value,
            r.lower,
            r.upper,
            r.corpus.map(|c| format!(" corpus {c:.3}")).unwrap_or_default()
        );
    }
    let axis = 4.0 + row_h * m.results.len() as f64;
    let _ = write!(
        h,
        "<line x1=\"{label_w}\" x2=\"{}\" y1=\"{axis}\" y2=\"{axis}\" stroke=\"#8a94a6\"/><text x=\"{label_w}\" y=\"{}\" font-size=\"11\" fill=\"#5b6474\">0</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#5b6474\" text-anchor=\"end\">{}</text></svg>",
        label_w + plot_w,
        axis + 14.0,
        label_w + plot_w,
        axis + 14.0,
        if max == 1.0 { "1".to_string() } else { format!("{max:.3}") }
    );
}
