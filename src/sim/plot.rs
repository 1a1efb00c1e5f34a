//! SVG picture of a simulation run, so a person can see a failover at a
//! glance instead of reading logs: which primary every host named over
//! time, who claimed the role, where the faults were and how fast the
//! cluster noticed them.
//!
//! Text is emitted as SVG `<text>` elements and sized with plotters' built-in
//! estimate (no `ttf` feature), so drawing needs no font files or system
//! libraries; the viewer picks a font when it displays the picture.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::timeline::{Naming, Timeline};

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters refused to draw an element. Its error type depends on the
    /// drawing backend, so only its message is kept.
    #[error("plot: drawing failed: {0}")]
    Draw(String),
    /// The SVG file could not be written.
    #[error("plot: cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn drawing_error(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Picture size in pixels. Fixed so pictures of different runs compare
/// side by side; a 1,000-host run simply gets rows under a pixel tall.
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;
/// Room on the right for the colour legend.
const LEGEND_WIDTH: u32 = 230;
/// Share of the chart height given to the naming panel.
const TOP_SHARE: f64 = 0.68;
/// Colour legend entries for primaries before "+N more".
const LEGEND_MAX: usize = 12;
/// Up to this many hosts the rows are labelled by name; beyond, by index.
const NAMED_ROWS_MAX: usize = 40;
/// Rows of fault labels above the naming panel before labels may overlap.
const FAULT_LEVELS_MAX: usize = 4;
const FAULT_LEVEL_HEIGHT: i32 = 15;

const FONT: &str = "sans-serif";

/// Categorical palette for primaries (d3 "category10" without its grey,
/// which would read as `Nobody`, plus three light variants).
const PALETTE: [RGBColor; 12] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xae, 0xc7, 0xe8),
    RGBColor(0xff, 0xbb, 0x78),
    RGBColor(0x98, 0xdf, 0x8a),
];
const NOBODY_COLOR: RGBColor = RGBColor(0xc8, 0xc8, 0xc8);
const FROZEN_COLOR: RGBColor = RGBColor(0x4d, 0x4d, 0x4d);
const FAULT_COLOR: RGBColor = RGBColor(0xb0, 0x00, 0x00);

/// What a stretch of a row is painted with. `NotRunning` is left blank
/// (white background), which keeps crashed hosts visually empty and saves
/// one element per stopped interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Blank,
    Nobody,
    Frozen,
    Palette(usize),
}

impl Fill {
    fn color(self) -> Option<RGBColor> {
        match self {
            Fill::Blank => None,
            Fill::Nobody => Some(NOBODY_COLOR),
            Fill::Frozen => Some(FROZEN_COLOR),
            Fill::Palette(i) => Some(PALETTE[i % PALETTE.len()]),
        }
    }
}

/// One pixel-quantised horizontal band of the naming panel: the rows it
/// covers and its runs of colour `(x0, x1, fill)` in pixels.
#[derive(Debug, PartialEq)]
struct Band {
    y0: i32,
    y1: i32,
    runs: Vec<(i32, i32, Fill)>,
}

