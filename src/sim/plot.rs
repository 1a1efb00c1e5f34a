//! SVG timeline of a simulation run (placeholder until the plot lands).

use std::path::Path;

use super::timeline::Timeline;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("plot: {0}")]
pub struct PlotError(pub String);

/// Draws `timeline` as an SVG file at `path`.
pub fn render_svg(_timeline: &Timeline, _path: &Path) -> Result<(), PlotError> {
    Err(PlotError("not drawn yet".into()))
}
