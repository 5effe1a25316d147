//! The run directory's `loss.png`: training loss per step and validation loss at each evaluation,
//! drawn from `metrics.jsonl` (so a resumed run's curve covers the whole run).
//!
//! plotters renders into an RGB buffer with its pure-Rust glyph rasteriser and a font embedded
//! from egui's default set, so no system font or fontconfig is needed; `png` encodes the buffer.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;
const FONT: &str = "whet-sans";

/// The loss series of a run: `(step, loss)` for training steps and evaluations.
#[derive(Debug, Default, PartialEq)]
pub struct LossSeries {
    pub train: Vec<(f64, f64)>,
    pub eval: Vec<(f64, f64)>,
}

impl LossSeries {
    /// Reads the series from a `metrics.jsonl`; non-finite (skipped) steps are left out.
    pub fn from_metrics(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let mut series = Self::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
            let Some(step) = record.get("step").and_then(Value::as_f64) else { continue };
            if let Some(loss) = record.get("loss").and_then(Value::as_f64) {
                series.train.push((step, loss));
            } else if let Some(loss) = record.get("eval_loss").and_then(Value::as_f64) {
                series.eval.push((step, loss));
            }
        }
        Ok(series)
    }
}

/// Draws `series` as a PNG at `path` (written atomically).
pub fn write_loss_png(series: &LossSeries, title: &str, path: &Path) -> Result<()> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(series, title, &mut rgb).map_err(|e| Error::Plot(e.to_string()))?;
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| Error::Plot(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| Error::Plot(e.to_string()))?;
    }
    whet_models::save::write_atomic(path, &bytes).map_err(Error::from)
}

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is a constant of a published crate; failing to parse it is a build problem.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::HACK_REGULAR);
    });
}

fn draw(series: &LossSeries, title: &str, rgb: &mut [u8]) -> std::result::Result<(), Box<dyn std::error::Error>> {
    register_font();
    let points = series.train.iter().chain(&series.eval);
    let max_step = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = points.map(|p| p.1).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-3);

    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_step, (lo - pad).max(0.0)..hi + pad)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss (nats/token)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(RGBColor(240, 240, 240))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    chart
        .draw_series(LineSeries::new(series.train.iter().copied(), blue.stroke_width(2)))?
        .label("train")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], blue.stroke_width(2)));
    if !series.eval.is_empty() {
        chart
            .draw_series(LineSeries::new(series.eval.iter().copied(), orange.stroke_width(2)))?
            .label("validation")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], orange.stroke_width(2)));
        chart.draw_series(series.eval.iter().map(|&p| Circle::new(p, 3, orange.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metrics_and_draws_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join("metrics.jsonl");
        std::fs::write(
            &metrics,
            "{\"step\":1,\"loss\":3.0,\"lr\":0.1}\n{\"step\":2,\"loss\":null,\"skipped\":true}\n{\"step\":3,\"loss\":2.0}\n{\"step\":3,\"eval_loss\":2.5,\"eval_perplexity\":12.2}\n",
        )
        .unwrap();
        let series = LossSeries::from_metrics(&metrics).unwrap();
        assert_eq!(series, LossSeries { train: vec![(1.0, 3.0), (3.0, 2.0)], eval: vec![(3.0, 2.5)] });

        let png_path = dir.path().join("loss.png");
        write_loss_png(&series, "run", &png_path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        // Something besides the white background was drawn: the curves and text.
        let blue_pixels = buf.chunks(3).filter(|p| p == &[31, 119, 180]).count();
        assert!(blue_pixels > 100, "the training curve is missing ({blue_pixels} pixels)");
    }
}