/// Draws `timeline` as an SVG file at `path`.
///
/// Degenerate runs (no hosts, zero length) still give a valid, mostly empty
/// picture; only drawing or writing the file can fail.
pub fn render_svg(timeline: &Timeline, path: &Path) -> Result<(), PlotError> {
    let svg = render_string(timeline)?;
    std::fs::write(path, svg).map_err(|source| PlotError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Draws `timeline` into an SVG document held in memory.
fn render_string(timeline: &Timeline) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(timeline, &root)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Tick labels without float noise such as `0.30000000000000004`.
fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Shortens labels that would run out of their space.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn host_name(timeline: &Timeline, host: usize) -> String {
    timeline
        .names
        .get(host)
        .map_or_else(|| format!("host {host}"), |n| n.to_string())
}

/// Primaries in order of first appearance (earliest time anyone named
/// them, ties by host index), which is the order they get colours in, so
/// the first primary of every run is the same blue.
fn primaries_by_first_appearance(timeline: &Timeline) -> Vec<usize> {
    let mut first: HashMap<usize, Duration> = HashMap::new();
    for changes in &timeline.naming {
        for &(at, naming) in changes {
            if let Naming::Primary(p) = naming {
                first
                    .entry(p)
                    .and_modify(|t| *t = (*t).min(at))
                    .or_insert(at);
            }
        }
    }
    let mut order: Vec<(Duration, usize)> = first.into_iter().map(|(p, t)| (t, p)).collect();
    order.sort_unstable();
    order.into_iter().map(|(_, p)| p).collect()
}

fn draw<DB: DrawingBackend>(
    timeline: &Timeline,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(drawing_error)?;
    let area = root
        .titled("herd simulation", (FONT, 24))
        .map_err(drawing_error)?;
    let chart_width = WIDTH.saturating_sub(LEGEND_WIDTH);
    let (charts, legend) = area.split_horizontally(chart_width);
    let top_height = (f64::from(charts.dim_in_pixel().1) * TOP_SHARE).round() as u32;
    let (top, bottom) = charts.split_vertically(top_height);

    let end = secs(timeline.end).max(0.0);
    // A zero-length run still needs a non-empty axis to map onto.
    let x_max = if end > 0.0 { end } else { 1.0 };
    let hosts = timeline.names.len().max(timeline.naming.len());

    let order = primaries_by_first_appearance(timeline);
    let colour_of: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &p)| (p, i)).collect();

    let faults = draw_naming_panel(timeline, &top, x_max, hosts, &colour_of)?;
    draw_detection_panel(timeline, &bottom, x_max, &faults.xs)?;
    draw_legend(timeline, &legend, &order, faults.unlabelled)?;
    // Curves are keyed beside their panel, not over it, where a long list
    // would hide the data.
    draw_detection_legend(timeline, &legend, top_height as i32 + 20)?;
    Ok(())
}

/// Builds the naming panel's chart; the label strip height only moves the
/// top edge, so a first build with no strip tells where faults fall on x.
fn naming_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x_max: f64,
    hosts: usize,
    strip: i32,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, PlotError> {
    ChartBuilder::on(area)
        .margin(10)
        .margin_top(10 + strip)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..hosts.max(1) as f64)
        .map_err(drawing_error)
}

/// Where the fault lines were drawn, and how many had no room for a label.
#[derive(Debug, Default)]
struct FaultLines {
    xs: Vec<i32>,
    unlabelled: usize,
}

/// Draws who-named-whom rows, claims and fault lines; returns the faults'
/// x pixels so the detection panel can repeat the lines.
fn draw_naming_panel<DB: DrawingBackend>(
    timeline: &Timeline,
    area: &DrawingArea<DB, Shift>,
    x_max: f64,
    hosts: usize,
    colour_of: &HashMap<usize, usize>,
) -> Result<FaultLines, PlotError> {
    let label_style = TextStyle::from((FONT, 12).into_font()).color(&FAULT_COLOR);

    // Fault labels sit in a strip above the panel, stacked on a few levels
    // so faults close in time don't print over each other.
    let probe = naming_chart(area, x_max, hosts, 0)?;
    let px_of =
        |t: Duration, chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>| {
            chart.backend_coord(&(secs(t).clamp(0.0, x_max), 0.0)).0
        };
    let x_range = probe.plotting_area().get_x_axis_pixel_range();
    let mut placed = Vec::new();
    let mut level_ends: Vec<i32> = Vec::new();
    for fault in &timeline.faults {
        let x = px_of(fault.at, &probe);
        let label = shorten(&fault.label, 40);
        let width = area
            .estimate_text_size(&label, &label_style)
            .map_or(80, |(w, _)| w as i32);
        // Labels near the right edge hang to the left of their line.
        let (x0, anchor_left) = if x + 3 + width > x_range.end {
            (x - 3 - width, false)
        } else {
            (x + 3, true)
        };
        // Out of levels, the label is left off: overlapping labels are
        // unreadable anyway, and the line still marks the fault.
        let level = match level_ends.iter().position(|&e| e + 6 <= x0) {
            Some(l) => Some(l),
            None if level_ends.len() < FAULT_LEVELS_MAX => {
                level_ends.push(i32::MIN);
                Some(level_ends.len() - 1)
            }
            None => None,
        };
        if let Some(e) = level.and_then(|l| level_ends.get_mut(l)) {
            *e = x0 + width;
        }
        placed.push((fault.at, label, level, anchor_left));
    }
    drop(probe);
    let strip = level_ends.len() as i32 * FAULT_LEVEL_HEIGHT;

    let mut chart = naming_chart(area, x_max, hosts, strip)?;
    // Row labels are drawn by hand below: plotters' axis runs bottom-up,
    // and host 0 belongs at the top.
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(0)
        .x_labels(12)
        .x_label_formatter(&|v| fmt_tick(*v))
        .x_desc("virtual time (s)")
        .y_desc("host")
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .draw()
        .map_err(drawing_error)?;

    let x_of = |t: Duration| chart.backend_coord(&(secs(t).clamp(0.0, x_max), 0.0)).0;
    // Top pixel edge of host row `i`; row `hosts` is the bottom edge.
    let y_of = |i: usize| {
        chart
            .backend_coord(&(0.0, hosts.saturating_sub(i) as f64))
            .1
    };
    let (plot_x, plot_y) = (
        chart.plotting_area().get_x_axis_pixel_range(),
        chart.plotting_area().get_y_axis_pixel_range(),
    );

    let bands = naming_bands(timeline, hosts, colour_of, &x_of, &y_of);
    for band in &bands {
        for &(x0, x1, fill) in &band.runs {
            if let Some(colour) = fill.color() {
                root_rect(area, (x0, band.y0), (x1, band.y1), colour.filled())?;
            }
        }
    }

    // Claims: a black bar along the top of the claimer's row for as long
    // as it claimed, and a tick where the claim began. Both have a minimum
    // size so a claim stays visible on sub-pixel rows, where it then spills
    // onto neighbouring rows: few hosts claim, and seeing them matters most.
    for &(from, to, host) in &timeline.claims {
        if host >= hosts {
            continue;
        }
        let (y0, y1) = (y_of(host), y_of(host + 1));
        let height = ((y1 - y0) / 6).clamp(2, 5);
        let (x0, x1) = (x_of(from), x_of(to.max(from)));
        root_rect(
            area,
            (x0, y0),
            (x1.max(x0 + 1), y0 + height),
            BLACK.filled(),
        )?;
        let mid = (y0 + y1) / 2;
        let half = ((y1 - y0) / 2).max(4);
        let (t0, t1) = ((mid - half).max(plot_y.start), (mid + half).min(plot_y.end));
        root_rect(area, (x0, t0), (x0 + 2, t1), BLACK.filled())?;
    }

    draw_row_labels(timeline, area, hosts, plot_x.start, &y_of)?;

    // Fault lines over everything, with their labels in the strip.
    let mut faults = FaultLines::default();
    for (at, label, level, anchor_left) in &placed {
        let x = x_of(*at);
        faults.xs.push(x);
        dashed_vline(area, x, plot_y.start, plot_y.end)?;
        let Some(level) = level else {
            faults.unlabelled += 1;
            continue;
        };
        let label_y = plot_y.start - strip + *level as i32 * FAULT_LEVEL_HEIGHT;
        root_line(
            area,
            (x, label_y + 6),
            (x, plot_y.start),
            FAULT_COLOR.stroke_width(1),
        )?;
        let (tx, h) = if *anchor_left {
            (x + 3, HPos::Left)
        } else {
            (x - 3, HPos::Right)
        };
        let style = label_style.pos(Pos::new(h, VPos::Center));
        area.draw(&Text::new(
            label.as_str(),
            to_area(area, (tx, label_y + 6)),
            style,
        ))
        .map_err(drawing_error)?;
    }
    Ok(faults)
}

/// Turns the naming changes into pixel bands: one per host that owns at
/// least one pixel row (with many hosts, several share a pixel and the
/// first one is shown), runs of equal colour merged, intervals narrower
/// than a pixel dropped, and identical neighbouring bands merged. This is
/// what keeps a 1,000-host picture small.
fn naming_bands(
    timeline: &Timeline,
    hosts: usize,
    colour_of: &HashMap<usize, usize>,
    x_of: &dyn Fn(Duration) -> i32,
    y_of: &dyn Fn(usize) -> i32,
) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    for host in 0..hosts {
        let (y0, y1) = (y_of(host), y_of(host + 1));
        if y1 <= y0 {
            continue;
        }
        let changes = timeline.naming.get(host).map_or(&[][..], Vec::as_slice);
        let mut runs: Vec<(i32, i32, Fill)> = Vec::new();
        for (k, &(at, naming)) in changes.iter().enumerate() {
            let until = changes.get(k + 1).map_or(timeline.end, |&(next, _)| next);
            let (x0, x1) = (x_of(at), x_of(until));
            if x1 <= x0 {
                continue;
            }
            let fill = match naming {
                Naming::NotRunning => Fill::Blank,
                Naming::Frozen => Fill::Frozen,
                Naming::Nobody => Fill::Nobody,
                Naming::Primary(p) => colour_of
                    .get(&p)
                    .map_or(Fill::Nobody, |&c| Fill::Palette(c)),
            };
            match runs.last_mut() {
                Some(last) if last.2 == fill && last.1 >= x0 => last.1 = last.1.max(x1),
                _ => runs.push((x0, x1, fill)),
            }
        }
        match bands.last_mut() {
            Some(last) if last.y1 == y0 && last.runs == runs => last.y1 = y1,
            _ => bands.push(Band { y0, y1, runs }),
        }
    }
    bands
}

/// Host names beside few rows; evenly spaced indexes beside many.
fn draw_row_labels<DB: DrawingBackend>(
    timeline: &Timeline,
    area: &DrawingArea<DB, Shift>,
    hosts: usize,
    plot_left: i32,
    y_of: &dyn Fn(usize) -> i32,
) -> Result<(), PlotError> {
    let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let (step, named) = if hosts <= NAMED_ROWS_MAX {
        (1, true)
    } else {
        (nice_step(hosts / 10), false)
    };
    for host in (0..hosts).step_by(step.max(1)) {
        let y = (y_of(host) + y_of(host + 1)) / 2;
        let text = if named {
            shorten(&host_name(timeline, host), 12)
        } else {
            host.to_string()
        };
        root_line(
            area,
            (plot_left - 4, y),
            (plot_left, y),
            BLACK.stroke_width(1),
        )?;
        area.draw(&Text::new(
            text,
            to_area(area, (plot_left - 6, y)),
            style.clone(),
        ))
        .map_err(drawing_error)?;
    }
    Ok(())
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `n`.
fn nice_step(n: usize) -> usize {
    let mut base = 1usize;
    loop {
        for m in [1, 2, 5] {
            let step = base.saturating_mul(m);
            if step >= n || step == usize::MAX {
                return step;
            }
        }
        base = base.saturating_mul(10);
    }
}

/// Draws the detection curves as step lines under the naming panel, on the
/// same time axis, with the fault lines repeated for alignment.
fn draw_detection_panel<DB: DrawingBackend>(
    timeline: &Timeline,
    area: &DrawingArea<DB, Shift>,
    x_max: f64,
    fault_xs: &[i32],
) -> Result<(), PlotError> {
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..1.05)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(&|v| fmt_tick(*v))
        .y_label_formatter(&|v| fmt_tick(*v))
        .x_desc("virtual time (s)")
        .y_desc("detected")
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()
        .map_err(drawing_error)?;

    let plot_y = chart.plotting_area().get_y_axis_pixel_range();
    for &x in fault_xs {
        dashed_vline(area, x, plot_y.start, plot_y.end)?;
    }

    for (i, curve) in timeline.detection.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut steps: Vec<(f64, f64)> = Vec::with_capacity(curve.points.len() * 2 + 1);
        for &(at, fraction) in &curve.points {
            let t = secs(at).clamp(0.0, x_max);
            let f = if fraction.is_finite() {
                fraction.clamp(0.0, 1.0)
            } else {
                0.0
            };
            if let Some(&(_, prev)) = steps.last() {
                steps.push((t, prev));
            }
            steps.push((t, f));
        }
        // The fraction holds until the run ends.
        if let Some(&(t, f)) = steps.last()
            && t < x_max
        {
            steps.push((x_max, f));
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                steps,
                colour.stroke_width(2),
            )))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// The colour key: primaries by name, then the states.
fn draw_legend<DB: DrawingBackend>(
    timeline: &Timeline,
    area: &DrawingArea<DB, Shift>,
    order: &[usize],
    unlabelled_faults: usize,
) -> Result<(), PlotError> {
    let heading = TextStyle::from((FONT, 14).into_font().style(FontStyle::Bold));
    let text = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (x, mut y) = (12, 20);
    let line = 18;

    area.draw(&Text::new("named primary", (x, y), heading.clone()))
        .map_err(drawing_error)?;
    y += line + 4;
    for (i, &host) in order.iter().take(LEGEND_MAX).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        area.draw(&Rectangle::new(
            [(x, y - 6), (x + 18, y + 6)],
            colour.filled(),
        ))
        .map_err(drawing_error)?;
        area.draw(&Text::new(
            shorten(&host_name(timeline, host), 26),
            (x + 26, y),
            text.clone(),
        ))
        .map_err(drawing_error)?;
        y += line;
    }
    if order.len() > LEGEND_MAX {
        let more = format!("+{} more", order.len() - LEGEND_MAX);
        area.draw(&Text::new(more, (x + 26, y), text.clone()))
            .map_err(drawing_error)?;
        y += line;
    }
    if order.is_empty() {
        area.draw(&Text::new("(none)", (x + 26, y), text.clone()))
            .map_err(drawing_error)?;
        y += line;
    }

    y += 10;
    area.draw(&Text::new("states", (x, y), heading))
        .map_err(drawing_error)?;
    y += line + 4;
    let swatches: [(&str, Option<RGBColor>); 3] = [
        ("names nobody", Some(NOBODY_COLOR)),
        ("frozen", Some(FROZEN_COLOR)),
        ("not running", None),
    ];
    for (label, colour) in swatches {
        let swatch = Rectangle::new(
            [(x, y - 6), (x + 18, y + 6)],
            colour.unwrap_or(WHITE).filled(),
        );
        area.draw(&swatch).map_err(drawing_error)?;
        let outline = Rectangle::new([(x, y - 6), (x + 18, y + 6)], RGBColor(0x99, 0x99, 0x99));
        area.draw(&outline).map_err(drawing_error)?;
        area.draw(&Text::new(label, (x + 26, y), text.clone()))
            .map_err(drawing_error)?;
        y += line;
    }
    area.draw(&Rectangle::new(
        [(x, y - 6), (x + 2, y + 6)],
        BLACK.filled(),
    ))
    .map_err(drawing_error)?;
    area.draw(&Rectangle::new(
        [(x, y - 6), (x + 18, y - 3)],
        BLACK.filled(),
    ))
    .map_err(drawing_error)?;
    area.draw(&Text::new("claimed the role", (x + 26, y), text.clone()))
        .map_err(drawing_error)?;
    y += line;
    let dash = DashedPathElement::new(vec![(x + 9, y - 7), (x + 9, y + 7)], 5, 4, FAULT_COLOR);
    area.draw(&dash).map_err(drawing_error)?;
    area.draw(&Text::new("fault", (x + 26, y), text.clone()))
        .map_err(drawing_error)?;
    if unlabelled_faults > 0 {
        y += line;
        let note = format!("({unlabelled_faults} without a label)");
        area.draw(&Text::new(note, (x + 26, y), text))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// Key for the detection curves, level with the detection panel.
fn draw_detection_legend<DB: DrawingBackend>(
    timeline: &Timeline,
    area: &DrawingArea<DB, Shift>,
    top: i32,
) -> Result<(), PlotError> {
    if timeline.detection.is_empty() {
        return Ok(());
    }
    let heading = TextStyle::from((FONT, 14).into_font().style(FontStyle::Bold));
    let text = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (x, mut y) = (12, top);
    let line = 18;
    area.draw(&Text::new("detection of", (x, y), heading))
        .map_err(drawing_error)?;
    y += line + 4;
    for (i, curve) in timeline.detection.iter().take(LEGEND_MAX).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        area.draw(&PathElement::new(
            vec![(x, y), (x + 18, y)],
            colour.stroke_width(2),
        ))
        .map_err(drawing_error)?;
        area.draw(&Text::new(
            shorten(&curve.label, 26),
            (x + 26, y),
            text.clone(),
        ))
        .map_err(drawing_error)?;
        y += line;
    }
    if timeline.detection.len() > LEGEND_MAX {
        let more = format!("+{} more", timeline.detection.len() - LEGEND_MAX);
        area.draw(&Text::new(more, (x + 26, y), text))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// Chart positions come back in backend pixels; this turns them into the
/// area's own coordinates for drawing on it.
fn to_area<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> (i32, i32) {
    let (bx, by) = area.get_base_pixel();
    (x - bx, y - by)
}

fn root_rect<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> Result<(), PlotError> {
    area.draw(&Rectangle::new([to_area(area, a), to_area(area, b)], style))
        .map_err(drawing_error)
}

fn root_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> Result<(), PlotError> {
    area.draw(&PathElement::new(
        vec![to_area(area, a), to_area(area, b)],
        style,
    ))
    .map_err(drawing_error)
}

/// A fault line, in backend pixels.
fn dashed_vline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    y0: i32,
    y1: i32,
) -> Result<(), PlotError> {
    let points = vec![to_area(area, (x, y0)), to_area(area, (x, y1))];
    area.draw(&DashedPathElement::new(
        points,
        5,
        4,
        FAULT_COLOR.stroke_width(1),
    ))
    .map_err(drawing_error)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::sim::timeline::{DetectionCurve, FaultMark};

    /// A file in the temp dir no other test (or test run) uses.
    fn temp_svg(tag: &str) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("herd-plot-{tag}-{}-{n}.svg", std::process::id()))
    }

    fn render_to_file(timeline: &Timeline, tag: &str) -> (String, u64) {
        let path = temp_svg(tag);
        render_svg(timeline, &path).expect("render");
        let meta = std::fs::metadata(&path).expect("svg file exists");
        let svg = std::fs::read_to_string(&path).expect("svg is text");
        std::fs::remove_file(&path).expect("remove temp svg");
        (svg, meta.len())
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Five hosts: n0 is primary until it crashes at 10s, the others name
    /// nobody for a moment, then n1 after the failover; n4 is frozen for a
    /// while.
    fn failover_timeline() -> Timeline {
        let names: Vec<Arc<str>> = (0..5).map(|i| Arc::from(format!("n{i}"))).collect();
        let mut naming = vec![vec![
            (s(0.0), Naming::NotRunning),
            (s(0.5), Naming::Primary(0)),
            (s(10.0), Naming::NotRunning),
        ]];
        for host in 1..5 {
            let noticed = 12.0 + host as f64 * 0.7;
            let mut changes = vec![
                (s(0.0), Naming::NotRunning),
                (s(0.5 + host as f64 * 0.2), Naming::Nobody),
                (s(1.5 + host as f64 * 0.3), Naming::Primary(0)),
                (s(noticed), Naming::Nobody),
                (s(noticed + 1.0), Naming::Primary(1)),
            ];
            if host == 4 {
                changes.push((s(20.0), Naming::Frozen));
                changes.push((s(24.0), Naming::Primary(1)));
            }
            naming.push(changes);
        }
        let detection = vec![DetectionCurve {
            label: "crash n0".into(),
            fault_at: s(10.0),
            points: vec![
                (s(10.0), 0.0),
                (s(12.7), 0.25),
                (s(13.4), 0.5),
                (s(14.1), 0.75),
                (s(14.8), 1.0),
            ],
        }];
        Timeline {
            end: s(30.0),
            names,
            naming,
            claims: vec![(s(1.0), s(10.0), 0), (s(15.2), s(30.0), 1)],
            faults: vec![
                FaultMark {
                    at: s(10.0),
                    label: "crash n0".into(),
                },
                FaultMark {
                    at: s(20.0),
                    label: "freeze n4".into(),
                },
                FaultMark {
                    at: s(24.0),
                    label: "thaw n4".into(),
                },
            ],
            detection,
        }
    }

    /// 1,000 hosts with some 40 changes each, like a long run with churn.
    fn large_timeline() -> Timeline {
        let hosts = 1000;
        let end = 600.0;
        // A fixed LCG: the data only needs to look irregular, not random.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let names: Vec<Arc<str>> = (0..hosts)
            .map(|i| Arc::from(format!("node-{i:04}")))
            .collect();
        let mut naming = Vec::new();
        for host in 0..hosts {
            let mut t = 0.0;
            let mut changes = vec![(s(0.0), Naming::Primary(0))];
            for epoch in 1..40 {
                t = (epoch as f64 * 15.0 + next() * 3.0).max(t);
                let naming = match (epoch + host) % 7 {
                    0 => Naming::Nobody,
                    1 => Naming::Frozen,
                    2 => Naming::NotRunning,
                    _ => Naming::Primary(epoch % 20),
                };
                changes.push((s(t), naming));
            }
            naming.push(changes);
        }
        let faults = (1..40)
            .map(|i| FaultMark {
                at: s(i as f64 * 15.0),
                label: format!("crash node-{i:04}"),
            })
            .collect();
        let detection = (1..10)
            .map(|i| {
                let at = i as f64 * 60.0;
                DetectionCurve {
                    label: format!("crash node-{i:04}"),
                    fault_at: s(at),
                    points: (0..=hosts)
                        .map(|k| (s(at + k as f64 * 0.01), k as f64 / hosts as f64))
                        .collect(),
                }
            })
            .collect();
        Timeline {
            end: s(end),
            names,
            naming,
            claims: (0..20)
                .map(|i| (s(i as f64 * 30.0), s(i as f64 * 30.0 + 25.0), i))
                .collect(),
            faults,
            detection,
        }
    }

    fn looks_like_svg(svg: &str) -> bool {
        let head = svg.trim_start();
        (head.starts_with("<svg") || head.starts_with("<?xml"))
            && svg.trim_end().ends_with("</svg>")
    }

    /// Text content of the `<text>` elements, trimmed.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>'))
            .filter_map(|(_, rest)| rest.split_once("</text>"))
            .map(|(body, _)| body.trim())
            .collect()
    }

    #[test]
    fn failover_picture_names_hosts_faults_and_axes() {
        let (svg, _) = render_to_file(&failover_timeline(), "failover");
        assert!(
            looks_like_svg(&svg),
            "not an svg: {}",
            &svg[..svg.len().min(200)]
        );
        let texts = texts(&svg);
        for wanted in [
            "herd simulation",
            "virtual time (s)",
            "host",
            "detected",
            "n0",
            "n1",
            "crash n0",
            "freeze n4",
            "thaw n4",
        ] {
            assert!(
                texts.contains(&wanted),
                "missing text {wanted:?} in {texts:?}"
            );
        }
        // n0 (first primary) gets the first palette colour, n1 the second.
        assert!(svg.contains("fill=\"#1F77B4\""));
        assert!(svg.contains("fill=\"#FF7F0E\""));
        assert!(svg.contains("fill=\"#C8C8C8\""), "nobody grey");
        assert!(svg.contains("fill=\"#4D4D4D\""), "frozen grey");
    }

    #[test]
    fn primaries_are_coloured_in_order_of_first_appearance() {
        let mut timeline = failover_timeline();
        // n3 names n2 before anyone names n0.
        timeline.naming[3].insert(1, (s(0.1), Naming::Primary(2)));
        assert_eq!(primaries_by_first_appearance(&timeline), vec![2, 0, 1]);
    }

    #[test]
    fn legend_stops_at_twelve_primaries() {
        let hosts = 20;
        let names: Vec<Arc<str>> = (0..hosts).map(|i| Arc::from(format!("h{i}"))).collect();
        let naming = (0..hosts)
            .map(|i| vec![(s(0.0), Naming::Primary(i))])
            .collect();
        let timeline = Timeline {
            end: s(5.0),
            names,
            naming,
            ..Timeline::default()
        };
        let svg = render_string(&timeline).expect("render");
        let texts = texts(&svg);
        assert!(texts.contains(&"+8 more"), "{texts:?}");
        assert!(texts.contains(&"h11"));
    }

    #[test]
    fn thousand_hosts_render_small() {
        let timeline = large_timeline();
        let intervals: usize = timeline.naming.iter().map(Vec::len).sum();
        assert!(intervals >= 30_000);
        let (svg, size) = render_to_file(&timeline, "large");
        assert!(looks_like_svg(&svg));
        assert!(size < 8 * 1024 * 1024, "svg is {size} bytes");
        assert!(texts(&svg).contains(&"crash node-0001"));
        // Rows are drawn per interval, not per pixel or per host: far fewer
        // rectangles than intervals.
        let rects = svg.matches("<rect").count();
        assert!(rects < intervals, "{rects} rects for {intervals} intervals");
    }

    #[test]
    fn empty_timeline_gives_a_valid_svg() {
        let (svg, _) = render_to_file(&Timeline::default(), "empty");
        assert!(looks_like_svg(&svg));
        assert!(texts(&svg).contains(&"herd simulation"));
    }

    #[test]
    fn odd_input_does_not_panic() {
        let mut timeline = failover_timeline();
        // Names fewer than rows, primaries out of range, times past the end,
        // claims of unknown hosts, out-of-order changes, bad fractions.
        timeline.names.truncate(2);
        timeline.naming[2].push((s(99.0), Naming::Primary(77)));
        timeline.naming[3].push((s(1.0), Naming::Primary(3)));
        timeline.claims.push((s(5.0), s(1.0), 42));
        timeline.claims.push((s(5.0), s(1.0), 2));
        timeline.detection[0].points.push((s(50.0), f64::NAN));
        timeline.faults.push(FaultMark {
            at: s(500.0),
            label: "late <&> fault".into(),
        });
        let svg = render_string(&timeline).expect("render");
        assert!(looks_like_svg(&svg));
        assert!(svg.contains("late &lt;&amp;&gt; fault"));
    }

    #[test]
    fn extreme_run_lengths_render() {
        for end in [Duration::from_nanos(1), Duration::from_secs(1 << 40)] {
            let mut timeline = failover_timeline();
            timeline.end = end;
            let svg = render_string(&timeline).expect("render");
            assert!(looks_like_svg(&svg), "end {end:?}");
        }
        let one = Timeline {
            end: s(1.0),
            names: vec![Arc::from("solo")],
            naming: vec![vec![(s(0.0), Naming::Primary(0))]],
            claims: vec![(s(0.0), s(1.0), 0)],
            ..Timeline::default()
        };
        let svg = render_string(&one).expect("render");
        assert!(texts(&svg).contains(&"solo"));
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let path = std::env::temp_dir()
            .join("herd-plot-no-such-dir")
            .join("x")
            .join("plot.svg");
        let err = render_svg(&failover_timeline(), &path).expect_err("must fail");
        assert!(matches!(err, PlotError::Write { .. }), "{err}");
        assert!(err.to_string().starts_with("plot: cannot write "), "{err}");
    }

    /// Writes the example pictures for a person to look at:
    /// `cargo test --lib sim::plot -- --ignored --nocapture`.
    #[test]
    #[ignore = "writes pictures to the temp dir for viewing"]
    fn write_examples() {
        for (name, timeline) in [
            ("herd-plot-example.svg", failover_timeline()),
            ("herd-plot-example-1000.svg", large_timeline()),
        ] {
            let path = std::env::temp_dir().join(name);
            render_svg(&timeline, &path).expect("render");
            println!("wrote {}", path.display());
        }
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(100), 100);
        assert_eq!(nice_step(101), 200);
    }
}
